"""Performance at a glance: every metric of a session with its reference, bounds and
verdict, the worst margin first (the end of a run's summary, and the report's readers)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assay.results.model import CaseResult, MetricResult
from assay.results.numbers import metric_value

_RUNS = re.compile(r"(\d+)")
_ORDER = {"error": 0, "fail": 1, "pass": 2, "no reference": 3}


@dataclass(frozen=True)
class Row:
    """One metric of one case, as the performance table shows it."""

    case: str
    metric: MetricResult
    variant: str = ""  # the case's name without " @system:partition+environment"

    @property
    def margin(self) -> float | None:
        return margin(self.metric)


def margin(m: MetricResult) -> float | None:
    """How far inside its bounds a value is, as a fraction of the reference (negative:
    outside; of a reference of 0, in the metric's unit); None without a value or a bound."""
    if m.value is None or m.reference is None:
        return None
    scale = abs(m.reference) or 1.0
    room = []
    if m.low_bound is not None:
        room.append((m.value - m.low_bound) / scale)
    if m.high_bound is not None:
        room.append((m.high_bound - m.value) / scale)
    return min(room) if room else None


def rows(results: list[CaseResult]) -> list[Row]:
    """Every metric of the session, the worst first: errors, then failures, then by margin
    (the smallest first), values without a bound last."""
    found = [Row(r.name, m, r.variant) for r in results for m in r.metrics]

    def key(row: Row) -> tuple[int, float, list[tuple[int, int, str]], str]:
        room = row.margin
        return (
            _ORDER.get(row.metric.verdict, 4),
            math.inf if room is None else room,
            natural(row.case),
            row.metric.name,
        )

    return sorted(found, key=key)


def natural(name: str) -> list[tuple[int, int, str]]:
    """A sort key of ``name`` in which runs of digits compare as numbers:
    ``x[n=2]`` before ``x[n=11]`` (as strings, ``]`` sorts after ``1``)."""
    return [(1, int(part), "") if part.isdigit() else (0, 0, part) for part in _RUNS.split(name)]


def _num(value: float | None) -> str:
    return "-" if value is None else metric_value(value)


def _cells(row: Row) -> list[str]:
    m = row.metric
    unit = f" {m.unit}" if m.unit else ""
    value = f"{_num(m.value)}{unit}" if m.value is not None else "-"
    if m.reference is None:
        reference = "-"
    else:
        reference = f"{_num(m.reference)}"
        if m.low_bound is not None or m.high_bound is not None:
            reference += f" [{_num(m.low_bound)}, {_num(m.high_bound)}]"
    room = row.margin
    if room is None:
        shown = "-"
    elif m.reference == 0:  # no scale to be relative to: the room in the metric's unit
        shown = f"{room:+.4g}{m.unit or ''}"
    else:
        shown = f"{room * 100:+.1f}%"
    return [row.case, m.name, value, reference, shown, m.verdict]


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, its middle replaced by ``...``."""
    if len(text) <= width:
        return text
    keep = max(width - 3, 2)
    return text[: keep // 2] + "..." + text[len(text) - (keep - keep // 2) :]


# A parameter's name in a variant's name: after its ``[`` or a ``,``, before its ``=``.
_PARAM_NAME = re.compile(r"(?<=[\[,])([A-Za-z_]\w*)(?==)")


def clip_cases(names: list[str], width: int) -> list[str]:
    """Cases' names cut to ``width`` characters so that their parameter values stay whole:
    parameter names are cut first, all to the same length (``Stream[num_threads=1,
    placement=close]`` becomes ``Stream[num_t.=1,place.=close]``), since cutting the middle
    of a name would make variants that differ only there look alike; a name still too
    long then has its middle cut (:func:`clip`)."""
    if all(len(name) <= width for name in names):
        return names
    longest = max((len(p) for name in names for p in _PARAM_NAME.findall(name)), default=0)
    shorter = names
    for keep in range(longest - 1, 0, -1):

        def cut(match: re.Match[str], keep: int = keep) -> str:
            return match[1] if len(match[1]) <= keep + 1 else match[1][:keep] + "."

        shorter = [_PARAM_NAME.sub(cut, name) for name in names]
        if all(len(name) <= width for name in shorter):
            return shorter
    return [clip(name, width) for name in shorter]


_HEADINGS = ["case", "metric", "value", "reference [bounds]", "margin", "verdict"]
_WIDEST_CASE = 36


def _common_suffix(table: list[Row]) -> str | None:
    """The `` @system:partition+environment`` every row's case shares, if one is."""
    suffixes = {
        r.case[len(r.variant) :] if r.variant and r.case.startswith(r.variant) else None
        for r in table
    }
    common = suffixes.pop() if len(suffixes) == 1 else None
    return common or None


def format_table(table: list[Row], limit: int | None = None, width: int = 80) -> list[str]:
    """The table as text lines: a title, column headings, a row per metric (at most
    ``limit``, then how many more, with case names cut to fit a terminal ``width`` columns
    wide; with no limit, whole). A place every case shares is said once in the title, not on
    every row."""
    if not table:
        return []
    shown = table if limit is None else table[:limit]
    common = _common_suffix(table)
    cells = [_HEADINGS] + [_cells(r) for r in shown]
    for row, source in zip(cells[1:], shown, strict=True):
        if common is not None:
            row[0] = source.variant
    widths = [max(len(row[i]) for row in cells) for i in range(len(_HEADINGS))]
    if limit is not None:  # a terminal: the case column gets what the others leave
        room = max(_WIDEST_CASE, width - 1 - 2 - 2 * (len(widths) - 1) - sum(widths[1:]))
        for row, name in zip(cells[1:], clip_cases([r[0] for r in cells[1:]], room), strict=True):
            row[0] = name
        widths[0] = max(len(row[0]) for row in cells)
    where = f", all{common}" if common else ""
    lines = [f"performance{where} (worst margin first; margin: room left to the nearest bound):"]
    for row in cells:
        lines.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    if len(shown) < len(table):
        lines.append(f"  ... and {len(table) - len(shown)} more")
    return lines
