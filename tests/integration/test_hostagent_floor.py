"""The host agent's zip started as on a host (the boot program, through a shell) under the
oldest Python it claims: its connector, a daemon, a job and a file read, twice (the first
start compiles its modules, the next runs the code kept then)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from assay.transports import hostagent_pack
from assay.transports.hostagent.protocol import HEADER, frame
from assay.transports.ssh_boot import agent_command
from tests.integration.test_compare_cli import interpreters

PACKAGE = Path(hostagent_pack.__file__).parent / "hostagent"


def _floor() -> tuple[int, int]:
    """The oldest Python the package's docstring promises (``any Python >= 3.N``)."""
    found = re.findall(r"any\s+Python\s+>=\s+(\d+)\.(\d+)", (PACKAGE / "__init__.py").read_text())
    assert len(set(found)) == 1, "the host agent must state its Python floor once"
    return int(found[0][0]), int(found[0][1])


def test_the_floor_is_the_others_and_the_package_is_linted_for_it() -> None:
    assert _floor() == (3, 7)
    assert 'target-version = "py37"' in (PACKAGE / "ruff.toml").read_text()


class _Agent:
    """A connector started by the boot program through ``/bin/sh``, as sshd starts it."""

    def __init__(self, python: str, program: str, name: str, env: dict[str, str]) -> None:
        command = agent_command(python, program, hostagent_pack.agent_digest(), ["connect"])
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", f"{command} {name} 30"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.banner = self.stdout.readline()
        self.count = 0

    def read(self) -> dict[str, Any]:
        header = self.stdout.read(HEADER.size)
        assert len(header) == HEADER.size, "the channel ended"
        (size,) = HEADER.unpack(header)
        message: dict[str, Any] = json.loads(self.stdout.read(size))
        return message

    def ask(self, op: str, **fields: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answer, and the events that came before it."""
        self.count += 1
        rid = f"r{self.count}"
        self.stdin.write(frame({"rid": rid, "op": op, **fields}))
        self.stdin.flush()
        events = []
        while True:
            message = self.read()
            if message.get("rid") == rid:
                return message, events
            events.append(message)

    def close(self) -> tuple[int, bytes]:
        self.stdin.close()
        code = self.proc.wait(60)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


def _session(python: str, program: str, name: str, env: dict[str, str], work: Path) -> str:
    """One session's work through the agent; the Python its daemon runs on."""
    agent = _Agent(python, program, name, env)
    try:
        assert agent.banner.startswith(b"ASSAY-AGENT-2 "), agent.banner
        hello, _ = agent.ask("hello", runner="floor", roots=[str(work)])
        assert hello["ok"] and hello["protocol"] == 2, hello
        case = work / name
        spawned, before = agent.ask(
            "spawn",
            job="j1",
            argv=["/bin/sh", "-c", "echo made here > made.txt; exit 3"],
            cwd=str(case),
            stdout=str(case / "out"),
            stderr=str(case / "err"),
            env={},
            limit=60,
            prepare={"dir": str(case), "fresh": True, "files": []},
        )
        assert spawned["ok"], spawned
        ended = next((e for e in before if e.get("event") == "exit"), None)
        while ended is None or ended.get("event") != "exit":  # it may end before its answer
            ended = agent.read()
        assert (ended["job"], ended["status"]) == ("j1", 3)
        read, _ = agent.ask("read", path=str(case / "made.txt"))
        assert base64.b64decode(read["data"]) == b"made here\n"
        removed, _ = agent.ask("remove", path=str(case))
        assert removed["ok"] and not case.exists(), removed
        shut, _ = agent.ask("shutdown")
        assert shut["ok"] and shut["stats"]["requests"]["spawn"] == 1, shut
    finally:
        code, said = agent.close()
    assert code == 0 and b"Traceback" not in said, said
    return str(hello["python"])


def test_the_agent_serves_a_session_on_the_oldest_python_it_claims(tmp_path: Path) -> None:
    floor = _floor()
    python = interpreters().get(floor)
    if python is None:
        message = f"no Python {floor[0]}.{floor[1]} here (pyenv install {floor[0]}.{floor[1]})"
        if os.environ.get("ASSAY_REQUIRE_FLOOR_PYTHON") == "1":
            pytest.fail(f"ASSAY_REQUIRE_FLOOR_PYTHON=1 but {message}")
        pytest.skip(message)
    (tmp_path / "bin").mkdir()
    (tmp_path / "tmp").mkdir()
    program = hostagent_pack.write_agent(str(tmp_path / "bin" / "hostagent-x.pyz"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    work = tmp_path / "work"
    work.mkdir()
    first = _session(python, program, "first", env, work)
    kept = list((tmp_path / "cache" / "assay-agent").glob("hostagent-*.bin"))
    assert len(kept) == 1  # its modules, compiled at the first start
    since = kept[0].stat().st_mtime_ns
    again = _session(python, program, "again", env, work)
    assert kept[0].stat().st_mtime_ns == since  # the next start ran them, not a compile
    assert first == again and tuple(map(int, first.split(".")[:2])) == floor
