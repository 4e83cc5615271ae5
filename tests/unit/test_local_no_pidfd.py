"""Where the kernel has no pidfds (before Linux 5.3: RHEL 8's 4.18 among them), each local
job's end is waited for by a thread of its own: with the event loop's executor, whose pool
has min(32, CPUs + 4) threads, the end of a job started after that many long ones went
unnoticed until one of those ended. No kernel here lacks pidfd_open, so the test fakes its
ENOSYS (``fake_kernel_without_pidfd``); the processes are real."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from assay.transports.local import LocalTransport
from tests.unit.local_jobs import spawn_shell

LONG_JOBS = 34  # more than the default executor's largest pool (32 threads)


def fake_kernel_without_pidfd(pid: int, flags: int = 0) -> int:
    raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))


def test_without_pidfds_a_short_job_is_noticed_while_many_long_ones_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "pidfd_open", fake_kernel_without_pidfd, raising=False)
    transport = LocalTransport()
    transport.fds._room = 1000

    async def main() -> tuple[int, int, list[int]]:
        long = [
            await spawn_shell(transport, tmp_path, i, "exec sleep 600") for i in range(LONG_JOBS)
        ]
        short = await spawn_shell(transport, tmp_path, LONG_JOBS, "echo short")
        held = transport.fds.held
        try:
            # (a hang guard, not a timing: the old code noticed it only after 600 s)
            code = await asyncio.wait_for(short.wait(), 120)
            still = [p.pid for p in long if p.returncode is None]
        finally:
            for proc in long:
                os.killpg(proc.pid, 9)
            await asyncio.gather(*(p.wait() for p in long))
            for proc in [*long, short]:
                await transport.end(proc)
        return code, held, still

    code, held, still = asyncio.run(main())
    assert code == 0
    assert held == 0  # no pidfd was held: each job had its own waiting thread
    assert len(still) == LONG_JOBS  # its end was noticed while all the long ones ran
    assert (tmp_path / f"out-{LONG_JOBS}").read_text() == "short\n"
