"""Whitespace in a text line (``whitespace = "significant"``, the default of mode "numeric").

A line is its tokens and the blank runs before them (the first one is the indentation);
blanks after the last token are not compared (see :func:`trailing`). Two lines whose tokens
are equal (numbers within tolerance) differ in layout when a run differs, except a run that
pads a number whose text changed: in an aligned column ``   9.99`` becomes ``  10.01``
(right-aligned: the run before the number shrinks) or ``9.99  `` becomes ``10.01 ``
(left-aligned: the run after it). Such a run may change by at most the number's change in
length and only the other way (a number one character longer, its padding one shorter or
the same), its other characters (tabs) staying the same.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .tokens import line_spans

if TYPE_CHECKING:
    from .options import Options

_BLANKS = re.compile(r"\s+")
_NAMES = {" ": ("space", "spaces"), "\t": ("tab", "tabs")}


def trailing(line: str) -> str:
    """``line`` without its trailing blanks: they are not compared in mode "numeric".

    (Invisible in every viewer, and stripped by editors and by the pre-commit hooks that
    guard many repositories, where expected files live: a difference there would fail a
    case for something nobody can see. Mode "text" compares them.)"""
    return line.rstrip()


def same_runs(expected: str, actual: str) -> bool:
    """Whether two lines with the same blank-separated fields (in count) have the same blank
    runs: then their layout is the same. (A cheap test for the common line whose numbers
    moved in their last digits, columns unchanged.)"""
    return _BLANKS.findall(expected) == _BLANKS.findall(actual)


def _pads(gap_e: str, gap_a: str, num_e: str, num_a: str) -> bool:
    """Whether the run ``gap_e`` -> ``gap_a`` only pads a number ``num_e`` -> ``num_a``."""
    if gap_e.replace(" ", "") != gap_a.replace(" ", ""):
        return False
    grew = len(num_a) - len(num_e)
    moved = len(gap_a) - len(gap_e)
    return moved * grew < 0 and abs(moved) <= abs(grew)


def difference(ex: str, ac: str, te: list[Any], ta: list[Any], opt: Options) -> Any:
    """The first blank run that differs between two lines (``ignore`` applied, trailing
    blanks removed) whose tokens ``te``, ``ta`` are as many and equal or within
    tolerance: ``(pos_e, pos_a, run_e, run_a)`` (where the runs start), or None."""
    spans_e, spans_a = line_spans(ex, opt), line_spans(ac, opt)
    end_e = end_a = 0
    count = len(spans_e)
    for i in range(count):
        (start_e, stop_e), (start_a, stop_a) = spans_e[i], spans_a[i]
        gap_e, gap_a = ex[end_e:start_e], ac[end_a:start_a]
        if gap_e != gap_a and not (
            (_changed(te, ta, i) and _pads(gap_e, gap_a, te[i][0], ta[i][0]))
            or (i and _changed(te, ta, i - 1) and _pads(gap_e, gap_a, te[i - 1][0], ta[i - 1][0]))
        ):
            return end_e, end_a, gap_e, gap_a
        end_e, end_a = stop_e, stop_a
    return None


def _changed(te: list[Any], ta: list[Any], i: int) -> bool:
    """Whether token ``i`` is a number on both sides, written differently."""
    return bool(te[i][0] and ta[i][0] and te[i][0] != ta[i][0])


def describe(run: str) -> str:
    """A blank run in words: "4 spaces", "a tab", "no blank", or its characters."""
    if not run:
        return "no blank"
    if run[0] in _NAMES and run == run[0] * len(run):
        one, many = _NAMES[run[0]]
        return f"1 {one}" if len(run) == 1 else f"{len(run)} {many}"
    names = ", ".join(_NAMES.get(ch, (f"U+{ord(ch):04X}",))[0] for ch in run[:8])
    return f"{len(run)} blanks ({names}{', ...' if len(run) > 8 else ''})"
