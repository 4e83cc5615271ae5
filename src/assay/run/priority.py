"""Longest expected work first: what each case is expected to take, and its priority.

A case's expected duration is the median of its recent passes in the results database,
else its declared time limit, else unknown (0). Its priority adds the longest chain of
cases that wait for it (a dependency of long work starts early), and the runner's slots
are handed out highest priority first (:mod:`assay.run.dispatch`):
longest-processing-time-first list scheduling, which finishes within 4/3 of the best
possible schedule for independent cases.
"""

from __future__ import annotations

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
