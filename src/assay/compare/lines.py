"""Where two lines differ, as a reader wants to see it: both whole lines (clipped around the
difference when long) and the place of the first differing character in each.

A text difference record gets ``expected_line`` and ``actual_line`` (the lines as they are
in the files, cut to ``SHOW`` characters around the difference, with ``...`` where cut),
``expected_mark`` and ``actual_mark`` (0-based positions in those two strings of the first
differing character; the end of a line that stops early), and ``column`` (1-based, in the
expected line as it is in the file).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from .result import BRIEF, SHOW, Shown, quote
from .tokens import line_spans

if TYPE_CHECKING:
    import re
    from collections.abc import Sequence

    from .options import Options

_BEFORE = 80  # characters kept before the difference when a line is cut
_CUT = "..."


class Stripped:
    """A line without what the ignore patterns match, and the way back from a position in
    it to the position in the line as it is."""

    def __init__(self, line: str, ignore: Sequence[re.Pattern[str]]) -> None:
        self.raw = line
        self.maps: list[tuple[list[int], list[int]]] = []  # per pattern: kept runs' starts
        text = line
        for regex in ignore:
            new_starts: list[int] = []
            old_starts: list[int] = []
            parts: list[str] = []
            pos = done = 0
            for m in regex.finditer(text):
                if m.start() > pos:
                    new_starts.append(done)
                    old_starts.append(pos)
                    parts.append(text[pos : m.start()])
                    done += m.start() - pos
                pos = max(pos, m.end())
            new_starts.append(done)
            old_starts.append(pos)
            parts.append(text[pos:])
            text = "".join(parts)
            self.maps.append((new_starts, old_starts))
        self.text = text

    def original(self, pos: int) -> int:
        """The position in the line as it is of position ``pos`` of the stripped text."""
        for new_starts, old_starts in reversed(self.maps):
            k = max(0, bisect.bisect_right(new_starts, pos) - 1)
            pos = old_starts[k] + (pos - new_starts[k])
        return pos


def first_token_difference(te: list[Any], ta: list[Any]) -> int:
    """The 1-based index of the first token that differs as text (one past the shorter
    list when one list starts the other)."""
    for i, (x, y) in enumerate(zip(te, ta), 1):
        if x[:2] != y[:2]:
            return i
    return min(len(te), len(ta)) + 1


def first_difference(a: str, b: str) -> int:
    """The position of the first character where ``a`` and ``b`` differ (the shorter one's
    length when one starts the other)."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def window(line: str | None, mark: int | None) -> tuple[str | None, int | None]:
    """``line`` cut to ``SHOW`` characters from ``_BEFORE`` before ``mark`` (from its start
    without a mark), and where ``mark`` is in what is kept."""
    if line is None:
        return None, None
    start = window_start(len(line), mark)
    return clip(line[start : start + SHOW], start, start + SHOW < len(line), mark)


def window_start(length: int, mark: int | None) -> int:
    """Where the part of a line of ``length`` characters shown around ``mark`` starts."""
    return 0 if mark is None or length <= SHOW else max(0, mark - _BEFORE)


def clip(text: str, start: int, more: bool, mark: int | None) -> tuple[str, int | None]:
    """The part ``text`` of a line that starts at ``start`` (``more``: the line goes on after
    it) as shown, and where ``mark`` (a position in the line) is in what is shown."""
    shown = (_CUT if start else "") + text + (_CUT if more else "")
    if start or more:
        shown = Shown(shown)  # (not to be cut again in the difference record)
    return shown, (None if mark is None else mark - start + (len(_CUT) if start else 0))


def brief_at(line: str, mark: int) -> str:
    """``line`` quoted for a one-line message: whole when short, else the part around
    ``mark``."""
    if len(line) <= BRIEF:
        return quote(line)
    start = max(0, min(mark - BRIEF // 3, len(line) - BRIEF))
    end = start + BRIEF
    text = (_CUT if start else "") + line[start:end] + (_CUT if end < len(line) else "")
    return quote(text)


def context(
    expected: str | None, actual: str | None, mark_e: int | None, mark_a: int | None
) -> dict[str, Any]:
    """The keys a text difference record gets to show both lines (see the module doc)."""
    shown_e, at_e = window(expected, mark_e)
    shown_a, at_a = window(actual, mark_a)
    return {
        "expected_line": shown_e,
        "actual_line": shown_a,
        "expected_mark": at_e,
        "actual_mark": at_a,
    }


class Located:
    """A differing pair of lines (shorter than a piece) and how they were split into tokens:
    where a token difference is, in the lines as they are."""

    def __init__(self, raw_e: str, raw_a: str, opt: Options) -> None:
        self.sides = Stripped(raw_e, opt.ignore), Stripped(raw_a, opt.ignore)
        self.opt = opt
        self._spans: tuple[list[tuple[int, int]], list[tuple[int, int]]] | None = None

    @property
    def texts(self) -> tuple[str, str]:
        return self.sides[0].text, self.sides[1].text

    def spans(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        if self._spans is None:
            self._spans = (
                line_spans(self.sides[0].text, self.opt),
                line_spans(self.sides[1].text, self.opt),
            )
        return self._spans

    def at_token(self, index: int) -> dict[str, Any]:
        """The context of a difference at token ``index`` (1-based) of both lines."""
        spans_e, spans_a = self.spans()
        text_e, text_a = self.texts
        pos: list[int] = []
        for spans, text, other_spans, other in (
            (spans_e, text_e, spans_a, text_a),
            (spans_a, text_a, spans_e, text_e),
        ):
            if index - 1 < len(spans):
                start, end = spans[index - 1]
                token = text[start:end]
                if index - 1 < len(other_spans):
                    o_start, o_end = other_spans[index - 1]
                    start += first_difference(token, other[o_start:o_end])
            else:  # this line has fewer tokens: the difference is where it ends
                start = len(text.rstrip())
            pos.append(start)
        return self._context(pos[0], pos[1])

    def at_character(self) -> dict[str, Any]:
        """The context of the first character where the stripped lines differ."""
        text_e, text_a = self.texts
        at = first_difference(text_e, text_a)
        return self._context(at, at)

    def at_positions(self, pos_e: int, pos_a: int) -> dict[str, Any]:
        """The context of a difference at these positions of the stripped lines."""
        return self._context(pos_e, pos_a)

    def _context(self, pos_e: int, pos_a: int) -> dict[str, Any]:
        raw_e = self.sides[0].original(pos_e)
        raw_a = self.sides[1].original(pos_a)
        found = context(self.sides[0].raw, self.sides[1].raw, raw_e, raw_a)
        found["column"] = raw_e + 1
        return found
