"""A short command of the local transport (a scheduler query) cancelled while it runs: its
process is killed and its asyncio transport closed on the run's loop, not left to the
garbage collector, which closed it after the loop ("Event loop is closed", "unclosed
transport", "Loop ... that handles pid ... is closed" at the end of the process: the SSH
transport's tests printed them). A real process in a real Python of its own, whose
warnings are all shown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from assay.transports.base import CommandResult
from assay.transports.local import LocalTransport

PROGRAM = """
import asyncio, gc, os
from assay.transports.local import LocalTransport

async def main():
    # A process of its own session holds the pipes for a while after the kill of the group.
    argv = ["sh", "-c", "setsid sleep 3 & sleep 30"]
    task = asyncio.create_task(LocalTransport().run(argv))
    await asyncio.sleep(0.3)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("cancelled", flush=True)

asyncio.run(main())
gc.collect()
"""


def test_a_cancelled_command_leaves_no_transport_for_after_the_loop() -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-X", "dev", "-c", PROGRAM],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == "cancelled\n", proc
    assert "unclosed transport" not in proc.stderr, proc.stderr
    assert "is closed" not in proc.stderr, proc.stderr  # the loop, when the GC closed it
    assert "is still running" not in proc.stderr, proc.stderr


def test_a_command_past_its_timeout_is_answered_without_waiting_for_what_it_left(
    tmp_path: Path,
) -> None:
    # Its group killed, a process it started in a session of its own held its pipes: the
    # wait for the killed command went on until that one ended.
    pid_file = tmp_path / "left"
    script = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 20' & sleep 20"

    async def query() -> CommandResult:
        return await LocalTransport().run(["sh", "-c", script], 1.0)

    result = asyncio.run(query())
    assert "no answer within 1s" in result.stderr
    left = int(pid_file.read_text())
    try:
        assert _alive(left)  # still there: the answer came before it ended
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(left, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie: PID 1 here may reap late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
