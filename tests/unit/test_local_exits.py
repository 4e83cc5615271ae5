"""How the local transport notices that its job processes exited: every pidfd in one
epoll set that the event loop watches as one reader, for as long as the loop lives."""

from __future__ import annotations

import asyncio
import os
import select
import signal
from pathlib import Path

import pytest

from assay.transports.local import LocalTransport

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "pidfd_open") and hasattr(select, "epoll")), reason="needs Linux pidfds"
)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _start(transport: LocalTransport, tmp_path: Path, i: int, command: str):
    return transport.start(
        ["/bin/sh", "-c", command],
        cwd=tmp_path,
        stdout=tmp_path / f"out-{i}",
        stderr=tmp_path / f"err-{i}",
    )


def test_many_jobs_add_one_reader_to_the_loop_and_each_exit_is_its_own(tmp_path: Path) -> None:
    transport = LocalTransport()
    before = _open_fds()

    async def main() -> tuple[list[int], list[int]]:
        loop = asyncio.get_running_loop()
        readers = len(loop._selector.get_map())  # type: ignore[attr-defined]
        procs = [
            _start(transport, tmp_path, i, f"sleep 0.{i % 3}; echo {i}; exit {i}") for i in range(8)
        ]
        sizes = [len(loop._selector.get_map()) - readers]  # type: ignore[attr-defined]
        codes = list(await asyncio.gather(*(p.wait() for p in procs)))
        # A second round in the same loop reuses the one reader.
        again = _start(transport, tmp_path, 9, "kill -TERM $$")
        sizes.append(len(loop._selector.get_map()) - readers)  # type: ignore[attr-defined]
        codes.append(await again.wait())
        await transport.close()
        sizes.append(len(loop._selector.get_map()) - readers)  # type: ignore[attr-defined]
        return codes, sizes

    codes, sizes = asyncio.run(main())
    assert codes == [*range(8), -signal.SIGTERM]
    assert sizes == [1, 1, 0]
    assert [(tmp_path / f"out-{i}").read_text() for i in range(8)] == [f"{i}\n" for i in range(8)]
    assert transport.live == set()
    assert _open_fds() <= before  # no pidfd, no epoll set left open


def test_a_transport_serves_a_second_event_loop_after_the_first_closed(tmp_path: Path) -> None:
    transport = LocalTransport()

    async def one(i: int) -> int:
        return await _start(transport, tmp_path, i, f"exit {i}").wait()

    assert asyncio.run(one(3)) == 3  # (its loop closed without the transport closing)
    assert asyncio.run(one(4)) == 4


def test_a_wait_cancelled_by_a_time_limit_leaves_the_exit_noticed(tmp_path: Path) -> None:
    transport = LocalTransport()

    async def main() -> int:
        proc = _start(transport, tmp_path, 0, "sleep 0.3; exit 7")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await proc.wait()
        return await proc.wait()

    assert asyncio.run(main()) == 7
