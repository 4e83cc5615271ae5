"""Newest values that the change-point test cannot judge yet.

With ``min_size`` samples needed on each side of a change, a session that took fewer cannot
show a new level on its own: the test says nothing about it (docs/history.md, "The
knobs"). When such a session's samples all lie outside every value of the level they are
compared with, "no change" would be false: :func:`pending` describes them instead, as
information for the run's output, its report and ``assay compare`` (never a failure).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from assay.results.judgement import Judgement
from assay.results.numbers import metric_value

Kind = Literal["regression", "improvement", "change"]


@dataclass(frozen=True)
class Pending:
    """The newest session's samples, outside every earlier value of their level, too few
    to be judged."""

    metric: str
    unit: str | None
    value: float  # the mean of the newest samples
    samples: int  # how many the newest session took
    needed: int  # min_size
    side: Literal["below", "above"]
    earlier: int  # values in the level compared with
    low: float  # its smallest value
    high: float  # its largest
    level: float  # its mean
    since: str  # the session the level started at
    kind: Kind  # what it would be if it held

    @property
    def message(self) -> str:
        """``rate: 1 GB/s, below every one of the 5 earlier values (9.7 ... 10.4) since
        session S; one sample cannot show a new level: the next run will judge it, or rerun
        with --repeat 2``."""
        suffix = f" {self.unit}" if self.unit else ""
        many = "" if self.samples == 1 else f" (mean of {self.samples} samples)"
        few = (
            "one sample cannot show a new level"
            if self.samples == 1
            else f"{self.samples} samples cannot show a new level ({self.needed} needed)"
        )
        when = "the next run" if 2 * self.samples >= self.needed else "a later run"
        return (
            f"{self.metric}: {metric_value(self.value)}{suffix}{many}, {self.side} every one of "
            f"the {self.earlier} earlier values ({metric_value(self.low)} ... "
            f"{metric_value(self.high)}) since session {self.since}; {few}: {when} will judge "
            f"it, or rerun with --repeat {self.needed}"
        )

    @property
    def verdict(self) -> str:
        """``assay compare``'s significance: ``not judged yet: 1 sample (2 needed; run with
        --repeat 2)``."""
        return Judgement("not judged yet", samples=self.samples, needed=self.needed).text("")


def pending(
    metric: str,
    unit: str | None,
    values: Sequence[float],
    sessions: Sequence[str],
    level_start: int,
    better: Literal["higher", "lower"] | None,
    min_size: int,
    min_change: float,
) -> Pending | None:
    """The newest session's samples (the tail of ``values`` that share its session) as a
    :class:`Pending`, when they are fewer than ``min_size``, the level they are compared with
    (``values[level_start:]`` before them) holds ``min_size`` or more, and they all lie below
    its smallest or all above its largest value by at least ``min_change``; else None."""
    start = len(values)
    while start > 0 and sessions[start - 1] == sessions[-1]:
        start -= 1
    newest, level = list(values[start:]), list(values[level_start:start])
    if not newest or len(newest) >= min_size or len(level) < min_size:
        return None
    low, high = min(level), max(level)
    if max(newest) < low:
        side: Literal["below", "above"] = "below"
    elif min(newest) > high:
        side = "above"
    else:
        return None
    value, mean = statistics.fmean(newest), statistics.fmean(level)
    if mean != 0 and abs(value / mean - 1) < min_change:
        return None
    if better is None:
        kind: Kind = "change"
    else:
        kind = "improvement" if (side == "above") == (better == "higher") else "regression"
    return Pending(
        metric,
        unit,
        value,
        len(newest),
        min_size,
        side,
        len(level),
        low,
        high,
        mean,
        sessions[level_start],
        kind,
    )
