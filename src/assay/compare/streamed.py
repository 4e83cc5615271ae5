"""Where two long lines differ (longer than a piece: they were compared as streams), found
by reading them again: twice per side, in pieces, so memory stays bounded.

The first pass finds the wanted tokens (their start in the line once ``ignore`` matches are
removed, and their text), the second keeps the part of the line shown around each
difference. What comes out is what :mod:`.lines` gives for a short line, with positions in
the text as compared (for a line without ``ignore`` patterns: the line as it is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .lines import clip, first_difference, window_start
from .numeric import TOKEN
from .result import SHOW
from .tokens import _safe_cuts, _stream_sub, field_tokens

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from .options import Options

    Texts = Callable[[], Iterator[str]]  # a line's decoded pieces, from its start


class _Measured:
    """Pieces passed through, with the length of the whole and where its last non-blank
    character ends."""

    def __init__(self, pieces: Iterable[str]) -> None:
        self.pieces = pieces
        self.length = 0
        self.end = 0

    def __iter__(self) -> Iterator[str]:
        for piece in self.pieces:
            kept = piece.rstrip()
            if kept:
                self.end = self.length + len(kept)
            self.length += len(piece)
            yield piece


def _stripped(texts: Texts, opt: Options) -> Iterator[str]:
    pieces: Iterable[str] = texts()
    for regex in opt.ignore:
        pieces = _stream_sub(regex, pieces)
    return iter(pieces)


def _tokens(texts: Texts, opt: Options, wanted: set[int]) -> tuple[dict[int, tuple[int, str]], int]:
    """The wanted tokens (1-based index -> start, text), and where the line's last
    non-blank character ends (the place of a token beyond its last one)."""
    measured = _Measured(_stripped(texts, opt))
    segments = _safe_cuts(measured)
    found: dict[int, tuple[int, str]] = {}
    last = max(wanted)
    count = 0
    if opt.fields:
        spans: list[tuple[int, int]] = []
        for part in field_tokens(segments, opt, spans):
            for token, span in zip(part, spans[count:]):
                count += 1
                if count in wanted:
                    found[count] = (span[0], token[0] or token[1])
            if count >= last:
                return found, measured.end
    else:
        offset = 0
        for segment in segments:
            for m in TOKEN.finditer(segment):
                count += 1
                if count in wanted:
                    found[count] = (offset + m.start(), m.group(0))
            offset += len(segment)
            if count >= last:
                return found, measured.end
    for _ in measured:  # (the rest: where the text ends)
        pass
    return found, measured.end


def _windows(texts: Texts, opt: Options, marks: list[int]) -> list[tuple[str, int | None]]:
    """The part of the line shown around each mark, and the mark's place in it."""
    head = ""
    parts = dict.fromkeys(marks, "")
    begins = {m: window_start(SHOW + 1, m) for m in marks}  # as in a line longer than SHOW
    pos = 0
    for piece in _stripped(texts, opt):
        if len(head) <= SHOW:
            head += piece[: SHOW + 1 - len(head)]
        for mark, begin in begins.items():
            lo, hi = max(begin - pos, 0), min(begin + SHOW - pos, len(piece))
            if lo < hi:
                parts[mark] += piece[lo:hi]
        pos += len(piece)
    out = []
    for mark in marks:
        begin = window_start(pos, mark)
        if begin == 0:
            out.append(clip(head[:SHOW], 0, pos > SHOW, mark))
        else:
            out.append(clip(parts[mark], begin, begin + SHOW < pos, mark))
    return out


def locate(texts_e: Texts, texts_a: Texts, opt: Options, wanted: list[int]) -> dict[int, Any]:
    """For each wanted token index: the context keys of its difference record."""
    want = set(wanted)
    found_e, end_e = _tokens(texts_e, opt, want)
    found_a, end_a = _tokens(texts_a, opt, want)
    marks: dict[int, tuple[int, int]] = {}
    for index in wanted:
        pos = []
        for mine, other, end in ((found_e, found_a, end_e), (found_a, found_e, end_a)):
            if index in mine:
                start, token = mine[index]
                if index in other:
                    start += first_difference(token, other[index][1])
            else:  # this line has fewer tokens: the difference is where it ends
                start = end
            pos.append(start)
        marks[index] = (pos[0], pos[1])
    shown_e = _windows(texts_e, opt, [m[0] for m in marks.values()])
    shown_a = _windows(texts_a, opt, [m[1] for m in marks.values()])
    out: dict[int, Any] = {}
    for (index, (mark_e, _)), (line_e, at_e), (line_a, at_a) in zip(
        marks.items(), shown_e, shown_a
    ):
        out[index] = {
            "expected_line": line_e,
            "actual_line": line_a,
            "expected_mark": at_e,
            "actual_mark": at_a,
            "column": mark_e + 1,
        }
    return out


def first_difference_at(texts_e: Texts, texts_a: Texts, opt: Options) -> int | None:
    """Where the two lines (``ignore`` matches removed) first differ, or None if they are
    the same."""
    it_e, it_a = _stripped(texts_e, opt), _stripped(texts_a, opt)
    held_e = held_a = ""
    pos = 0
    while True:
        held_e = held_e or next((p for p in it_e if p), "")
        held_a = held_a or next((p for p in it_a if p), "")
        if not held_e or not held_a:
            return None if not held_e and not held_a else pos
        k = min(len(held_e), len(held_a))
        at = first_difference(held_e[:k], held_a[:k])
        if at < k:
            return pos + at
        held_e, held_a, pos = held_e[k:], held_a[k:], pos + k


def locate_character(texts_e: Texts, texts_a: Texts, opt: Options, mark: int) -> dict[str, Any]:
    """The context keys of a difference at character ``mark`` of both lines."""
    return locate_marks(texts_e, texts_a, opt, mark, mark)


def locate_marks(
    texts_e: Texts, texts_a: Texts, opt: Options, mark: int, mark_a: int
) -> dict[str, Any]:
    """The context keys of a difference at character ``mark`` of the expected line and
    ``mark_a`` of the actual one."""
    ((line_e, at_e),) = _windows(texts_e, opt, [mark])
    ((line_a, at_a),) = _windows(texts_a, opt, [mark_a])
    return {
        "expected_line": line_e,
        "actual_line": line_a,
        "expected_mark": at_e,
        "actual_mark": at_a,
        "column": mark + 1,
    }
