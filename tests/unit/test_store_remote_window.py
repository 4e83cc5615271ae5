"""The client's window of bytes in flight to an agent: room is taken in turn, given back by
answers (with no task made per answer), and a waiter that leaves keeps none of it."""

from __future__ import annotations

import asyncio

from assay.store.remote.client import _Window


def test_a_request_waits_for_room_and_gets_it_when_an_answer_gives_it_back() -> None:
    async def main() -> list[str]:
        window = _Window(10)
        events: list[str] = []
        await window.take(6)

        async def second() -> None:
            await window.take(6)
            events.append("second in")

        task = asyncio.create_task(second())
        await asyncio.sleep(0)
        assert events == [] and window.used == 6  # no room: it waits
        tasks = len(asyncio.all_tasks())
        window.give(6)
        assert len(asyncio.all_tasks()) == tasks  # giving made no task
        await task
        assert window.used == 6
        window.give(6)
        await window.take(20)  # larger than the window, alone: it goes
        events.append(f"used {window.used}")
        return events

    assert asyncio.run(main()) == ["second in", "used 20"]


def test_a_waiter_cancelled_keeps_no_room_and_does_not_block_the_next() -> None:
    async def main() -> int:
        window = _Window(10)
        await window.take(8)
        leaving = asyncio.create_task(window.take(5))
        staying = asyncio.create_task(window.take(5))
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.sleep(0)
        window.give(8)
        await asyncio.wait_for(staying, 5)
        return window.used

    assert asyncio.run(main()) == 5


def test_a_waiter_cancelled_as_it_was_given_room_gives_it_back() -> None:
    async def main() -> int:
        window = _Window(10)
        await window.take(10)
        waiter = asyncio.create_task(window.take(4))
        await asyncio.sleep(0)
        window.give(10)  # the room is the waiter's now ...
        waiter.cancel()  # ... but it leaves before it runs
        await asyncio.gather(waiter, return_exceptions=True)
        return window.used

    assert asyncio.run(main()) == 0
