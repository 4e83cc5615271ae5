"""CSV and TSV files: cells paired by column name, rows in order or by key columns.

A column name that appears more than once pairs its occurrences in order: the second ``x``
of expected with the second ``x`` of actual (shown as ``'x' (occurrence 2)``). Rows are read
one at a time (memory grows with the widest row, not with the file), except with ``key``.
"""

from __future__ import annotations

import csv
import os
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import IO, TYPE_CHECKING, Any

from .binary import MAX_OUTPUT_BYTES, open_file, too_large
from .numeric import NUMBER_CELL, errors, exceeds
from .result import brief, quote

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from .numeric import Tol
    from .options import Options
    from .result import Result

    # expected index, name, occurrence (0: a unique name), actual index, tolerances
    _Column = tuple[int, str, int, int | None, Tol]
    _Rows = Iterator[tuple[int, list[str]]]  # (the line a row starts on, its cells)

_FIELD_LIMIT = (1 << 31) - 1  # the csv module refuses cells over 128 KiB by default


def compare_csv(expected: str, actual: str, res: Result, opt: Options) -> None:
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    tab = expected.lower().endswith(".tsv")
    delimiter = opt.delimiter or ("\t" if tab else ",")
    with _open_text(expected) as fe, _open_text(actual) as fa:
        re_ = _rows(csv.reader(_stripped(fe, opt), delimiter=delimiter))
        ra = _rows(csv.reader(_stripped(fa, opt), delimiter=delimiter))
        he: list[str] = []
        ha: list[str] = []
        if opt.header:  # the first row that is not blank
            he = next((cells for _, cells in re_ if cells), [])
            ha = next((cells for _, cells in ra if cells), [])
            if not he or not ha:
                if he or ha:
                    res.fail(f"{'actual' if he else 'expected'} is empty, the other is not")
                return
            _header(he, ha, res)
        row = _RowPair(res, opt, _columns(he, ha, opt), he, ha, delimiter)
        if opt.key:
            _by_key(re_, ra, row)
            return
        missing = extra = 0
        first_missing: tuple[int, list[str]] | None = None
        first_extra: tuple[int, list[str]] | None = None
        for pe, pa in zip_longest(re_, ra):
            if pa is None:
                first_missing = first_missing or pe
                missing += 1
            elif pe is None:
                first_extra = first_extra or pa
                extra += 1
            else:
                row.compare(pe[0], pe[1], pa[1])
    if first_missing:
        line, cells = first_missing
        text = delimiter.join(cells)
        what = f"{missing} more rows, the first" if missing > 1 else "1 more row"
        msg = f"line {line}: actual ends before this row; expected has {what}: {brief(text)}"
        res.differing_lines += missing
        res.add(msg, line=line, expected=text)
        res.note(msg)
    if first_extra:
        line, cells = first_extra
        msg = f"line {line}: extra row in actual: {brief(delimiter.join(cells))}"
        msg += f" (and {extra - 1} more)" if extra > 1 else ""
        res.differing_lines += extra
        res.add(msg, line=line, actual=delimiter.join(cells))
        res.note(msg)


def _open_text(path: str) -> IO[str]:
    # utf-8-sig: a byte order mark is not part of the first column's name; surrogateescape:
    # two different bad bytes stay different.
    fd = open_file(path)
    size = os.fstat(fd).st_size
    if size > MAX_OUTPUT_BYTES:  # (a keyed comparison holds every row, a cell may be huge)
        os.close(fd)
        raise ValueError(too_large(path, size))
    return open(fd, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _rows(reader: Any) -> _Rows:
    """The rows with the line each starts on (a quoted cell can hold line ends)."""
    last = 0
    for cells in reader:
        yield last + 1, cells
        last = reader.line_num


def _stripped(lines: Iterable[str], opt: Options) -> Iterable[str]:
    """``lines`` with the ignore patterns removed (line ends kept)."""
    if not opt.ignore:
        return lines
    return (opt.strip(ln.rstrip("\r\n")) + ln[len(ln.rstrip("\r\n")) :] for ln in lines)


def _occurrences(header: list[str]) -> list[int]:
    """For each column, 0 if its name is unique, else which occurrence of it (1, 2, ...)."""
    total = Counter(header)
    seen: Counter[str] = Counter()
    out = []
    for name in header:
        seen[name] += 1
        out.append(seen[name] if total[name] > 1 else 0)
    return out


def _label(name: str, occurrence: int) -> str:
    return f"{quote(name)} (occurrence {occurrence})" if occurrence else quote(name)


def _columns(he: list[str], ha: list[str], opt: Options) -> list[_Column]:
    index_a: dict[tuple[str, int], int] = {}
    for i, (name, k) in enumerate(zip(ha, _occurrences(ha))):
        index_a[(name, k or 1)] = i
    return [
        (i, name, k, index_a.get((name, k or 1)), opt.column_tol(name))
        for i, (name, k) in enumerate(zip(he, _occurrences(he)))
    ]


def _header(he: list[str], ha: list[str], res: Result) -> None:
    if he == ha:
        return
    keys_e = [(n, k or 1) for n, k in zip(he, _occurrences(he))]
    keys_a = [(n, k or 1) for n, k in zip(ha, _occurrences(ha))]
    in_e, in_a = set(keys_e), set(keys_a)
    for side, keys, other in (("expected", keys_e, in_a), ("actual", keys_a, in_e)):
        what = "missing" if side == "expected" else "extra"
        many = Counter(n for n, _ in keys)
        for i, (name, k) in enumerate(keys, 1):
            if (name, k) in other:
                continue
            where = f"occurrence {k}, column {i}" if many[name] > 1 else f"column {i}"
            msg = f"line 1: {what} column {quote(name)} ({where} of {side})"
            if side == "expected":
                res.add(msg, line=1, column=name, index=i, expected=name)
            else:
                res.add(msg, line=1, column=name, index=i, actual=name)


@dataclass
class _RowPair:
    """Compares one row pair, cell by cell through the column names."""

    res: Result
    opt: Options
    cols: list[_Column]
    he: list[str]
    ha: list[str]
    delimiter: str
    same_header: bool = field(init=False)

    def __post_init__(self) -> None:
        self.same_header = self.he == self.ha

    def columns(self, width: int) -> list[_Column]:
        if self.opt.header:
            return self.cols
        while len(self.cols) < width:  # no header: columns "1", "2", ... by position
            i = len(self.cols)
            self.cols.append((i, str(i + 1), 0, i, self.opt.column_tol(str(i + 1))))
        return self.cols

    def compare(self, line: int, row_e: list[str], row_a: list[str], note: str = "") -> None:
        res = self.res
        res.lines += 1
        if row_e == row_a and self.same_header:
            return
        bad = 0
        for ie, name, k, ia, tol in self.columns(max(len(row_e), len(row_a))):
            if ia is None or tol.skip:
                continue
            ce = row_e[ie] if ie < len(row_e) else None
            ca = row_a[ia] if ia < len(row_a) else None
            if ce is None and ca is None:  # neither row reaches this column
                continue
            res.values += 1
            where = f"line {line}, column {_label(name, k)}"
            info: dict[str, Any] = {"line": line, "column": name, "index": ie + 1}
            if ce is not None and ca is not None:
                se, sa = ce.strip(), ca.strip()
                numbers = NUMBER_CELL.fullmatch(ce) and NUMBER_CELL.fullmatch(ca)
                if numbers and not self.opt.exact:  # (mode "text": cells are text)
                    ok, abs_err, rel_err = errors(se, sa, tol)
                    res.numeric(abs_err, rel_err, where)
                    if ok:
                        continue
                    msg = f"{where}{note}: expected {se[:60]}, got {sa[:60]} "
                    msg += f"({exceeds(abs_err, rel_err, tol)})"
                    res.add(msg, expected=ce, actual=ca, errors=(abs_err, rel_err), **info)
                elif se == sa:
                    continue
                else:
                    msg = f"{where}{note}: expected {brief(ce)}, got {brief(ca)}"
                    res.add(msg, expected=ce, actual=ca, **info)
            else:
                side = "expected" if ce is None else "actual"
                res.add(f"{where}{note}: no such cell in {side}", expected=ce, actual=ca, **info)
            bad += 1
        over_e, over_a = row_e[len(self.he) :], row_a[len(self.ha) :]
        if self.opt.header and over_e != over_a:
            msg = f"line {line}{note}: cells beyond the header differ: "
            msg += f"{brief(str(over_e))} vs {brief(str(over_a))}"
            res.add(msg, line=line, expected=str(over_e), actual=str(over_a))
            bad += 1
        if bad:
            res.differing_lines += 1
            res.differing_values += bad


def _key_columns(opt: Options, header: list[str], side: str) -> list[int] | str:
    """Where the key columns are in ``header`` ("1", "2", ... without a header), or why not."""
    out = []
    for name in opt.key:
        if opt.header and header.count(name) > 1:
            times = header.count(name)
            return (
                f"key: column {name!r} appears {times} times in the header of {side}; "
                "key columns need unique names"
            )
        if opt.header and name in header:
            out.append(header.index(name))
        elif not opt.header and name.isdigit() and int(name) > 0:
            out.append(int(name) - 1)
        else:
            return f"key: column {name!r} is not in the header of {side}; fix the rule's key"
    return out


def _by_key(re_: _Rows, ra: _Rows, row: _RowPair) -> None:
    """Pair rows by the key columns' values; holds the actual rows in memory."""
    res, key, join = row.res, row.opt.key, row.delimiter.join
    ke, ka = _key_columns(row.opt, row.he, "expected"), _key_columns(row.opt, row.ha, "actual")
    if isinstance(ke, str) or isinstance(ka, str):
        res.fail(str(ke if isinstance(ke, str) else ka))
        return

    def key_of(cells: list[str], index: list[int]) -> tuple[str, ...]:
        return tuple(cells[i].strip() if i < len(cells) else "" for i in index)

    def label(values: tuple[str, ...]) -> str:
        return ", ".join(f"{n}={quote(v)}" for n, v in zip(key, values))

    pending: dict[tuple[str, ...], deque[tuple[int, list[str]]]] = {}
    for line_a, cells in ra:
        pending.setdefault(key_of(cells, ka), deque()).append((line_a, cells))
    for line, cells in re_:
        values = key_of(cells, ke)
        queue = pending.get(values)
        if not queue:
            res.differing_lines += 1
            msg = f"line {line}: no row with {label(values)} in actual"
            res.add(msg, line=line, expected=join(cells))
            continue
        line_a, cells_a = queue.popleft()
        if not queue:
            del pending[values]
        row.compare(line, cells, cells_a, f" (actual line {line_a})")
    for line_a, cells in sorted(r for q in pending.values() for r in q):
        res.differing_lines += 1
        msg = f"extra row with {label(key_of(cells, ka))} at line {line_a} of actual"
        res.add(msg, line=line_a, actual=join(cells))
