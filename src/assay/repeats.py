"""``--repeat``: a plan's selected cases, each run several times."""

from __future__ import annotations

import dataclasses

from assay.errors import UsageError
from assay.plan import MAX_CASES, SELECT_FEWER, Case


def repeat_cases(cases: list[Case], times: int) -> list[Case]:
    """The cases with every selected one run ``times`` times, round-robin: all first
    repetitions, then all second ones, and so on, so that no case's samples come back to back.

    A repetition waits for the one before it (samples of one case never run at the same
    time) and depends on the first repetition of the cases its case depends on: what a
    build produced once serves every repetition. Dependencies pulled in by the selection
    run once.
    """
    out = list(cases)
    previous = {id(c): c for c in cases if c.selected}
    if not previous or times <= 1:
        return out
    planned = len(out) + len(previous) * (times - 1)
    if planned > MAX_CASES:
        raise UsageError(
            f"--repeat {times} would plan {planned:,} cases ({len(previous):,} selected x "
            f"{times:,}), more than the {MAX_CASES:,} one run may have",
            hint=f"repeat fewer times, or {SELECT_FEWER}",
        )
    for repeat in range(2, times + 1):
        for case in cases:
            if not case.selected:
                continue
            copy = dataclasses.replace(
                case, repeat=repeat, after=previous[id(case)], deps=list(case.deps), dependents=[]
            )
            for dep in copy.deps:
                dep.dependents.append(copy)
            previous[id(case)] = copy
            out.append(copy)
    return out
