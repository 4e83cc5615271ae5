"""Text files: line by line, each differing line as numbers, words and characters.

Both files are read in blocks; where blocks are equal, their whole lines are skipped without
decoding (the probe doubles up to 1 MiB while they stay equal). A line pair that differs is
decoded (UTF-8; a bad byte stays distinct: surrogateescape), stripped of ``ignore`` matches
and split into tokens. A line longer than 64 KiB is compared as a stream of pieces, so memory
stays bounded whatever the line length.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from . import layout, resync
from .binary import first_difference, open_file
from .linecheck import LineCheck, label, output_line
from .lines import Located, brief_at, context, first_token_difference
from .lines import first_difference as first_char
from .quick import settle
from .reader import CHUNK, Reader
from .result import Preview
from .streamed import first_difference_at, locate, locate_character, locate_marks
from .tokens import PIECE, line_tokens, stream_tokens

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .linecheck import Locate
    from .options import Options
    from .result import Result


_PROBE = 4096  # bytes compared first after a difference


def compare_text(expected: str, actual: str, res: Result, opt: Options) -> None:
    with open(open_file(expected), "rb", buffering=0) as fe, open(
        open_file(actual), "rb", buffering=0
    ) as fa:
        e, a = Reader(fe), Reader(fa)
        walk = _Walk(e, a, res, opt)
        probe, stepping = _PROBE, False
        while True:
            if stepping:
                # The pair before differed: so does the next, most likely (numbers that
                # moved in their last digits, line after line). Line by line then, until
                # a pair is equal: no probe, which would only find the difference at once.
                if not ((e.pos < len(e.buf) or e.fill(1)) and (a.pos < len(a.buf) or a.fill(1))):
                    break
                stepping = walk.pair()
                continue
            have = min(e.fill(probe), a.fill(probe), probe)
            if not have:
                break
            be, ba = e.buf[e.pos : e.pos + have], a.buf[a.pos : a.pos + have]
            if be == ba:
                whole = be.rfind(b"\n") + 1
                if whole:  # equal whole lines: skip them
                    walk.skip(be.count(b"\n", 0, whole))
                    e.pos += whole
                    a.pos += whole
                    probe = min(2 * probe, CHUNK)
                    continue
            else:
                whole = be.rfind(b"\n", 0, first_difference(be, ba)) + 1
                walk.skip(be.count(b"\n", 0, whole))
                e.pos += whole
                a.pos += whole
                probe = _PROBE
            stepping = walk.pair()
        res.lines = walk.n
        _rest(walk.n, walk.m, e, a, res)


class _Walk:
    """Both files' lines in pairs: their numbers (``n`` expected, ``m`` output: they part
    where lines are missing or extra), and when to look for where the files agree again
    (see :mod:`.resync`)."""

    def __init__(self, e: Reader, a: Reader, res: Result, opt: Options) -> None:
        self.e, self.a, self.res, self.opt = e, a, res, opt
        self.n = self.m = 0  # lines of each file walked
        self.paired = 0  # pairs to compare as changed lines, without looking ahead
        self.rest = 0  # pairs before the next look ahead (the last one found nothing)

    def skip(self, count: int) -> None:
        """``count`` equal lines walked past; a look ahead's findings end with them."""
        self.n += count
        self.m += count
        self.paired = max(0, self.paired - count)
        self.rest = max(0, self.rest - count)

    def pair(self) -> bool:
        """Compare the next pair of lines; whether they differed as bytes."""
        e, a, res, opt = self.e, self.a, self.res, self.opt
        le, la = e.line(PIECE), a.line(PIECE)
        if le is not None and la is not None:
            if le == la:
                self.skip(1)
                return False
            self.n += 1
            self.m += 1
            if self.paired or self.rest:
                self.paired = max(0, self.paired - 1)
                self.rest = max(0, self.rest - 1)
                _short_pair(self.n, le, la, res, opt, self.m)
                return True
            deferred = _short_pair(self.n, le, la, res, opt, self.m, unlike=True)
            if deferred is not None:  # the files may agree again a few lines on
                e.pos -= len(le)
                a.pos -= len(la)
                if self._resync():  # no: this pair is a changed one, shown as it was found
                    e.line(PIECE)
                    a.line(PIECE)
                    deferred()
            return True
        if le is not None:
            e.pos -= len(le)
        if la is not None:
            a.pos -= len(la)
        self.n += 1
        self.m += 1
        self.paired = max(0, self.paired - 1)
        self.rest = max(0, self.rest - 1)
        return _long_pair(self.n, self.m, e, a, res, opt)

    def _resync(self) -> bool:
        """Look ahead from the current pair (expected line ``n + 1``, output line ``m + 1``,
        still unread); whether that pair is to be compared as it is (a changed line)."""
        found = resync.search(self.e, self.a, self.opt)
        if found is None:
            self.rest = resync.WINDOW // 2 - 1  # (the pairs after this one: see resync)
            return True
        k, j = found  # expected lines, output lines before the files agree again
        if k == j:
            self.paired = max(k - 1, 0)
            return True
        self.n -= 1  # (counted as read: _left_out counts from the lines before)
        self.m -= 1
        self._left_out(abs(k - j), self.e if k > j else self.a, missing=k > j)
        self.paired = min(k, j)
        return False

    def _left_out(self, count: int, reader: Reader, missing: bool) -> None:
        """``count`` lines of one file that the other lacks: one difference, showing the
        first."""
        first = _decode(reader.line(PIECE) or b"")
        for _ in range(count - 1):
            reader.line(PIECE)
        res = self.res
        res.differing_lines += count
        start = (self.n if missing else self.m) + 1
        which = "expected" if missing else "output"
        lines = f"line {start}" if count == 1 else f"lines {start} to {start + count - 1}"
        verb = "is" if count == 1 else "are"
        verb += " missing from the output" if missing else " extra"
        msg = f"{which} {lines} {verb}: {brief_at(first, 0)}"
        if count > 1:
            msg += f" (the first of {count})"
        if missing:
            shown = context(first, None, 0, None)
            res.add(msg, line=start, expected=first, output_line=self.m + 1, **shown)
            self.n += count
        else:
            shown = context(None, first, None, 0)
            res.add(msg, line=self.n + 1, actual=first, output_line=start, **shown)
            self.m += count


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "surrogateescape").rstrip("\r\n")


def _short_pair(
    n: int, le: bytes, la: bytes, res: Result, opt: Options, m: int = 0, unlike: bool = False
) -> Callable[[], None] | None:
    """Compare a pair of lines (expected line ``n``, output line ``m``: the same when 0);
    with ``unlike``, a pair whose tokens differ (not alike, see :func:`_alike`, or numbers
    beyond tolerance) is not recorded yet: a line may be missing or extra before it. What
    records it is returned then (the work done so far is not done again); else None."""
    m = m or n
    raw_e, raw_a = _decode(le), _decode(la)
    ex, ac = (opt.strip(raw_e), opt.strip(raw_a)) if opt.ignore else (raw_e, raw_a)
    shown = ex, ac  # (trailing blanks are not compared, but shown)
    if opt.blanks and not opt.exact:
        ex, ac = ex.rstrip(), ac.rstrip()  # (layout.trailing, inline: every differing line)
    if ex == ac:
        return None
    if opt.exact:
        exact = _exact_later(n, m, raw_e, raw_a, res, opt)
        if unlike:
            return exact
        exact()
        return None
    where = n if n == m else f"{n} (output line {m})"
    if not opt.fields and not opt.tol.skip and settle(where, ex, ac, opt.tol, res, opt.blanks):
        return None  # (numbers within tolerance, the text around them equal: quick.py)
    # (The rest in functions of their own: a variable a nested function uses is a cell from
    # the call's start, which costs every line the quick path settles 3% more.)
    return _by_tokens(n, m, (raw_e, raw_a), (ex, ac), shown, res, opt, unlike)


def _exact_later(
    n: int, m: int, raw_e: str, raw_a: str, res: Result, opt: Options
) -> Callable[[], None]:
    def exact() -> None:
        _exact(n, m, lambda: Located(raw_e, raw_a, opt).at_character(), res)

    return exact


def _by_tokens(
    n: int,
    m: int,
    raw: tuple[str, str],
    compared: tuple[str, str],
    shown: tuple[str, str],
    res: Result,
    opt: Options,
    unlike: bool,
) -> Callable[[], None] | None:
    """A differing pair token by token (see :func:`_short_pair`)."""
    ex, ac = compared
    te, ta = line_tokens(ex, opt), line_tokens(ac, opt)
    check = LineCheck(n, res, opt, _locator(raw, opt), m)
    count = len(te) == len(ta)
    fed = count and not (unlike and not _alike(te, ta))
    if fed:
        check.feed(te, ta)
    if unlike and (not fed or check.bad):  # (a row of a table may be missing too)
        return functools.partial(_record, check, te, ta, fed, raw, compared, shown, opt)
    _record(check, te, ta, fed, raw, compared, shown, opt)
    return None


def _locator(raw: tuple[str, str], opt: Options) -> Locate:
    def locate_tokens(wanted: list[int]) -> dict[int, dict[str, Any]]:
        # (made only for a listed difference: most differing lines of a long file are not)
        located = Located(raw[0], raw[1], opt)
        return {i: located.at_token(i) for i in wanted}

    return locate_tokens


def _record(
    check: LineCheck,
    te: list[Any],
    ta: list[Any],
    fed: bool,
    raw: tuple[str, str],
    compared: tuple[str, str],
    shown: tuple[str, str],
    opt: Options,
) -> None:
    """Add what a pair's tokens (and blanks) show to the result."""
    count = len(te) == len(ta)
    if not count:
        check.first_text = first_token_difference(te, ta)
    elif not fed:
        check.feed(te, ta)
    check.finish(len(te), len(ta), *shown)
    if opt.blanks and count and not check.bad:
        found = layout.difference(*compared)
        if found is not None:
            at = Located(raw[0], raw[1], opt).at_positions
            _blanks(check.n, check.m, found, at, check.res)


def _alike(te: list[Any], ta: list[Any]) -> bool:
    """Whether two lines' tokens pair up: as many, each pair two numbers or equal (a changed
    line, not a line missing on one side)."""
    if len(te) != len(ta):
        return False
    return all((x[0] and y[0]) or x[:2] == y[:2] for x, y in zip(te, ta))


def _blanks(n: int, m: int, found: Any, at_marks: Callable[[int, int], Any], res: Result) -> None:
    """A line pair whose tokens agree but whose blanks differ: one difference, marked at the
    first character where the blank runs differ."""
    res.differing_lines += 1
    if res.full:
        res.add_unlisted()
        return
    pos_e, pos_a, run_e, run_a = found
    at = first_char(run_e, run_a)
    where = at_marks(pos_e + at, pos_a + at)
    msg = f"{label(n, m)}, column {where['column']}: whitespace differs: "
    msg += f"{layout.describe(run_e)} expected, {layout.describe(run_a)} found"
    extra = output_line(n, m)
    res.add(msg, line=n, expected=run_e, actual=run_a, **where, **extra)


def _exact(n: int, m: int, find: Callable[[], dict[str, Any]], res: Result) -> None:
    """``mode = "text"``: a differing line is one difference, shown at its first differing
    character, which ``find`` locates (only for a difference that is listed)."""
    res.differing_lines += 1
    if res.full:  # counted only: locating and describing it is wasted work
        res.add_unlisted()
        return
    found = find()
    line_e, line_a = found["expected_line"], found["actual_line"]
    msg = f"{label(n, m)}, column {found['column']}: expected "
    msg += f"{brief_at(line_e, found['expected_mark'] or 0)}, got "
    msg += brief_at(line_a, found["actual_mark"] or 0)
    extra = output_line(n, m)
    res.add(msg, line=n, expected=line_e, actual=line_a, **found, **extra)


def _again(reader: Reader, start: int) -> Callable[[], Iterator[str]]:
    """The pieces of the line that starts at ``start``, read again."""

    def texts() -> Iterator[str]:
        reader.seek(start)
        return reader.texts()

    return texts


def _long_pair(n: int, m: int, e: Reader, a: Reader, res: Result, opt: Options) -> bool:
    """A pair of lines of which one is longer than PIECE: equal bytes first, else tokens;
    whether they differed as bytes."""
    starts = e.offset, a.offset
    while True:
        (pe, done), (pa, _) = e.piece(4 * PIECE), a.piece(4 * PIECE)
        if pe != pa:
            break
        if done:  # the same bytes to the end of both lines
            return False
    texts_e, texts_a = _again(e, starts[0]), _again(a, starts[1])
    if opt.exact:
        mark = first_difference_at(texts_e, texts_a, opt)
        if mark is not None:
            _exact(n, m, lambda: locate_character(texts_e, texts_a, opt, mark), res)
        for reader, start in zip((e, a), starts):  # on to the next line
            reader.seek(start)
            for _ in reader.texts():
                pass
        return True
    check = LineCheck(n, res, opt, lambda wanted: locate(texts_e, texts_a, opt, wanted), m)
    previews = Preview(), Preview()
    te = stream_tokens(texts_e(), opt, previews[0].add)
    ta = stream_tokens(texts_a(), opt, previews[1].add)
    count_e, count_a = _pairwise(te, ta, check)
    ends = e.offset, a.offset
    check.finish(count_e, count_a, *previews)
    if opt.blanks and count_e == count_a and not check.bad:
        runs_e, runs_a = layout.streamed_runs(texts_e(), opt), layout.streamed_runs(texts_a(), opt)
        found = layout.first_run(runs_e, runs_a)
        if found is not None:
            _blanks(
                n, m, found, lambda at_e, at_a: locate_marks(texts_e, texts_a, opt, at_e, at_a), res
            )
    for reader, end in zip((e, a), ends):  # (locating the differences read the lines again)
        reader.seek(end)
    return True


def _pairwise(
    te: Iterator[list[Any]], ta: Iterator[list[Any]], check: LineCheck
) -> tuple[int, int]:
    """Feed both token streams to ``check`` in equally long runs; both token counts."""
    xe: list[Any] = []
    xa: list[Any] = []
    ne = na = 0
    while True:
        while ne == len(xe):
            more = next(te, None)
            if more is None:
                break
            xe, ne = more, 0
        while na == len(xa):
            more = next(ta, None)
            if more is None:
                break
            xa, na = more, 0
        if ne == len(xe) or na == len(xa):  # a line ended
            break
        k = min(len(xe) - ne, len(xa) - na)
        check.feed(xe[ne : ne + k], xa[na : na + k])
        ne, na = ne + k, na + k
    rest_e = len(xe) - ne + sum(len(x) for x in te)
    rest_a = len(xa) - na + sum(len(x) for x in ta)
    return check.index + rest_e, check.index + rest_a


def _rest(n: int, m: int, e: Reader, a: Reader, res: Result) -> None:
    """The lines of one file after the other ended (after expected line ``n`` and output
    line ``m``): one difference each way, showing the first line that is missing or extra."""
    extra_keys = output_line(n + 1, m + 1)
    if e.fill(1):
        preview = Preview()
        for piece in e.texts():
            preview.add(piece)
        missing = 1 + _count_lines(e)
        what = f"{missing} more lines, the first" if missing > 1 else "1 more line"
        msg = f"line {n + 1}: actual ends after line {m}; expected has {what}: "
        msg += preview.brief()
        res.differing_lines += missing
        shown = context(preview.cut(), None, 0, None)
        res.add(msg, line=n + 1, expected=preview.cut(), **shown, **extra_keys)
        res.note(msg)
    if a.fill(1):
        preview = Preview()
        for piece in a.texts():
            preview.add(piece)
        extra = 1 + _count_lines(a)
        msg = f"{label(n + 1, m + 1)}: extra line in actual: {preview.brief()}"
        if extra > 1:
            msg += f" (and {extra - 1} more)"
        res.differing_lines += extra
        shown = context(None, preview.cut(), None, 0)
        res.add(msg, line=n + 1, actual=preview.cut(), **shown, **extra_keys)
        res.note(msg)


def _count_lines(reader: Reader) -> int:
    """The lines from here to the end (a last one without a line end counts)."""
    count, last = 0, b"\n"
    while reader.fill(1):
        block = reader.buf[reader.pos :]
        count += block.count(b"\n")
        last = block[-1:]
        reader.pos = len(reader.buf)
    return count + (last != b"\n")
