"""Change points in a metric's history, and whether the newest values are a real change.

The method is E-Divisive means (Matteson & James 2014, as used by MongoDB and Apache Otava):
each segment of the series is split where the energy statistic between the part before and
the part after is largest; the split is kept if a two-sample Student t-test between the two
parts is significant after a Bonferroni correction for the number of places the split could
have been put; kept splits are split again. The correction makes ``alpha`` mean what it says:
on a series with no change at all, the chance of reporting any change is at most ``alpha``
(Otava uses the same t-test, with a fixed threshold instead of the correction). It needs no
random permutations, so the answer is deterministic and costs one pass of O(n²) per split.
docs/history.md explains the choice and the knobs.

Everything here takes plain lists of :class:`Point`; numpy is imported only when a series is
analysed, so ``import assay`` stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from assay.results.detection import Settings as Settings  # (re-exported: its old home)
from assay.results.numbers import metric_value
from assay.results.unjudged import Pending
from assay.results.unjudged import pending as unjudged

DEFAULT_SETTINGS = Settings()

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Point:
    """One measured value of a metric: which session produced it, when, at which commit."""

    session: str
    time: float | None
    commit: str | None
    value: float
    unit: str | None = None


@dataclass(frozen=True)
class ChangePoint:
    """Where a series moved to a new level: ``index`` is the first point of the new level."""

    index: int
    session: str
    commit: str | None
    before: float  # mean of the segment before
    after: float  # mean of the segment after
    pvalue: float  # Bonferroni-corrected two-sided p-value of the split
    since: str  # the session the level before started at

    @property
    def relative(self) -> float:
        """``after / before - 1`` (infinite when the level before was 0)."""
        if self.before == 0:
            return 0.0 if self.after == 0 else math.copysign(math.inf, self.after)
        return self.after / abs(self.before) - math.copysign(1.0, self.before)


@dataclass(frozen=True)
class Analysis:
    """What the history of one metric says."""

    metric: str
    unit: str | None
    better: Better | None
    points: int
    change_points: list[ChangePoint] = field(default_factory=list)
    latest: ChangePoint | None = None  # the newest change point, if it is recent
    kind: Literal["regression", "improvement", "change"] | None = None
    message: str | None = None
    # The newest session's samples, too few to be judged and outside every earlier value.
    pending: Pending | None = None

    @property
    def regressed(self) -> bool:
        """The newest values are significantly worse (or changed, when the direction of
        better is unknown)."""
        return self.kind in ("regression", "change")


def split_points(
    values: Sequence[float] | NDArray[np.float64],
    settings: Settings = DEFAULT_SETTINGS,
    boundaries: Sequence[int] | None = None,
) -> list[tuple[int, float]]:
    """Change points of ``values`` as ``(index, corrected p-value)``, sorted by index.

    ``boundaries`` are the indexes where a new session starts (a change can only happen
    between sessions: the samples of one session share one build); default: every index.
    """
    x = _finite(values)
    allowed = _allowed(len(x), boundaries)
    found: list[tuple[int, float]] = []
    pending = [(0, len(x))]
    while pending:
        start, end = pending.pop()
        taus = _candidates(allowed, start, end, settings.min_size)
        best = _best_split(x[start:end], taus - start)
        if best is None:
            continue
        tau, pvalue = best
        if pvalue <= settings.alpha:
            found.append((start + tau, pvalue))
            pending += [(start, start + tau), (start + tau, end)]
    return sorted(found)


def _finite(values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("values must be a list of finite numbers")
    return x


def _allowed(n: int, boundaries: Sequence[int] | None) -> NDArray[np.bool_]:
    import numpy as np

    allowed = np.zeros(n + 1, dtype=bool)
    if boundaries is None:
        allowed[:] = True
    else:
        index = np.asarray([b for b in boundaries if 0 <= b <= n], dtype=int)
        allowed[index] = True
    return allowed


def _candidates(
    allowed: NDArray[np.bool_], start: int, end: int, min_size: int
) -> NDArray[np.int_]:
    """Split positions in [start, end) that leave ``min_size`` points on each side."""
    import numpy as np

    lo, hi = start + min_size, end - min_size
    if hi < lo:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(allowed[lo : hi + 1]) + lo


def _best_split(x: NDArray[np.float64], taus: NDArray[np.int_]) -> tuple[int, float] | None:
    """Of the split positions ``taus`` of ``x``, the one where the energy statistic is
    largest, and the p-value of that split corrected for the number of positions."""
    import numpy as np

    if len(taus) == 0:
        return None
    q = _energy(x)
    tau = int(taus[np.argmax(q[taus - 1])])
    pvalue = _t_test(x[:tau], x[tau:])
    return tau, min(1.0, pvalue * len(taus))


def _energy(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Q(tau) for tau = 1..n-1: the scaled energy distance between x[:tau] and x[tau:]."""
    import numpy as np

    n = len(x)
    d = np.abs(x[:, None] - x[None, :])
    below = np.tril(d, -1).sum(axis=1)  # row j: sum of |x_j - x_i| for i < j
    within_left = np.cumsum(below)[:-1]  # pairs inside x[:tau], tau = 1..n-1
    prefix_rows = np.cumsum(d.sum(axis=1))[:-1]
    cross = prefix_rows - 2 * within_left
    within_right = below.sum() - within_left - cross
    m = np.arange(1, n, dtype=float)
    k = n - m
    pairs_left = np.maximum(m * (m - 1) / 2, 1)
    pairs_right = np.maximum(k * (k - 1) / 2, 1)
    e = 2 * cross / (m * k) - within_left / pairs_left - within_right / pairs_right
    result: NDArray[np.float64] = m * k / n * e
    return result


def _t_test(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Two-sided p-value of Student's two-sample t-test (pooled variance)."""
    na, nb = len(a), len(b)
    diff = float(a.mean() - b.mean())
    df = na + nb - 2
    ss = float(((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum())
    if df <= 0:
        return 1.0
    if ss <= 0 or not math.isfinite(ss):
        # No noise at all: any difference is certain, none is no change.
        return 0.0 if diff != 0 else 1.0
    se = math.sqrt(ss / df * (1 / na + 1 / nb))
    if se == 0:
        return 0.0 if diff != 0 else 1.0
    return student_t_sf2(abs(diff) / se, df)


def student_t_sf2(t: float, df: float) -> float:
    """P(|T| >= t) for Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2, 0.5, df / (df + t * t))


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry else.
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def analyse(
    metric: str,
    points: Sequence[Point],
    better: Better | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> Analysis:
    """Change points in ``points`` (oldest first) and whether the newest values changed.

    Two questions, two tests. *Where did the level change?* E-Divisive over the whole
    history, each split corrected for every position it could have taken. *Are the newest
    values a real change?* The best split among the boundaries of the last ``recent``
    sessions, against the level since the last change before them, corrected only for those
    few positions: so a step is found a few points after it happens, while a series that
    did not change still raises an alarm with a chance of at most ``alpha``.
    """
    points = list(points)[-settings.max_points :]
    unit = next((p.unit for p in reversed(points) if p.unit), None)
    if len(points) < 2 * settings.min_size:
        return Analysis(metric, unit, better, len(points))
    x = _finite([p.value for p in points])
    starts = [i for i in range(len(points)) if i == 0 or points[i].session != points[i - 1].session]
    history = split_points(x, settings, starts)
    window = (
        starts[-settings.recent]
        if len(starts) > settings.recent
        else starts[min(1, len(starts) - 1)]
    )
    # A change found just before the window may be the window's own change, placed a point
    # early: it does not start the baseline, and if the window's change is there, it is
    # the same change (and keeps the location the longer history gave it).
    edge = window - settings.min_size
    base = max((i for i, _ in history if i < edge), default=0)
    taus = _candidates(_allowed(len(x), starts), base, len(x), settings.min_size)
    newest = _best_split(x[base:], taus[taus >= window] - base)
    found = [(i, p) for i, p in history if i < edge]
    near = [(i, p) for i, p in history if edge <= i < window]
    latest_index = None
    if newest is not None and newest[1] <= settings.alpha:
        tail = (base + newest[0], newest[1])
        if near and abs(near[-1][0] - tail[0]) <= settings.min_size:
            found += near
            first = near[-1][0]
        else:
            found += [*near, tail]
            first = tail[0]
        # More changes inside the window (e.g. worse again): split both sides the same way.
        pending = [(base, first), (first, len(x))]
        while pending:
            start, end = pending.pop()
            inside = taus[
                (taus >= max(window, start + settings.min_size)) & (taus <= end - settings.min_size)
            ]
            more = _best_split(x[start:end], inside - start)
            if more is not None and more[1] <= settings.alpha:
                found.append((start + more[0], more[1]))
                pending += [(start, start + more[0]), (start + more[0], end)]
        found.sort()
        latest_index = found[-1][0]
    else:
        found += near
    changes = _describe(points, x, found)
    changes = [c for c in changes if abs(c.relative) >= settings.min_change]
    latest = next((c for c in changes if c.index == latest_index), None)
    if latest is None:
        level = max((c.index for c in changes if c.index < starts[-1]), default=0)
        unsure = unjudged(
            metric,
            unit,
            [float(v) for v in x],
            [p.session for p in points],
            level,
            better,
            settings.min_size,
            settings.min_change,
        )
        return Analysis(metric, unit, better, len(points), changes, pending=unsure)
    kind = _kind(latest, better)
    return Analysis(
        metric,
        unit,
        better,
        len(points),
        changes,
        latest,
        kind,
        _message(metric, unit, latest, kind),
    )


def _describe(
    points: Sequence[Point],
    x: NDArray[np.float64],
    found: list[tuple[int, float]],
) -> list[ChangePoint]:
    """Each change point with the levels (means) of the segments on either side."""
    edges = [0, *(i for i, _ in found), len(x)]
    out = []
    for n, (index, pvalue) in enumerate(found):
        before, after = x[edges[n] : index], x[index : edges[n + 2]]
        out.append(
            ChangePoint(
                index=index,
                session=points[index].session,
                commit=points[index].commit,
                before=float(before.mean()),
                after=float(after.mean()),
                pvalue=pvalue,
                since=points[edges[n]].session,
            )
        )
    return out


def _kind(
    change: ChangePoint, better: Better | None
) -> Literal["regression", "improvement", "change"]:
    if better is None:
        return "change"
    up = change.after > change.before
    return "improvement" if up == (better == "higher") else "regression"


def _message(metric: str, unit: str | None, change: ChangePoint, kind: str) -> str:
    """``triad: 9.1 GB/s, 11.8% below the level since session X (change point at commit
    abc123, significant, p=0.0004)``."""
    suffix = f" {unit}" if unit else ""
    rel = change.relative
    amount = "infinitely" if math.isinf(rel) else f"{abs(rel) * 100:.1f}%"
    side = "below" if change.after < change.before else "above"
    where = f"commit {change.commit[:12]}" if change.commit else f"session {change.session}"
    label = {
        "regression": "regression",
        "improvement": "improvement",
        "change": "direction unknown",
    }[kind]
    return (
        f"{metric}: {metric_value(change.after)}{suffix}, {amount} {side} the level of "
        f"{metric_value(change.before)}{suffix} since session {change.since} "
        f"(change point at {where}, "
        f"significant, p={change.pvalue:.2g}; {label})"
    )


_RATE = ("/s", "/sec", "per second", "/min", "/h", "hz", "flops", "ops")
_TIME = {"s", "sec", "secs", "second", "seconds", "ms", "us", "µs", "ns", "min", "h", "hours"}


def better_of(
    unit: str | None,
    lower: float | None = None,
    upper: float | None = None,
    declared: str | None = None,
    *,
    bounds: tuple[float | None, float | None, float | None] | None = None,
) -> Better | None:
    """Which direction is better for a metric: as declared, else from the reference's
    tolerances (only a lower one, or a tighter lower one: higher is better), else from the
    unit (a rate such as GB/s: higher; a time such as s: lower); ``None`` if none tells.

    ``bounds`` (reference, lowest and highest accepted value), when known, stand for the
    tolerances: they include absolute ones (``upper_abs``) that relative ones miss."""
    if declared in ("higher", "lower"):
        return declared  # type: ignore[return-value]
    value = bounds[0] if bounds is not None else None
    if bounds is not None and value is not None and (bounds[1], bounds[2]) != (None, None):
        low_bound, high_bound = bounds[1], bounds[2]
        lower = None if low_bound is None else low_bound - value
        upper = None if high_bound is None else high_bound - value
    if lower is not None or upper is not None:
        low = abs(lower) if lower is not None else math.inf
        high = abs(upper) if upper is not None else math.inf
        if low < high:
            return "higher"
        if high < low:
            return "lower"
    text = (unit or "").strip().lower()
    if any(r in text for r in _RATE):
        return "higher"
    if text in _TIME:
        return "lower"
    return None
