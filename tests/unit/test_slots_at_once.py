"""A slot a case gives back for good goes to the first waiter at once (no turn of the
event loop in between); one given back by a case that asks again (a retry) waits for the
next turn, when everyone who asks meanwhile competes."""

from __future__ import annotations

import asyncio

from assay.run.priority import PrioritySlots


async def _held_with_waiters(slots: PrioritySlots) -> tuple[asyncio.Task[None], ...]:
    await slots.acquire(5)
    low = asyncio.create_task(slots.acquire(1))
    high = asyncio.create_task(slots.acquire(9))
    await asyncio.sleep(0)  # both queued
    await asyncio.sleep(0)  # (the hand-out turn their asks scheduled: nothing free)
    return low, high


def test_a_slot_given_back_at_once_is_the_highest_waiters_now():
    async def main() -> tuple[int, bool, bool]:
        slots = PrioritySlots(1)
        low, high = await _held_with_waiters(slots)
        slots.release(at_once=True)
        free_now = slots.free  # taken already: no turn of the loop in between
        await asyncio.sleep(0)
        result = (free_now, high.done(), low.done())
        slots.release(at_once=True)
        await asyncio.gather(low, high)
        return result

    assert asyncio.run(main()) == (0, True, False)


def test_a_slot_given_back_to_ask_again_is_handed_out_next_turn_to_the_best_asker():
    async def main() -> tuple[int, bool]:
        slots = PrioritySlots(1)
        low, high = await _held_with_waiters(slots)
        high.cancel()  # (only low waits now)
        await asyncio.gather(high, return_exceptions=True)
        # A retry: the slot given back, and asked for again in the same step, with more
        # work than low has: the hand-out of the next turn serves the retry first.
        slots.release()
        free_now = slots.free
        await slots.acquire(7)
        retry_first = not low.done()
        slots.release(at_once=True)
        await low
        return free_now, retry_first

    assert asyncio.run(main()) == (1, True)
