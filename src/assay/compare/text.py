"""Text files: line by line, each differing line as numbers, words and characters.

Both files are read in blocks; where blocks are equal, their whole lines are skipped without
decoding (the probe doubles up to 1 MiB while they stay equal). A line pair that differs is
decoded (UTF-8; a bad byte stays distinct: surrogateescape), stripped of ``ignore`` matches
and split into tokens. A line longer than 64 KiB is compared as a stream of pieces, so memory
stays bounded whatever the line length.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING, Any

from .binary import first_difference, open_file
from .lines import Located, brief_at, context, first_token_difference
from .numeric import ZERO, errors, exceeds
from .quick import settle
from .result import BRIEF, Preview, brief, cut
from .streamed import first_difference_at, locate, locate_character
from .tokens import PIECE, line_tokens, stream_tokens

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

    from .numeric import Err
    from .options import Options
    from .result import Result

    Locate = Callable[[list[int]], dict[int, dict[str, Any]]]  # token indexes -> context

CHUNK = 1 << 20  # bytes read at a time
_PROBE = 4096  # bytes compared first after a difference
_BOM = b"\xef\xbb\xbf"


class Reader:
    """One file's bytes, buffered, handed out as blocks, lines and pieces of lines."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.base = 0  # the file offset of buf[0]
        self.eof = False
        if self.fill(3) >= 3 and self.buf.startswith(_BOM):
            self.pos = 3  # a byte order mark is not content

    def fill(self, want: int) -> int:
        """Make ``want`` bytes available after ``pos`` (fewer at the end); how many are."""
        have = len(self.buf) - self.pos
        if have >= want or self.eof:
            return have
        parts = [self.buf[self.pos :]]
        while have < want:
            chunk = self.fh.read(max(CHUNK, want - have))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.base += self.pos
        self.buf, self.pos = b"".join(parts), 0
        return have

    def line(self, limit: int) -> bytes | None:
        """The next line (with its end) if it is at most ``limit`` bytes, else None."""
        have = len(self.buf) - self.pos
        if have <= limit:
            have = self.fill(limit + 1)
        end = self.buf.find(b"\n", self.pos, self.pos + min(have, limit + 1))
        if end >= 0:
            end += 1
        elif have <= limit and self.eof:
            end = self.pos + have
        else:
            return None
        line = self.buf[self.pos : end]
        self.pos = end
        return line

    def piece(self, limit: int) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of the current line, and whether they end it."""
        have = self.fill(limit)
        end = self.buf.find(b"\n", self.pos, self.pos + min(have, limit))
        done = end >= 0 or (have <= limit and self.eof)
        end = end + 1 if end >= 0 else self.pos + min(have, limit)
        piece = self.buf[self.pos : end]
        self.pos = end
        return piece, done

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def seek(self, offset: int) -> None:
        self.fh.seek(offset)
        self.buf, self.pos, self.base, self.eof = b"", 0, offset, False

    def texts(self) -> Iterator[str]:
        """The current line, decoded in pieces, without its line end."""
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        done, held = False, ""
        while not done:
            raw, done = self.piece(PIECE)
            text = held + decoder.decode(raw, final=done)
            if done:
                text = text.rstrip("\r\n")
            else:  # a CR that may end the line stays with the piece that shows whether it does
                kept = text.rstrip("\r")
                text, held = kept, text[len(kept) :]
            yield text


def compare_text(expected: str, actual: str, res: Result, opt: Options) -> None:
    with open(open_file(expected), "rb", buffering=0) as fe, open(
        open_file(actual), "rb", buffering=0
    ) as fa:
        e, a = Reader(fe), Reader(fa)
        pairs, probe, stepping = 0, _PROBE, False
        while True:
            if stepping:
                # The pair before differed: so does the next, most likely (numbers that
                # moved in their last digits, line after line). Line by line then, until
                # a pair is equal: no probe, which would only find the difference at once.
                if not ((e.pos < len(e.buf) or e.fill(1)) and (a.pos < len(a.buf) or a.fill(1))):
                    break
                pairs += 1
                stepping = _line_pair(pairs, e, a, res, opt)
                continue
            have = min(e.fill(probe), a.fill(probe), probe)
            if not have:
                break
            be, ba = e.buf[e.pos : e.pos + have], a.buf[a.pos : a.pos + have]
            if be == ba:
                whole = be.rfind(b"\n") + 1
                if whole:  # equal whole lines: skip them
                    pairs += be.count(b"\n", 0, whole)
                    e.pos += whole
                    a.pos += whole
                    probe = min(2 * probe, CHUNK)
                    continue
            else:
                whole = be.rfind(b"\n", 0, first_difference(be, ba)) + 1
                pairs += be.count(b"\n", 0, whole)
                e.pos += whole
                a.pos += whole
                probe = _PROBE
            pairs += 1
            stepping = _line_pair(pairs, e, a, res, opt)
        res.lines = pairs
        _rest(pairs, e, a, res)


def _line_pair(n: int, e: Reader, a: Reader, res: Result, opt: Options) -> bool:
    """Compare the next pair of lines; whether they differed as bytes."""
    le, la = e.line(PIECE), a.line(PIECE)
    if le is not None and la is not None:
        if le == la:
            return False
        _short_pair(n, le, la, res, opt)
        return True
    if le is not None:
        e.pos -= len(le)
    if la is not None:
        a.pos -= len(la)
    return _long_pair(n, e, a, res, opt)


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "surrogateescape").rstrip("\r\n")


def _short_pair(n: int, le: bytes, la: bytes, res: Result, opt: Options) -> None:
    raw_e, raw_a = _decode(le), _decode(la)
    ex, ac = (opt.strip(raw_e), opt.strip(raw_a)) if opt.ignore else (raw_e, raw_a)
    if ex == ac:
        return
    if opt.exact:
        _exact(n, lambda: Located(raw_e, raw_a, opt).at_character(), res)
        return
    if not opt.fields and not opt.tol.skip and settle(n, ex, ac, opt.tol, res):
        return  # (numbers within tolerance, the text around them equal: quick.py)
    te, ta = line_tokens(ex, opt), line_tokens(ac, opt)

    def locate_tokens(wanted: list[int]) -> dict[int, dict[str, Any]]:
        # (made only for a listed difference: most differing lines of a long file are not)
        located = Located(raw_e, raw_a, opt)
        return {i: located.at_token(i) for i in wanted}

    check = LineCheck(n, res, opt, locate_tokens)
    if len(te) == len(ta):
        check.feed(te, ta)
    else:
        check.first_text = first_token_difference(te, ta)
    check.finish(len(te), len(ta), ex, ac)


def _exact(n: int, find: Callable[[], dict[str, Any]], res: Result) -> None:
    """``mode = "text"``: a differing line is one difference, shown at its first differing
    character, which ``find`` locates (only for a difference that is listed)."""
    res.differing_lines += 1
    if res.full:  # counted only: locating and describing it is wasted work
        res.add_unlisted()
        return
    found = find()
    line_e, line_a = found["expected_line"], found["actual_line"]
    msg = f"line {n}, column {found['column']}: expected "
    msg += f"{brief_at(line_e, found['expected_mark'] or 0)}, got "
    msg += brief_at(line_a, found["actual_mark"] or 0)
    res.add(msg, line=n, expected=line_e, actual=line_a, **found)


def _again(reader: Reader, start: int) -> Callable[[], Iterator[str]]:
    """The pieces of the line that starts at ``start``, read again."""

    def texts() -> Iterator[str]:
        reader.seek(start)
        return reader.texts()

    return texts


def _long_pair(n: int, e: Reader, a: Reader, res: Result, opt: Options) -> bool:
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
            _exact(n, lambda: locate_character(texts_e, texts_a, opt, mark), res)
        for reader, start in zip((e, a), starts):  # on to the next line
            reader.seek(start)
            for _ in reader.texts():
                pass
        return True
    check = LineCheck(n, res, opt, lambda wanted: locate(texts_e, texts_a, opt, wanted))
    previews = Preview(), Preview()
    te = stream_tokens(texts_e(), opt, previews[0].add)
    ta = stream_tokens(texts_a(), opt, previews[1].add)
    count_e, count_a = _pairwise(te, ta, check)
    ends = e.offset, a.offset
    check.finish(count_e, count_a, *previews)
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


class LineCheck:
    """The tokens of one line pair, compared in order; what they show is added to the
    result at the end, unless the token counts differ: then the line is one difference."""

    def __init__(self, n: int, res: Result, opt: Options, locate: Locate) -> None:
        self.n, self.res = n, res
        self.locate = locate  # where differences at token indexes are, to show them
        self.first_text: int | None = None  # the first token that differs as text
        self.tols = opt.token_tols
        self.skips = any(t.skip for t in self.tols)
        self.index = 0  # tokens fed so far
        self.values = 0
        self.bad = 0
        self.records: list[dict[str, Any]] = []
        self.unlisted = 0
        # The largest errors (None: no number compared yet) and the tokens they are at.
        self.max_abs: Err | None = None
        self.max_rel: Err | None = None
        self.at_abs = self.at_rel = 0

    def feed(self, te: list[Any], ta: list[Any]) -> None:
        """Compare equally long runs of tokens of both lines."""
        if te == ta:
            self._equal(te)
            return
        tols, first = self.tols, self.index + 1
        for i, (x, y) in enumerate(zip(te, ta), first):
            if self.first_text is None and x[:2] != y[:2]:
                self.first_text = i
            tol = tols[x[2]] if len(x) > 2 else tols[0]
            if tol.skip:
                continue
            self.values += 1
            if x[0] and y[0]:
                abs_err: Err
                rel_err: Err | None
                if x[0] == y[0]:
                    abs_err, rel_err, ok = ZERO, ZERO, True
                else:
                    ok, abs_err, rel_err = errors(x[0], y[0], tol)
                if self.max_abs is None or abs_err > self.max_abs:
                    self.max_abs, self.at_abs = abs_err, i
                if rel_err is not None and (self.max_rel is None or rel_err > self.max_rel):
                    self.max_rel, self.at_rel = rel_err, i
                if ok:
                    continue
                self.bad += 1
                if self._listed():
                    msg = f"{self.where(i)}: expected {cut(x[0], BRIEF)}, "
                    msg += f"got {cut(y[0], BRIEF)} ({exceeds(abs_err, rel_err, tol)})"
                    self._record(msg, i, x[0], y[0], (abs_err, rel_err))
            elif x[:2] != y[:2]:
                self.bad += 1
                if self._listed():
                    es, as_ = x[0] or x[1], y[0] or y[1]
                    msg = f"{self.where(i)}: expected {brief(es)}, got {brief(as_)}"
                    self._record(msg, i, es, as_, None)
        self.index += len(te)

    def where(self, i: int) -> str:
        return f"line {self.n}, token {i}"

    def _equal(self, tokens: list[Any]) -> None:
        count = len(tokens)
        if self.skips:
            count -= sum(1 for t in tokens if len(t) > 2 and self.tols[t[2]].skip)
        self.values += count
        if self.max_abs is None or self.max_rel is None:  # equal numbers: errors of 0
            for i, t in enumerate(tokens, self.index + 1):
                if t[0] and not (len(t) > 2 and self.tols[t[2]].skip):
                    if self.max_abs is None:
                        self.max_abs, self.at_abs = ZERO, i
                    if self.max_rel is None:
                        self.max_rel, self.at_rel = ZERO, i
                    break
        self.index += len(tokens)

    def _listed(self) -> bool:
        """Whether a new difference is listed (else only counted)."""
        if len(self.records) < self.res.limit - len(self.res.differences):
            return True
        self.unlisted += 1
        return False

    def _record(
        self, msg: str, i: int, ex: str, ac: str, errs: tuple[Err, Err | None] | None
    ) -> None:
        self.records.append(
            {"message": msg, "token": i, "expected": ex, "actual": ac, "errors": errs}
        )

    def finish(self, count_e: int, count_a: int, pe: Preview | str, pa: Preview | str) -> None:
        """Add what the line pair showed to the result."""
        res = self.res
        if count_e != count_a:
            res.values += 1
            res.differing_values += 1
            res.differing_lines += 1
            if res.full:  # counted only: locating and describing it is wasted work
                res.add_unlisted()
                return
            shown = [p if isinstance(p, Preview) else Preview().add_all(p) for p in (pe, pa)]
            token = self.first_text or min(count_e, count_a) + 1
            where = self.locate([token])[token]
            msg = f"line {self.n}, token {token}: expected {count_e} tokens, got {count_a}: "
            msg += f"{shown[0].brief()} vs {shown[1].brief()}"
            res.add(
                msg,
                line=self.n,
                token=token,
                expected=shown[0].cut(),
                actual=shown[1].cut(),
                **where,
            )
            return
        if isinstance(pe, Preview) and isinstance(pa, Preview) and not self.bad and pe.same(pa):
            return  # the same text once ignore patterns are removed: not a differing line
        res.values += self.values
        if self.max_abs is not None:
            res.numeric(self.max_abs, None, self.where(self.at_abs))
        if self.max_rel is not None:
            res.numeric(ZERO, self.max_rel, self.where(self.at_rel))
        located = self.locate([r["token"] for r in self.records]) if self.records else {}
        for record in self.records:
            res.add(line=self.n, **record, **located[record["token"]])
        if self.unlisted:
            res.found += self.unlisted
            res.truncated = True
        if self.bad:
            res.differing_lines += 1
            res.differing_values += self.bad


def _rest(pairs: int, e: Reader, a: Reader, res: Result) -> None:
    """The lines of one file after the other ended: one difference each way, showing the
    first line that is missing or extra."""
    if e.fill(1):
        preview = Preview()
        for piece in e.texts():
            preview.add(piece)
        missing = 1 + _count_lines(e)
        what = f"{missing} more lines, the first" if missing > 1 else "1 more line"
        msg = f"line {pairs + 1}: actual ends after line {pairs}; expected has {what}: "
        msg += preview.brief()
        res.differing_lines += missing
        shown = context(preview.cut(), None, 0, None)
        res.add(msg, line=pairs + 1, expected=preview.cut(), **shown)
        res.note(msg)
    if a.fill(1):
        preview = Preview()
        for piece in a.texts():
            preview.add(piece)
        extra = 1 + _count_lines(a)
        msg = f"line {pairs + 1}: extra line in actual: {preview.brief()}"
        if extra > 1:
            msg += f" (and {extra - 1} more)"
        res.differing_lines += extra
        shown = context(None, preview.cut(), None, 0)
        res.add(msg, line=pairs + 1, actual=preview.cut(), **shown)
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
