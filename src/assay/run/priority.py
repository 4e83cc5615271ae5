"""Longest expected work first: what each case is expected to take, and slots that honour it.

A case's expected duration is the median of its recent passes in the results database,
else its declared time limit, else unknown (0). Its priority adds the longest chain of
cases that wait for it (a dependency of long work starts early), and the runner's slots
are handed out highest priority first: longest-processing-time-first list scheduling,
which finishes within 4/3 of the best possible schedule for independent cases.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec
from msgspec import field

from assay.durations import parse_duration

if TYPE_CHECKING:
    from assay.plan import Case
    from assay.results.db import Expected


def case_series(case: Case) -> str:
    """The results database's name for a planned case (see :mod:`assay.results.db`)."""
    return plan_series([case])[0]


# The fields a case's node count is computed from (see assay.plan.nodes_needed).
_NODE_FIELDS = ("nodes", "tasks", "tasks_per_node")


def plan_series(cases: Sequence[Case]) -> list[str]:
    """:func:`case_series` of each case, the node count found once per test (and its
    ``-S`` settings) where no variant can differ: 6.7 us a case before, 3 of them its node
    count's three field lookups, on the way to the first case of a run that reads its
    history (2,000 cases: 13 ms)."""
    from assay.results.db.records import series_of
    from assay.run.describe import planned_nodes

    nodes: dict[tuple[int, int], int | None] = {}
    out = []
    for case in cases:
        test = case.test
        definition = test._assay
        names = definition.space.names
        if definition.variant_fields is not None or any(f in names for f in _NODE_FIELDS):
            count = planned_nodes(case)
        else:
            key = (id(test), id(case.overrides))
            if key not in nodes:
                nodes[key] = planned_nodes(case)
            count = nodes[key]
        partition = case.partition
        out.append(
            series_of(
                test.__name__,
                dict(zip(names, case.variant.labels, strict=True)),
                partition.system,
                partition.name,
                case.environment,
                count,
            )
        )
    return out


def declared_limit(case: Case) -> float | None:
    """The run time limit a case declares (or its partition gives), in seconds."""
    try:
        limit = case.field("time_limit")
        return parse_duration(limit) if limit is not None else case.partition.time_limit
    except (ValueError, TypeError, AttributeError):
        return None


def _declared(case: Case, limits: dict[tuple[int, str], float | None]) -> float | None:
    """:func:`declared_limit`, found once per test and partition (``limits``) where no
    variant can differ: ``time_limit`` is neither a parameter nor a field that
    ``@variant_fields`` may give (``-S`` settings are the test's, for all its cases)."""
    definition = case.test._assay
    if definition.variant_fields is not None or "time_limit" in definition.space.names:
        return declared_limit(case)
    key = (id(case.test), case.partition.full_name)
    if key not in limits:
        limits[key] = declared_limit(case)
    return limits[key]


# With --repeat, every case of a round goes before any of the next (the samples stay
# round-robin); longest first within a round. Priorities are seconds: no chain is this long.
ROUND = 1e12


class Expectations(msgspec.Struct):
    """What the runner and the schedulers plan with, by case key (``Case.key``: one per
    repetition)."""

    recorded: dict[str, float] = field(default_factory=dict)  # from history only
    run: dict[str, float] = field(default_factory=dict)  # run stage, from history
    priority: dict[str, float] = field(default_factory=dict)  # higher starts first

    @classmethod
    def plan(
        cls,
        cases: Sequence[Case],
        history: Mapping[str, Expected],
        series: Sequence[str] | None = None,
    ) -> Expectations:
        """Expectations for ``cases`` (dependencies before dependents, as a plan lists
        them) from ``history`` (by series; ``series``: each case's, if known already)."""
        out = cls()
        own: dict[int, float] = {}
        limits: dict[tuple[int, str], float | None] = {}  # (see _declared)
        names: Sequence[str | None]
        if series is not None:
            names = series
        elif history:
            names = plan_series(cases)
        else:  # nothing recorded: no series to name
            names = [None] * len(cases)
        for case, name in zip(cases, names, strict=True):
            found = history.get(name) if history and name is not None else None
            if case.skip:
                own[id(case)] = 0.0
                out.recorded[case.key] = 0.0
            elif found is not None:
                own[id(case)] = found.work
                out.recorded[case.key] = found.work
                if found.run is not None:
                    out.run[case.key] = found.run
            else:
                own[id(case)] = _declared(case, limits) or 0.0
        rank: dict[int, float] = {}
        for case in reversed(cases):
            after = (
                max((rank.get(id(d), 0.0) for d in case.dependents), default=0.0)
                if case.dependents
                else 0.0
            )
            rank[id(case)] = own[id(case)] + after
            out.priority[case.key] = rank[id(case)] - (case.repeat - 1) * ROUND
        return out


class PrioritySlots:
    """A counting semaphore that serves its waiters highest priority first (ties: first
    come). Slots are handed out on the next turn of the event loop, so that every case that
    becomes ready at the same moment competes, not only the first one to ask; a slot given
    back with ``at_once`` goes to the first waiter now (see :meth:`release`)."""

    def __init__(self, value: int) -> None:
        self._free = value
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._handing_out = False

    async def acquire(self, priority: float = 0.0) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), future))
        self._hand_out_soon()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # given a slot, then cancelled
                self.release()
            raise

    def release(self, at_once: bool = False) -> None:
        """Give a slot back. ``at_once``: the caller will not ask again now (a case that
        ended, not one about to retry): the slot goes to the first waiter at once, not a
        turn of the loop later (a turn and a Handle less for every case that waits, and its
        start that much sooner). The waiters then are those queued by the time the case
        ended; a hand-out already due next turn is left to serve them all."""
        self._free += 1
        if at_once and not self._handing_out:
            self._hand_out()
        else:
            self._hand_out_soon()

    def _hand_out_soon(self) -> None:
        if not self._handing_out:
            self._handing_out = True
            asyncio.get_running_loop().call_soon(self._hand_out)

    def _hand_out(self) -> None:
        self._handing_out = False
        while self._free > 0 and self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if future.done():  # its task was cancelled while it waited
                continue
            self._free -= 1
            future.set_result(None)

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())
