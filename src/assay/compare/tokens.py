"""A line as tokens: numbers, words and other characters, each with its tolerances.

A short line is split whole. A long one arrives in pieces and is split as a stream, so that
memory stays bounded whatever its length: ``ignore`` and ``fields`` patterns see each piece
with the one before it (for look-behinds and ``^``) and the one after it, so a match may
reach up to one piece past where it starts (a longer match is cut there); tokens are split
only where no token can continue, so they come out exactly as from the whole line.

A token is ``(number, other)`` (exactly one of them non-empty, as ``TOKEN.findall`` gives
them), or ``(number, other, index)`` when fields are set: ``index`` points into
``Options.token_tols`` (0 the default tolerances, 1.. each field's).
"""

from __future__ import annotations

import heapq
import re
from typing import TYPE_CHECKING, Any

from .numeric import NUMBER_CELL, TOKEN

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from .options import Options

PIECE = 1 << 16  # characters of a long line handled at a time
_CONTEXT = 1 << 12  # characters before a piece that patterns see (look-behinds, ^)
# Where a line can be cut without changing its tokens: after a character that no token runs
# through (a blank, a comma, a parenthesis...), or after a + or - that follows a word or
# number character other than an exponent letter (as in Fortran's glued 1.0E+00-2.0E+00).
# Matched on the reversed text, to find the last such place first.
_SAFE_REVERSED = re.compile(r"[^\w.+\-]|[+\-](?=\.|(?![eEdD])\w)")


def line_tokens(line: str, opt: Options) -> list[Any]:
    """The tokens of a whole line (``ignore`` already applied)."""
    if not opt.fields:
        return TOKEN.findall(line)
    out: list[Any] = []
    for part in field_tokens([line], opt):
        out.extend(part)
    return out


def line_spans(line: str, opt: Options) -> list[tuple[int, int]]:
    """Where each token of ``line_tokens(line, opt)`` is in the line: (start, end)."""
    if not opt.fields:
        return [m.span() for m in TOKEN.finditer(line)]
    spans: list[tuple[int, int]] = []
    for _ in field_tokens([line], opt, spans):
        pass
    return spans


def stream_tokens(
    pieces: Iterable[str], opt: Options, watch: Callable[[str], str]
) -> Iterator[list[Any]]:
    """The tokens of a line given in pieces (line end stripped), a list at a time;
    ``watch`` sees the text once the ignore patterns are removed."""
    for regex in opt.ignore:
        pieces = _stream_sub(regex, pieces)
    segments = _safe_cuts(watch(p) for p in pieces)
    if opt.fields:
        yield from field_tokens(segments, opt)
    else:
        for segment in segments:
            yield TOKEN.findall(segment)


def _stream_sub(regex: re.Pattern[str], pieces: Iterable[str]) -> Iterator[str]:
    """``regex.sub("", line)`` over a line given in pieces."""
    it = (p for p in pieces if p)
    cur = next(it, None)
    before = ""  # the input before cur (its tail)
    skip = 0  # characters at the start of cur that a match from the piece before took
    while cur is not None:
        nxt = next(it, None)
        buf = before + cur + (nxt or "")
        end = len(before) + len(cur)
        pos = len(before) + skip
        out = []
        for m in regex.finditer(buf, pos):
            if m.start() >= end:
                break
            out.append(buf[pos : m.start()])
            pos = max(pos, m.end())
        if pos < end:
            out.append(buf[pos:end])
        yield "".join(out)
        skip = max(0, pos - end)
        before = (before + cur)[-_CONTEXT:]
        cur = nxt


def _safe_cuts(pieces: Iterable[str]) -> Iterator[str]:
    """The same text in segments of about ``PIECE`` characters, each ending where no token
    continues (see _SAFE_REVERSED); a run of more than four pieces without such a place
    (a word that long) is cut anyway."""
    carry = ""
    for piece in pieces:
        text = carry + piece
        if len(text) < PIECE:
            carry = text
            continue
        m = _SAFE_REVERSED.search(text[::-1])
        cut = len(text) - m.start() if m else 0
        if not cut:
            if len(text) < 4 * PIECE:
                carry = text
                continue
            cut = len(text)
        yield text[:cut]
        carry = text[cut:]
    if carry:
        yield carry


def field_tokens(
    segments: Iterable[str], opt: Options, spans: list[tuple[int, int]] | None = None
) -> Iterator[list[Any]]:
    """Tokens where the numbers in group 1 of a field pattern get that field's tolerances.

    As on a whole line: group-1 spans in order of their start (an earlier field first on a
    tie), a span overlapping an earlier one dropped; a span that reads as a number is one
    number token even inside a word; the text around spans gets the default tolerances.
    ``spans``, when given, receives where each token is in the line."""
    it = (s for s in segments if s)
    cur = next(it, None)
    ahead: list[str] = []  # the segments after cur taken from it so far
    before = ""
    base = 0  # where cur starts in the line
    pos = 0  # where the tokens given so far end in the line
    resume = [0] * len(opt.fields)  # where each pattern searches on from
    pending: list[tuple[int, int, int]] = []  # spans found, (start, field, end)
    while cur is not None:
        if not ahead:
            _take(it, ahead)
        # A match that reaches the end of what is at hand may have been cut short there
        # (`=(\S{1,4})` took "=-1," of "=-1,0.5"): searched again with the next segment too,
        # up to _AHEAD of them (a match longer than that is cut, as a token that long is).
        while True:
            buf = before + cur + "".join(ahead)
            off = base - len(before)  # where buf starts in the line
            end = base + len(cur)
            found, cut_short = _field_matches(opt, buf, off, base, end, resume)
            if not cut_short or len(ahead) >= _AHEAD or not _take(it, ahead):
                break
        for k, reached, start, stop in found:
            resume[k] = reached
            if stop > start:
                heapq.heappush(pending, (start, k, stop))
        out: list[Any] = []
        # Spans starting in cur are final: later pieces only find spans starting after it.
        while pending and pending[0][0] < end:
            start, k, stop = heapq.heappop(pending)
            if start < pos:  # overlaps an earlier span
                continue
            _scan(buf, pos - off, start - off, 0, out, off, spans)
            piece = buf[start - off : stop - off]
            if NUMBER_CELL.fullmatch(piece):
                out.append((piece.strip(), "", k + 1))
                if spans is not None:
                    lead = len(piece) - len(piece.lstrip())
                    spans.append((start + lead, start + lead + len(piece.strip())))
            else:
                _scan(buf, start - off, stop - off, k + 1, out, off, spans)
            pos = stop
        if pos < end:
            _scan(buf, pos - off, end - off, 0, out, off, spans)
            pos = end
        yield out
        before = (before + cur)[-_CONTEXT:]
        base = end
        cur = ahead.pop(0) if ahead else None


_AHEAD = 4  # segments after the current one that a field pattern's match may reach into


def _take(it: Iterator[str], ahead: list[str]) -> bool:
    """The next segment of ``it`` onto ``ahead``; False when there is none."""
    segment = next(it, None)
    if segment is None:
        return False
    ahead.append(segment)
    return True


def _field_matches(
    opt: Options, buf: str, off: int, base: int, end: int, resume: list[int]
) -> tuple[list[tuple[int, int, int, int]], bool]:
    """The matches of the field patterns that start in the current segment (``base`` to
    ``end`` of the line; ``buf`` starts at ``off``), each as (field, where it ends, start
    and end of its group 1), all in line positions; and whether one reaches the end of
    ``buf`` (it may go on past it)."""
    found: list[tuple[int, int, int, int]] = []
    cut_short = False
    for k, (regex, _) in enumerate(opt.fields):
        at = resume[k]
        for m in regex.finditer(buf, max(at, base) - off):
            if m.start() + off >= end:
                break
            cut_short = cut_short or m.end() == len(buf)
            start, stop = m.span(1)
            found.append((k, m.end() + off, start + off, stop + off))
    return found, cut_short


def _scan(
    buf: str,
    start: int,
    end: int,
    index: int,
    out: list[Any],
    off: int = 0,
    spans: list[tuple[int, int]] | None = None,
) -> None:
    if spans is None:
        for number, other in TOKEN.findall(buf, start, end):
            out.append((number, other, index))
        return
    for m in TOKEN.finditer(buf, start, end):
        out.append((m.group(1) or "", m.group(2) or "", index))
        spans.append((m.start() + off, m.end() + off))
