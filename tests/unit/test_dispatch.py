"""The runner's dispatch: a case gets its task only once it has its slots, the highest
priority first across partitions, within each partition's slots and the shared caps."""

from __future__ import annotations

import asyncio

from assay.run.dispatch import Dispatch


class Begun:
    """What the dispatch started, in order (the runner would make each one's task)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, case: str) -> None:
        self.names.append(case)


def test_cases_ready_at_once_start_highest_priority_first_within_the_slots():
    async def main() -> tuple[list[str], list[str]]:
        begun = Begun()
        dispatch = Dispatch({"p": 2}, [], begun)
        for name, priority in [("low", 1.0), ("high", 9.0), ("mid", 5.0), ("mid2", 5.0)]:
            dispatch.ready("p", name, priority)
        assert begun.names == []  # (handed out next turn: all that are ready compete)
        await asyncio.sleep(0)
        first = list(begun.names)
        dispatch.release("p", at_once=True)  # high ended: its slot goes now
        return first, begun.names

    first, then = asyncio.run(main())
    assert first == ["high", "mid"]
    assert then == ["high", "mid", "mid2"]  # equal priorities: first come


def test_a_partition_s_slots_and_the_shared_cap_both_hold():
    async def main() -> list[str]:
        begun = Begun()
        # Two partitions of 2 slots, and --max-cases 3 across them.
        dispatch = Dispatch({"a": 2, "b": 2}, [3], begun)
        for i, priority in enumerate([8.0, 7.0, 6.0]):
            dispatch.ready("a", f"a{i}", priority)
        for i, priority in enumerate([5.0, 4.0]):
            dispatch.ready("b", f"b{i}", priority)
        await asyncio.sleep(0)
        assert begun.names == ["a0", "a1", "b0"]  # a2 waits for a's slots, b1 for the cap
        dispatch.release("b", at_once=True)  # b0 ended: a2 still waits for a, b1 goes
        assert begun.names == ["a0", "a1", "b0", "b1"]
        dispatch.release("a", at_once=True)
        return begun.names

    assert asyncio.run(main()) == ["a0", "a1", "b0", "b1", "a2"]


def test_the_best_case_across_partitions_takes_a_freed_shared_slot():
    async def main() -> list[str]:
        begun = Begun()
        dispatch = Dispatch({"a": 4, "b": 4}, [1], begun)  # (--serial)
        dispatch.ready("a", "a-low", 1.0)
        dispatch.ready("b", "b-high", 9.0)
        dispatch.ready("a", "a-mid", 5.0)
        await asyncio.sleep(0)
        for _ in range(2):
            dispatch.release(begun.names[-1][0], at_once=True)
        return begun.names

    assert asyncio.run(main()) == ["b-high", "a-mid", "a-low"]


def test_a_retry_waits_for_its_slot_and_competes_with_the_cases_that_wait():
    async def main() -> tuple[list[str], bool]:
        begun = Begun()
        dispatch = Dispatch({"p": 1}, [], begun)
        dispatch.ready("p", "first", 9.0)
        dispatch.ready("p", "waiting", 1.0)
        await asyncio.sleep(0)
        assert begun.names == ["first"]

        # first failed and tries again: its slot back, asked for again in the same step,
        # with more work than the waiting case: the hand-out of the next turn serves it.
        async def again() -> None:
            dispatch.release("p")
            await dispatch.again("p", "first", 9.0)

        retry = asyncio.create_task(again())
        for _ in range(3):  # (the retry's step, the hand-out's turn, the retry woken)
            await asyncio.sleep(0)
        got_it = retry.done() and begun.names == ["first"]
        dispatch.release("p", at_once=True)
        await retry
        return begun.names, got_it

    assert asyncio.run(main()) == (["first", "waiting"], True)


def test_a_retry_cancelled_while_it_waits_keeps_no_slot():
    async def main() -> tuple[list[str], int]:
        begun = Begun()
        dispatch = Dispatch({"p": 1}, [], begun)
        dispatch.ready("p", "a", 5.0)
        await asyncio.sleep(0)
        retry = asyncio.create_task(dispatch.again("p", "b", 9.0))
        await asyncio.sleep(0)
        dispatch.ready("p", "c", 1.0)
        retry.cancel()
        await asyncio.gather(retry, return_exceptions=True)
        waiting = dispatch.waiting()
        dispatch.release("p", at_once=True)  # a ended: c, not the cancelled retry
        return begun.names, waiting

    assert asyncio.run(main()) == (["a", "c"], 1)


def test_nothing_starts_once_closed():
    async def main() -> list[str]:
        begun = Begun()
        dispatch = Dispatch({"p": 1}, [], begun)
        dispatch.ready("p", "a", 1.0)
        dispatch.close()
        await asyncio.sleep(0)
        return begun.names

    assert asyncio.run(main()) == []


class FaultInjectingEvents:
    """A display whose case_started raises: a bug of assay's own, mid-run."""

    shows_stages = False

    def __init__(self) -> None:
        self.started: list[str] = []

    def case_started(self, case: object, attempt: int) -> None:
        self.started.append(case.key)  # type: ignore[attr-defined]
        raise RuntimeError("display bug")


def test_a_bug_in_a_case_s_task_ends_the_run_with_its_exception():
    # (Guards the runner's own handling, as asyncio.gather did: passes on the code before.)
    from types import SimpleNamespace

    import pytest

    from assay.run.runner import Runner, RunOptions

    part = SimpleNamespace(full_name="s:p", max_jobs=1)
    cases = [
        SimpleNamespace(
            key=f"c{i}", name=f"c{i}", partition=part, deps=[], dependents=[], after=None, skip=None
        )
        for i in range(3)
    ]

    async def shutdown(*_: object) -> None:
        return None

    place = SimpleNamespace(
        scheduler=SimpleNamespace(case_slots=lambda n: n, shutdown=shutdown, runs_here=False)
    )
    ctx = SimpleNamespace(places={"s:p": place}, transports=[], grace=0.0)
    events = FaultInjectingEvents()
    runner = Runner(cases, ctx, RunOptions(), events)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="display bug"):
        asyncio.run(runner.run())
    assert events.started[0] == "c0"


def test_a_late_arrival_with_more_work_goes_before_earlier_waiters():
    # (what PrioritySlots, before the dispatch, was held to)
    async def main() -> list[str]:
        begun = Begun()
        dispatch = Dispatch({"p": 1}, [], begun)
        dispatch.ready("p", "holder", 100.0)
        await asyncio.sleep(0)
        dispatch.ready("p", "short", 1.0)
        await asyncio.sleep(0)
        dispatch.ready("p", "long", 9.0)  # ready later, while the slot is held
        await asyncio.sleep(0)
        dispatch.release("p", at_once=True)
        dispatch.release("p", at_once=True)
        return begun.names

    assert asyncio.run(main()) == ["holder", "long", "short"]
