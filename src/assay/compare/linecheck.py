"""One line pair's tokens, compared in order, and what they show added to the result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .numeric import ZERO, errors, exceeds
from .result import BRIEF, Preview, brief, cut

if TYPE_CHECKING:
    from collections.abc import Callable

    from .numeric import Err
    from .options import Options
    from .result import Result

    Locate = Callable[[list[int]], dict[int, dict[str, Any]]]  # token indexes -> context


def label(n: int, m: int) -> str:
    """Where a line pair is: ``line 12``, or ``line 12 (output line 13)`` once lines were
    missing or extra before it."""
    return f"line {n}" if n == m else f"line {n} (output line {m})"


def output_line(n: int, m: int) -> dict[str, Any]:
    """The key a difference record gets for its output line, when not its expected one."""
    return {"output_line": m} if m != n else {}


class LineCheck:
    """The tokens of one line pair, compared in order; what they show is added to the
    result at the end, unless the token counts differ: then the line is one difference."""

    def __init__(self, n: int, res: Result, opt: Options, locate: Locate, m: int = 0) -> None:
        self.n, self.m, self.res = n, m or n, res
        self.label = label(n, m or n)
        self.extra = output_line(n, m or n)
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
        return f"{self.label}, token {i}"

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
            msg = f"{self.label}, token {token}: expected {count_e} tokens, got {count_a}: "
            msg += f"{shown[0].brief()} vs {shown[1].brief()}"
            res.add(
                msg,
                line=self.n,
                token=token,
                expected=shown[0].cut(),
                actual=shown[1].cut(),
                **where,
                **self.extra,
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
            res.add(line=self.n, **record, **located[record["token"]], **self.extra)
        if self.unlisted:
            res.found += self.unlisted
            res.truncated = True
        if self.bad:
            res.differing_lines += 1
            res.differing_values += self.bad
