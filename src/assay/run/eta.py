"""Time left in a run, from the recorded durations of the cases still to run and in flight.

The cases with a recorded duration are laid out on their partition's slots as the runner
starts them (in flight first, with what they have left; then the waiting ones, highest
priority first), and the estimate is when the last slot would be free. Cases never seen
before fall back to the old rule: each takes the run's elapsed time per finished case.
The first estimate is kept, so the report can say how far off it was.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Mapping, Sequence

import msgspec

RECOMPUTE = 1.0  # seconds: an unchanged run's estimate is only counted down in between


class FirstEstimate(msgspec.Struct, frozen=True):
    """The first time-left estimate of a run: when it was made and what it said."""

    made: float  # seconds after the run started
    left: float  # seconds it said were left
    recorded: bool = False  # made before any case finished: from recorded durations alone

    @property
    def total(self) -> float:
        return self.made + self.left


class Estimator:
    """Follows a run's cases and estimates its time left."""

    def __init__(
        self,
        cases: Sequence[tuple[str, str]],
        recorded: Mapping[str, float],
        slots: Mapping[str, int],
        priority: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``cases``: (case key, pool) pairs, a pool being what the case takes a slot of;
        ``recorded``: expected seconds by case key (history only); ``slots``: per pool."""
        self.clock = clock
        self.started_at = clock()
        self.recorded = dict(recorded)
        self.slots = dict(slots)
        self.pool_of = dict(cases)
        priority = priority or {}
        self.total = len(self.pool_of)
        self.done = 0
        self.running: dict[str, float] = {}
        self.waiting = sorted(self.pool_of, key=lambda c: -priority.get(c, 0.0))
        self._waiting_set = set(self.waiting)
        self._version = 0
        self._cache: tuple[int, float, float | None] | None = None  # version, at, left
        self.first: FirstEstimate | None = None
        self.kept: set[str] = set()  # finished before this run (see case_kept)

    def case_started(self, key: str) -> None:
        if key in self._waiting_set:
            self._waiting_set.discard(key)
        self.running[key] = self.clock()
        self._version += 1

    def case_kept(self, key: str) -> None:
        """A case that finished before this run (a resumed session keeps its result): it is
        not left to run, and this run's time says nothing about it (not counted done)."""
        if key in self.pool_of and (key in self._waiting_set or key in self.running):
            self._waiting_set.discard(key)
            self.running.pop(key, None)
            self.total -= 1
            self.kept.add(key)
            self._version += 1

    def case_finished(self, key: str) -> None:
        if key in self.kept:  # (its result from before this run: see case_kept)
            return
        self._waiting_set.discard(key)
        self.running.pop(key, None)
        self.done += 1
        self._version += 1
        if self.first is None:
            self.note_first()

    def note_first(self) -> None:
        """Keep the first estimate there is (at the start, if history covers the run)."""
        if self.first is None and self.done < self.total:
            now = self.clock()
            left = self.left(now)
            if left is not None:
                self.first = FirstEstimate(now - self.started_at, left, self.done == 0)

    def first_from_history(self, recorded: Mapping[str, float]) -> None:
        """Keep the first estimate this run would have made at its start had ``recorded``
        been known then (a lone case starts without waiting for it), if it makes one."""
        left = [(k, p) for k, p in self.pool_of.items() if k not in self.kept]
        at_start = Estimator(left, recorded, self.slots, clock=lambda: self.started_at)
        at_start.note_first()
        if at_start.first is not None:
            self.first = at_start.first

    def left(self, now: float | None = None) -> float | None:
        """Seconds left, or None when nothing is known yet (no history, nothing done)."""
        now = self.clock() if now is None else now
        cached = self._cache
        if cached is not None and cached[0] == self._version and now - cached[1] < RECOMPUTE:
            return None if cached[2] is None else max(0.0, cached[2] - (now - cached[1]))
        value = self._compute(now)
        self._cache = (self._version, now, value)
        return value

    def _compute(self, now: float) -> float | None:
        unknown = 0
        loads: dict[str, list[float]] = {}
        for key, since in self.running.items():
            expected = self.recorded.get(key)
            if expected is None:
                unknown += 1
                continue
            loads.setdefault(self.pool_of[key], []).append(max(0.0, expected - (now - since)))
        queued: dict[str, list[float]] = {}
        for key in self.waiting:
            if key not in self._waiting_set:
                continue
            expected = self.recorded.get(key)
            if expected is None:
                unknown += 1
            else:
                queued.setdefault(self.pool_of[key], []).append(expected)
        known = 0.0
        for pool in set(loads) | set(queued):
            count = max(1, self.slots.get(pool, 1))
            heap = sorted(loads.get(pool, []))
            heap += [0.0] * max(0, count - len(heap))
            heapq.heapify(heap)
            for expected in queued.get(pool, []):
                heapq.heappush(heap, heapq.heappop(heap) + expected)
            known = max(known, max(heap))
        if not unknown:
            return known
        if not self.done:
            return None
        per_case = (now - self.started_at) / self.done
        return known + unknown * per_case
