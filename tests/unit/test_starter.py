"""A start handed to a starter thread cannot be cancelled away: its outcome (a child's
pid) must reach the caller, who takes the child in (real threads, a real event loop)."""

from __future__ import annotations

import asyncio
import threading

from assay.transports.starter import Starter


def test_a_task_cancelled_while_it_awaits_a_start_hears_of_it_once_the_start_is_over() -> None:
    started = threading.Event()
    release = threading.Event()

    def start() -> int:  # a start under way, held until the test lets it end
        started.set()
        release.wait(10)
        return 4321

    async def main() -> tuple[bool, bool, bool, int | None]:
        loop = asyncio.get_running_loop()
        done = Starter(threads=1).submit(loop, start)
        heard: list[bool] = []

        async def waiter() -> None:
            try:
                await done
            except asyncio.CancelledError:
                heard.append(done.done())  # the start is over by the time the cancel arrives
                raise

        task = asyncio.create_task(waiter())
        await loop.run_in_executor(None, started.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        early = task.done()  # still waiting for the start: the cancel has not reached it
        release.set()
        try:
            await task
        except asyncio.CancelledError:
            pass
        cancelled = done.cancelled()
        return early, heard == [True], cancelled, None if cancelled else done.result()

    early, over_first, future_cancelled, pid = asyncio.run(main())
    assert not early
    assert over_first
    assert not future_cancelled and pid == 4321
