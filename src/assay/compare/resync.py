"""Finding the lines again after a line was inserted or deleted, as diff would, in bounded
memory.

When a pair of lines differs and is not alike (other words, or other token counts: not
numbers that moved), the next ``WINDOW`` lines of both files are looked at without being
read (their bytes are in the readers' buffers) and matched as diff does
(``difflib.SequenceMatcher`` on the lines as compared: ``ignore`` matches removed, line
ends and, in mode "numeric", trailing blanks left out). The first matching line pair is
where the files agree again: ``k`` expected lines and ``l`` output lines before it. With
``k == l`` they are changed lines, compared pair by pair; else the first ``|k - l|`` lines
of the longer side are missing from the output (or extra in it), and the rest pair up.

Why 64 lines: an inserted or deleted block of up to 63 lines (a warning with its stack
trace, a banner, a help text) is found, and the look costs at most 2 x 64 lines of bytes
(at most 1 MiB a side beyond the line being read: a line longer than 64 KiB ends the
window). Numbers that moved never start a look (such a line pair is alike); and a look that
finds no matching line is not made again for the next 32 pairs, which that look already
covered in the main, so files that differ everywhere cost each line a few look-ups, not 64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tokens import PIECE

if TYPE_CHECKING:
    from .options import Options
    from .reader import Reader

WINDOW = 64  # lines of each file looked at
_WINDOW_BYTES = 1 << 20  # bytes of each file looked at, at most (beyond the line read)


def peek(reader: Reader, count: int) -> list[bytes]:
    """The next ``count`` lines of ``reader`` without their line ends (fewer at its end,
    before a line longer than ``PIECE`` or past ``_WINDOW_BYTES``), left unread."""
    size = _FIRST_LOOK
    while True:  # (one split of a slice: a line at a time costs 5x as much)
        have = reader.fill(size)
        whole = have < size  # the rest of the file is at hand
        parts = reader.buf[reader.pos : reader.pos + min(have, size)].split(b"\n", count)
        if len(parts) > count or whole or size >= _WINDOW_BYTES:
            break
        size *= 4
    lines = parts[:count] if len(parts) > count or (whole and parts[-1]) else parts[:-1]
    for i, line in enumerate(lines):
        if len(line) >= PIECE:
            return lines[:i]  # a long line: compared as a stream, never looked ahead at
    return lines


_FIRST_LOOK = 16384  # bytes looked at first (64 lines of 256 bytes)


def keys(lines: list[bytes], opt: Options) -> list[Any]:
    """The lines as they are compared: equal keys, equal lines (not the other way round:
    numbers within tolerance have other keys)."""
    if not opt.ignore:
        if opt.exact:
            return [x.rstrip(b"\r") for x in lines]
        if opt.blanks:
            return [x.rstrip() for x in lines]
        return [tuple(x.split()) for x in lines]
    texts = [opt.strip(x.decode("utf-8", "surrogateescape").rstrip("\r")) for x in lines]
    if opt.exact:
        return texts
    return [x.rstrip() for x in texts] if opt.blanks else [tuple(x.split()) for x in texts]


def search(e: Reader, a: Reader, opt: Options) -> tuple[int, int] | None:
    """Where the files agree again from the current lines on: ``(k, j)``, the lines of each
    before the first matching pair; None when the windows have no line in common."""
    near_e, near_a = peek(e, 2), peek(a, 2)
    if len(near_e) < 2 and len(near_a) < 2:
        return 1, 1  # both end after this pair (or go on with a long line): a changed line
    if len(near_e) == len(near_a) == 2 and keys(near_e[1:], opt) == keys(near_a[1:], opt):
        return 1, 1  # the common case, cheaply: the next lines agree, this one changed
    keys_e, keys_a = keys(peek(e, WINDOW), opt), keys(peek(a, WINDOW), opt)
    if set(keys_e).isdisjoint(keys_a):
        return None  # (numbers that moved, line after line: no line in common)
    import difflib  # (here: most comparisons never look ahead; its import costs 1 ms)

    first = difflib.SequenceMatcher(None, keys_e, keys_a, autojunk=False).get_matching_blocks()[0]
    if not first.size:
        return None
    # A line that recurs (a blank line, a row of zeros) can match one further on while the
    # files go on side by side: equal lines at the same distance on both sides win then.
    for t in range(1, min(max(first.a, first.b), len(keys_e), len(keys_a))):
        if keys_e[t] == keys_a[t]:
            return t, t
    return first.a, first.b
