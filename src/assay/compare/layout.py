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

from .numeric import TOKEN
from .tokens import _safe_cuts, _stream_sub

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

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


def difference(ex: str, ac: str) -> Any:
    """The first blank run that differs between two lines (``ignore`` applied, trailing
    blanks removed) whose tokens are as many and equal or within tolerance:
    ``(pos_e, pos_a, run_e, run_a)`` (where the runs start), or None.

    (The runs are those around TOKEN's tokens, also where ``fields`` split a line
    otherwise: a field's number inside a word has no blanks beside it to pad.)"""
    return first_run(_runs(ex), _runs(ac))


def _runs(line: str) -> Iterator[tuple[str, int, Any]]:
    """Each token of a whole line with the blank run before it: (run, its start, token)."""
    end = 0
    for m in TOKEN.finditer(line):
        start = m.start()
        yield line[end:start], end, m.groups()
        end = m.end()


def streamed_runs(pieces: Iterable[str], opt: Options) -> Iterator[tuple[str, int, Any]]:
    """The same for a line given in pieces (``ignore`` not yet applied); a run longer than
    ``_KEPT`` characters is kept as its start and its length (memory stays bounded)."""
    for regex in opt.ignore:
        pieces = _stream_sub(regex, pieces)
    tail, end, offset = "", 0, 0  # the text after the last token; where that token ends
    for segment in _safe_cuts(pieces):
        for m in TOKEN.finditer(segment):
            start, stop = m.span()
            run = tail + segment[max(end - offset, 0) : start]
            yield (run if len(run) <= _KEPT else f"{run[:_KEPT]}({len(run)})"), end, m.groups()
            tail, end = "", offset + stop
        tail += segment[max(end - offset, 0) :]
        tail = tail if len(tail) <= _KEPT else f"{tail[:_KEPT]}({len(tail)})"
        offset += len(segment)


_KEPT = 4096


def first_run(
    runs_e: Iterable[tuple[str, int, Any]], runs_a: Iterable[tuple[str, int, Any]]
) -> Any:
    """The first pair of runs that differs other than as padding of a changed number."""
    before: Any = None
    for (gap_e, at_e, te), (gap_a, at_a, ta) in zip(runs_e, runs_a):
        if gap_e != gap_a and not (
            (_changed(te, ta) and _pads(gap_e, gap_a, te[0], ta[0]))
            or (before and _changed(*before) and _pads(gap_e, gap_a, before[0][0], before[1][0]))
        ):
            return at_e, at_a, gap_e, gap_a
        before = te, ta
    return None


def _changed(te: Any, ta: Any) -> bool:
    """Whether a token pair is a number on both sides, written differently."""
    return bool(te[0] and ta[0] and te[0] != ta[0])


def describe(run: str) -> str:
    """A blank run in words: "4 spaces", "a tab", "no blank", or its characters."""
    if not run:
        return "no blank"
    if run[0] in _NAMES and run == run[0] * len(run):
        one, many = _NAMES[run[0]]
        return f"1 {one}" if len(run) == 1 else f"{len(run)} {many}"
    names = ", ".join(_NAMES.get(ch, (f"U+{ord(ch):04X}",))[0] for ch in run[:8])
    return f"{len(run)} blanks ({names}{', ...' if len(run) > 8 else ''})"
