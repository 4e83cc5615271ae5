"""The real OpenSSH server of scripts/sshd-ci (scripts/test-all brings it up and exports its
settings as ASSAY_TEST_SSH_*): the "remote host" is this machine reached over SSH as the
separate account ``assay-remote``, with its own home.

Without a server these tests are skipped, unless ``ASSAY_REQUIRE_SSH=1`` (CI) makes that an
error. Each test gets a work directory of its own in the remote home, removed afterwards.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assay.config import Ssh


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    key: str
    known_hosts: str
    config: str
    log: str
    home: Path

    def table(self, workdir: str, **extra: object) -> str:
        """The partition's ``ssh = {...}`` TOML table with explicit settings."""
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "identity": self.key,
            "known_hosts": self.known_hosts,
            "workdir": workdir,
            "detach_timeout": "30s",
            **extra,
        }
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in values.items()) + " }"

    def settings(self, workdir: str, **extra: object) -> Ssh:
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "identity": self.key,
            "known_hosts": self.known_hosts,
            "workdir": workdir,
            "detach_timeout": 30.0,
            **extra,
        }
        return Ssh(**values)  # type: ignore[arg-type]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _server(prefix: str = "ASSAY_TEST_SSH_") -> SshServer | str:
    env = os.environ
    names = ("HOST", "PORT", "USER", "KEY", "KNOWN_HOSTS", "CONFIG", "LOG")
    missing = [n for n in names if not env.get(f"{prefix}{n}")]
    if missing:
        return (
            f"no SSH server configured ({prefix}{missing[0]} is not set: scripts/sshd-ci up; "
            'eval "$(scripts/sshd-ci env)")'
        )
    host, port = env[f"{prefix}HOST"], int(env[f"{prefix}PORT"])
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        return f"the SSH server {host}:{port} does not answer: {exc.strerror}"
    user = env[f"{prefix}USER"]
    return SshServer(
        host,
        port,
        user,
        env[f"{prefix}KEY"],
        env[f"{prefix}KNOWN_HOSTS"],
        env[f"{prefix}CONFIG"],
        env[f"{prefix}LOG"],
        Path(pwd.getpwnam(user).pw_dir),
    )


def _required(server: SshServer | str) -> SshServer:
    if isinstance(server, str):
        if os.environ.get("ASSAY_REQUIRE_SSH") == "1":
            pytest.fail(f"ASSAY_REQUIRE_SSH=1 but {server}")
        pytest.skip(server)
    return server


@pytest.fixture(scope="session")
def sshd() -> SshServer:
    return _required(_server())


@pytest.fixture(scope="session")
def sshd_root() -> SshServer:
    """scripts/sshd-ci's second server, which lets in root (by key, from 127.0.0.1 only)."""
    return _required(_server("ASSAY_TEST_SSH_ROOT_"))


def _workdir(server: SshServer) -> Iterator[str]:
    name = f".assay-test-{secrets.token_hex(6)}"
    yield name
    path = server.home / name
    # Only ever a directory of this fixture's naming, directly in the remote home.
    assert path.parent == server.home and path.name.startswith(".assay-test-")
    if path.is_dir() and not path.is_symlink():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workdir(sshd: SshServer) -> Iterator[str]:
    """A work directory of this test's own in the remote home (relative to it)."""
    yield from _workdir(sshd)


@pytest.fixture
def root_workdir(sshd_root: SshServer) -> Iterator[str]:
    """The same in root's home, on the server for root."""
    yield from _workdir(sshd_root)


def processes_below(sshd: SshServer, folder: Path, agent: bool = True) -> list[str]:
    """The remote account's live processes that run in ``folder`` (jobs) or, with ``agent``,
    name it (assay's agent), as ``pid: command`` lines."""
    found = []
    uid = pwd.getpwnam(sshd.user).pw_uid
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (agent and str(folder) in cmdline) or cwd == str(folder) or cwd.startswith(f"{folder}/"):
            found.append(f"{entry}: {cmdline.strip()}")
    return found


def write_config(
    directory: Path, sshd: SshServer, workdir: str, extra: str = "", **ssh: object
) -> None:
    """An assay.toml with a local partition and an SSH partition ``remote``."""
    (directory / "assay.toml").write_text(
        textwrap.dedent(
            f"""\
            [systems.ci]
            [systems.ci.partitions.local]
            [systems.ci.partitions.remote]
            transport = "ssh"
            max_jobs = 20
            ssh = {sshd.table(workdir, **ssh)}
            """
        )
        + extra
    )


@pytest.fixture
def remote_write(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path]
) -> Callable[[str, str], Path]:
    """``write`` (see tests/conftest.py) in a project whose assay.toml (``write_config``)
    has the SSH partition ``remote`` on ``sshd``, working in ``workdir``."""
    write_config(tmp_path, sshd, workdir)
    return write
