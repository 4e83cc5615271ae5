"""The host agent's start: its zip checked, its modules compiled once per host and kept."""

from __future__ import annotations

import hashlib
import marshal
import os
import shlex
import subprocess
import sys
from pathlib import Path

from assay.transports import hostagent_pack
from assay.transports.ssh_boot import BOOT, agent_command


def _setup(tmp_path: Path) -> tuple[Path, str, dict[str, str]]:
    sandbox = tmp_path / "sandbox"
    (sandbox / "bin").mkdir(parents=True)
    program = Path(hostagent_pack.write_agent(str(sandbox / "bin" / "hostagent-x.pyz")))
    digest = hashlib.sha256(program.read_bytes()).hexdigest()[:16]
    env = dict(os.environ, XDG_CACHE_HOME=str(sandbox / "cache"), HOME=str(sandbox))
    return program, digest, env


def _start(program: Path, digest: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    # Through a shell, as sshd runs it; stdin at its end: the connector waits for no name.
    command = agent_command(sys.executable, str(program), digest, ["connect", "-", "60"])
    return subprocess.run(
        ["/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=60,
    )


def _cached(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_CACHE_HOME"]) / "assay-agent").glob("hostagent-*.bin"))


def test_the_agent_starts_and_its_compiled_code_is_kept_for_the_next_start(
    tmp_path: Path,
) -> None:
    program, digest, env = _setup(tmp_path)
    first = _start(program, digest, env)
    assert (first.returncode, first.stdout, first.stderr) == (0, b"ASSAY-AGENT-WAITING\n", b"")
    (kept,) = _cached(env)
    assert kept.stat().st_mode & 0o077 == 0
    # The next start runs what is kept: a stand-in, with a good checksum, says so.
    stand_in = marshal.dumps(
        {"__main__": compile("import sys; sys.stdout.write('FROM THE CACHE')", "x", "exec")}
    )
    kept.write_bytes(hashlib.sha256(stand_in).digest() + stand_in)
    assert _start(program, digest, env).stdout == b"FROM THE CACHE"


def test_a_damaged_kept_copy_is_compiled_again(tmp_path: Path) -> None:
    program, digest, env = _setup(tmp_path)
    _start(program, digest, env)
    (kept,) = _cached(env)
    data = bytearray(kept.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte: its checksum no longer matches
    kept.write_bytes(bytes(data))
    again = _start(program, digest, env)
    assert (again.returncode, again.stdout) == (0, b"ASSAY-AGENT-WAITING\n")
    assert kept.read_bytes()[:32] == hashlib.sha256(kept.read_bytes()[32:]).digest()


def test_a_folder_others_may_write_is_neither_used_nor_written(tmp_path: Path) -> None:
    program, digest, env = _setup(tmp_path)
    folder = Path(env["XDG_CACHE_HOME"]) / "assay-agent"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    planted = marshal.dumps(
        {"__main__": compile("import sys; sys.stdout.write('PLANTED')", "x", "exec")}
    )
    _start(program, digest, env)
    assert _cached(env) == []  # nothing written where others may write
    # A planted file under every name it could look for is never run.
    key = hashlib.sha256(_magic() + hashlib.sha256(program.read_bytes()).digest()).hexdigest()[:32]
    (folder / f"hostagent-{key}.bin").write_bytes(hashlib.sha256(planted).digest() + planted)
    assert _start(program, digest, env).stdout == b"ASSAY-AGENT-WAITING\n"


def _magic() -> bytes:
    from importlib.util import MAGIC_NUMBER

    return MAGIC_NUMBER


def test_a_copy_that_is_not_the_one_assay_sent_is_refused(tmp_path: Path) -> None:
    program, digest, env = _setup(tmp_path)
    with program.open("ab") as fh:
        fh.write(b"\n# changed on the host\n")
    refused = _start(program, digest, env)
    assert refused.returncode == 3 and refused.stdout == b""
    assert refused.stderr == b"assay agent: this copy is not the one assay sent\n"
    missing = _start(program.with_name("gone.pyz"), digest, env)
    assert missing.returncode == 2 and b"Traceback" not in missing.stderr
    assert b"cannot read" in missing.stderr and b"gone.pyz" in missing.stderr
    assert _cached(env) == []


def test_the_command_is_one_line_without_csh_history_marks() -> None:
    # A csh login shell takes a newline in quotes as an error and expands "!".
    command = agent_command("python3", "bin/hostagent-x.py", "abc", ["connect", "-", "60"])
    assert "\n" not in command and "!" not in command
    assert shlex.split(command)[:5] == ["python3", "-I", "-S", "-c", BOOT]
