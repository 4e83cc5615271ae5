"""How the agent moves bytes: its pipes, its reading ahead, its answers (a real agent
process, spoken to frame by frame)."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

import pytest

from assay.store.agent import wire
from assay.store.agent.bundle import BOOTSTRAP, shipped_bytes

_F_GETPIPE_SZ = 1032


def _start(root: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", BOOTSTRAP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(shipped_bytes())
    return proc


def _ask(proc: subprocess.Popen[bytes], header: dict[str, object]) -> dict[str, object]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(wire.encode(header))
    proc.stdin.flush()
    frame = wire.read_frame(proc.stdout)  # type: ignore[arg-type]
    assert frame is not None
    return frame[0]


def _max_pipe() -> int:
    return int(Path("/proc/sys/fs/pipe-max-size").read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pipe sizes are Linux's")
def test_the_agent_widens_its_pipes_to_a_mebibyte(tmp_path):
    if _max_pipe() < 2**20:
        pytest.skip("this kernel caps pipes below 1 MiB")
    proc = _start(tmp_path)
    try:
        answer = _ask(proc, {"id": 1, "op": "hello", "root": str(tmp_path / "store")})
        assert answer["ok"], answer
        assert proc.stdin is not None and proc.stdout is not None
        # The same pipes seen from this end: the agent set their size on its end.
        assert fcntl.fcntl(proc.stdin.fileno(), _F_GETPIPE_SZ) == 2**20
        assert fcntl.fcntl(proc.stdout.fileno(), _F_GETPIPE_SZ) == 2**20
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
