"""Compare actual outputs with expected ones: text with numeric tolerances, CSV, JSON, binary.

This module uses only the Python standard library and imports nothing from assay, so that a
job can run it where the outputs are, with any Python >= 3.7, even in isolated mode::

    python3 -m assay.compare SPEC.json [-o VERDICT.json]
    python3 -I /any/dir/compare.py SPEC.json [-o VERDICT.json]

With ``-o`` the verdict (JSON) goes to that file and the one-line summary to stdout; without
it the verdict goes to stdout and the summary to stderr. Exit status: 0 equal, 1 different,
2 spec error (an unreadable spec file included). In Python: ``compare(spec) -> verdict``,
``compare_files(expected, actual, **keys) -> verdict`` and ``validate_spec(spec) -> [problem]``.

Spec (JSON object, version 1)
-----------------------------
``version`` 1 (required). ``expected``, ``actual`` (required): a directory each, or a single
file each (or an expected file and an actual directory holding a file of the same name).
Relative paths are relative to the current directory.

``files``: globs relative to ``expected`` (``*`` and ``?`` stay within a path segment, ``**``
crosses them, ``[abc]`` is a class; a glob naming a directory selects the files below it).
Absent or ``[]``: every file under ``expected``, except that with a top-level ``command``
and no ``files`` key only the command runs. A glob that matches nothing is a spec error.

``complete``: directories (relative, ``"."`` for the root) whose actual content must not hold
files absent from ``expected`` (such files are listed under ``extra``).

``rtol``, ``atol`` (default 0): number tolerances. ``ignore``: regexes removed (``re.sub``)
from every line on both sides before comparing. ``fields``: ``[{"pattern": REGEX, "rtol":
.., "atol": .., "skip": bool}]``; the numbers inside group 1 of each match get these
tolerances (a group that reads as a number is one number token even inside a word, as in
``energy=1.5eV`` with ``energy=([0-9.]+)``; ``skip`` leaves those values out).
``max_differences`` (default 20): difference records listed per file (counts
are always complete). ``command``: a shell command run once with ``{expected}`` and
``{actual}`` set to the two roots (``{file}`` is empty); ``command_timeout`` (default 600 s)
limits every command.

``rules``: per-file settings, the first rule whose ``match`` glob matches wins (a glob
without ``/`` matches the file name, one with ``/`` the path relative to ``expected``).
A rule may set ``format`` (text, csv, json, binary), ``rtol``/``atol`` (each one unset
falls back to the top-level value), ``ignore`` and ``fields`` (added to the top-level
ones; the rule's fields are tried first), and: for CSV ``columns`` (``{NAME_GLOB:
{"rtol", "atol", "skip"}}``), ``key`` (a column name or a list of names), ``delimiter``
(default ``,``, tab for ``.tsv``) and ``header`` (default true; false names the columns
"1", "2", ...); for JSON ``keys`` (``{PATH_PATTERN: {"rtol", "atol", "skip"}}``); or
``command``: the user's own comparison, run with ``{expected}``, ``{actual}`` (the two
files) and ``{file}`` (the relative name). Unset tolerances of fields, columns and keys fall
back to the file's. Unknown keys anywhere are spec errors (they are usually typos).

Commands run with ``/bin/sh -c`` in the actual directory (a file's: its directory), with
stdout and stderr to a temp file; the placeholders are replaced by ``shlex.quote``d values
and other braces are left alone (``awk '{print $1}'`` is fine). Exit 0 means equal;
otherwise the file-level message holds the last 20 lines of output.

Semantics
---------
Format: the rule's, else by extension (``.csv``/``.tsv``: csv, ``.json``: json), else
binary when the first 8 KiB of the expected file hold a NUL byte or are not UTF-8, else text.

Numbers: a value is a number when it reads as an int or a float (``1.5e-3``, ``1.5D-03``
Fortran exponent, ``nan``, ``inf``). Two numbers are equal when ``abs_err <= atol`` or
``rel_err <= rtol``, where ``abs_err = |actual - expected|`` and ``rel_err = abs_err /
max(|expected|, 2.2e-308)``. With both tolerances 0 numbers must be equal *as numbers*:
``1.0``, ``1.00`` and ``1`` are equal, ``1.0000001`` and ``1`` are not. ``nan`` equals
``nan``; ``inf`` equals ``inf`` of the same sign; anything else with a nan or an inf has
infinite errors (written as the string ``"inf"`` in the verdict). Ints are compared exactly.

Text: both files are streamed as bytes, line by line; identical lines are skipped without
decoding. A differing pair is decoded (UTF-8, bad bytes replaced), line ends stripped,
``ignore`` applied and, if still different, split into tokens: numbers (not glued to a
letter, digit, ``_`` or ``.``: ``x1``, ``12ms`` and ``1.2.3`` are words), words (``\\w+``)
and single other characters. Whitespace only separates tokens, so runs of spaces and tabs,
leading and trailing blanks and CRLF vs LF make no difference. Tokens pair by position
(``column`` = 1-based token index); numbers compare with tolerance, other tokens exactly.
Lines with different token counts are one difference. Missing and extra lines at the end
are one difference each. Memory is constant per file (plus the longest line).

CSV: streamed with the csv module; the first row is the header; cells pair by column name;
missing and extra columns are differences; a cell is a number when it reads as one, else it
compares as text without surrounding blanks. Rows pair in order, or with ``key`` by the key
columns' values: then the actual file is held in memory (proportional to its rows), and
missing and extra rows are differences. ``line`` is the expected file's line.

JSON: both files are loaded whole (not streamed: memory proportional to their size) and
compared recursively; missing and extra object keys and array length differences are
differences, numbers compare with tolerance (booleans are not numbers), strings exactly
after ``ignore``. ``column`` is the path: ``results.energy``, ``items[3].t``. ``keys``
patterns: ``[*]`` any index, ``*``/``?`` within a key name, ``**`` anything; a pattern
matching an object or array applies to everything below it unless a deeper one matches.

Binary: streamed in 1 MiB chunks; equal, or the first differing byte offset and both sizes.

Verdict
-------
``{"version": 1, "ok", "summary", "files": [FILE], "missing": [rel], "extra": [rel],
"errors": [spec problem]}``. FILE: ``file``, ``format`` (or "command"), ``ok``, ``lines``
(line pairs or CSV rows compared; null for json/binary/command), ``differing_lines``,
``values`` (values compared in differing lines/rows, or JSON leaves), ``differing_values``,
``max_abs_error``, ``max_rel_error`` (over the numbers compared in differing lines),
``where_max`` (of the max rel error), ``where_max_abs``, ``differences`` (at most
``max_differences`` of ``{file, line, column, expected, actual, abs_error, rel_error,
message}``, values cut to 200 characters; CSV adds ``index``, binary ``offset``),
``truncated``, ``message`` (file-level: missing lines, unreadable file, command output
tail). Nothing in it grows with the size of the compared files.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import fnmatch
import json
import math
import os
import posixpath
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # (aliases only for the checker: subscripted builtins need Python 3.9)
    _Token = tuple[str, int | float | None, "Tol"]  # text, value if a number, tolerances
    _Column = tuple[int, str, int | None, "Tol"]  # expected index, name, actual index, tols

VERSION = 1
FORMATS = ("text", "csv", "json", "binary")
MAX_DIFFERENCES = 20
COMMAND_TIMEOUT = 600.0
TAIL_LINES = 20
_TINY = sys.float_info.min
_SNIFF = 8192
_CHUNK = 1 << 20
_SHOW = 200  # characters of a value kept in a difference record
_BRIEF = 60  # characters of a value quoted in a one-line message
_TOL_KEYS = ("rtol", "atol", "skip")
_OPTION_KEYS = ("rtol", "atol", "ignore", "fields")
_TOP_KEYS = (
    *("version", "actual", "expected", "files", "complete", "rules"),
    *("command", "command_timeout", "max_differences", *_OPTION_KEYS),
)
_RULE_KEYS = (
    *("match", "format", "command", "columns", "key", "keys", "delimiter", "header"),
    *_OPTION_KEYS,
)

# ------------------------------------------------------------------------------- numbers

_NUMBER = r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?|(?i:nan|inf(?:inity)?))"
_NUMBER_CELL = re.compile(rf"\s*{_NUMBER}\s*")
# A number not glued to a word or a dot, else a word, else one other visible character.
_TOKEN = re.compile(rf"(?<![\w.])({_NUMBER})(?!\w|\.\d)|\w+|\S")


@dataclass(frozen=True)
class Tol:
    """Tolerances of a number: equal when ``abs_err <= atol`` or ``rel_err <= rtol``."""

    rtol: float = 0.0
    atol: float = 0.0
    skip: bool = False


def _value(text: str) -> int | float:
    text = text.strip()
    if text.lstrip("+-").isdigit():
        return int(text)
    return float(text.replace("d", "e").replace("D", "E"))


def _number(cell: str) -> int | float | None:
    return _value(cell) if _NUMBER_CELL.fullmatch(cell) else None


def _errors(expected: int | float, actual: int | float) -> tuple[float, float]:
    """``(abs_err, rel_err)``; infinite when a nan or an inf meets a different value."""
    if expected == actual:
        return 0.0, 0.0
    try:
        fe, fa = float(expected), float(actual)
        if math.isnan(fe) and math.isnan(fa):
            return 0.0, 0.0
        if not (math.isfinite(fe) and math.isfinite(fa)):
            return math.inf, math.inf
        diff = float(abs(actual - expected))  # exact for two ints
    except OverflowError:  # an int beyond the float range
        return math.inf, math.inf
    return diff, diff / max(abs(fe), _TINY)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _exceeds(abs_err: float, rel_err: float, tol: Tol) -> str:
    return (
        f"abs error {_fmt(abs_err)} > atol {_fmt(tol.atol)}, "
        f"rel error {_fmt(rel_err)} > rtol {_fmt(tol.rtol)}"
    )


# ------------------------------------------------------------------------------- results


def _cut(text: str | None, limit: int = _SHOW) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _brief(text: str) -> str:
    return repr(_cut(text, _BRIEF))


def _json_number(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else "inf"


@dataclass
class _Result:
    """What the comparison of one file found; ``counts`` says which counters apply."""

    file: str
    format: str
    limit: int
    counts: str = "lines"  # "lines", "values" (JSON) or "" (binary, command)
    lines: int = 0
    differing_lines: int = 0
    values: int = 0
    differing_values: int = 0
    max_abs: float | None = None
    max_rel: float | None = None
    where_abs: str | None = None
    where_rel: str | None = None
    differences: list[dict[str, Any]] = field(default_factory=list)
    found: int = 0  # every difference, listed or not
    truncated: bool = False
    message: str | None = None
    brief: str | None = None  # the summary's words, when not the message's first line

    @property
    def ok(self) -> bool:
        return self.found == 0

    def numeric(self, abs_err: float, rel_err: float, where: str) -> None:
        if self.max_abs is None or abs_err > self.max_abs:
            self.max_abs, self.where_abs = abs_err, where
        if self.max_rel is None or rel_err > self.max_rel:
            self.max_rel, self.where_rel = rel_err, where

    def add(
        self,
        message: str,
        line: int | None = None,
        column: int | str | None = None,
        expected: str | None = None,
        actual: str | None = None,
        errors: tuple[float, float] | None = None,
        **extra: Any,
    ) -> None:
        self.found += 1
        if len(self.differences) >= self.limit:
            self.truncated = True
            return
        abs_err, rel_err = errors or (None, None)
        self.differences.append(
            {
                "file": self.file,
                "line": line,
                "column": column,
                "expected": _cut(expected),
                "actual": _cut(actual),
                "abs_error": _json_number(abs_err),
                "rel_error": _json_number(rel_err),
                "message": message,
                **extra,
            }
        )

    def note(self, message: str) -> None:
        self.message = message if self.message is None else f"{self.message}; {message}"

    def fail(self, message: str, brief: str | None = None) -> None:
        self.found += 1
        self.note(message)
        self.brief = brief

    def summary(self) -> str:
        parts = []
        n = self.differing_values
        if n:
            text = f"{n} value{'s differ' if n > 1 else ' differs'}"
            if self.max_rel and self.where_rel:
                text += f" (max rel error {self.max_rel:.1e} at {self.where_rel})"
            parts.append(text)
        if self.brief or self.message:
            parts.append(self.brief or str(self.message).split("\n")[0])
        if not parts and self.differences:
            more = self.found - 1
            parts.append(self.differences[0]["message"] + (f" (and {more} more)" if more else ""))
        return f"{self.file}: {'; '.join(parts) or 'differs'}"

    def to_dict(self) -> dict[str, Any]:
        lines, values = self.counts == "lines", self.counts in ("lines", "values")
        return {
            "file": self.file,
            "format": self.format,
            "ok": self.ok,
            "lines": self.lines if lines else None,
            "differing_lines": self.differing_lines if lines else None,
            "values": self.values if values else None,
            "differing_values": self.differing_values if values else None,
            "max_abs_error": _json_number(self.max_abs),
            "max_rel_error": _json_number(self.max_rel),
            "where_max": self.where_rel,
            "where_max_abs": self.where_abs,
            "differences": self.differences,
            "truncated": self.truncated,
            "message": self.message,
        }


@dataclass(frozen=True)
class _Options:
    """How to compare the files one rule (or the top level) applies to."""

    format: str | None = None
    tol: Tol = Tol()
    ignore: tuple[re.Pattern[str], ...] = ()
    fields: tuple[tuple[re.Pattern[str], Tol], ...] = ()
    columns: tuple[tuple[str, Tol], ...] = ()
    key: tuple[str, ...] = ()
    keys: tuple[tuple[re.Pattern[str], Tol], ...] = ()
    delimiter: str | None = None
    header: bool = True
    command: str | None = None

    def column_tol(self, name: str) -> Tol:
        for pattern, tol in self.columns:
            if name == pattern or fnmatch.fnmatchcase(name, pattern):
                return tol
        return self.tol

    def strip(self, line: str) -> str:
        for regex in self.ignore:
            line = regex.sub("", line)
        return line


# ---------------------------------------------------------------------------------- text


def _compare_text(expected: str, actual: str, res: _Result, opt: _Options) -> None:
    n = missing = extra = first_missing = 0
    first_extra: tuple[int, bytes] | None = None
    with open(expected, "rb", buffering=_CHUNK) as fe, open(actual, "rb", buffering=_CHUNK) as fa:
        for n, (le, la) in enumerate(zip_longest(fe, fa), 1):
            if le == la:
                continue
            if la is None:
                first_missing = first_missing or n
                missing += 1
            elif le is None:
                first_extra = first_extra or (n, la)
                extra += 1
            else:
                _text_line(n, le, la, res, opt)
    res.lines = n - missing - extra
    if missing:
        msg = f"actual ends after line {first_missing - 1}; expected has {missing} more line"
        res.differing_lines += missing
        res.add(msg + "s" * (missing > 1), line=first_missing)
        res.note(msg + "s" * (missing > 1))
    if first_extra:
        line, text = first_extra
        msg = f"extra line {line} in actual: {_brief(_decode(text))}"
        if extra > 1:
            msg += f" (and {extra - 1} more)"
        res.differing_lines += extra
        res.add(msg, line=line, actual=_decode(text))
        res.note(msg)


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r\n")


def _text_line(n: int, le: bytes, la: bytes, res: _Result, opt: _Options) -> None:
    e, a = opt.strip(_decode(le)), opt.strip(_decode(la))
    if e == a:
        return
    te, ta = _tokens(e, opt), _tokens(a, opt)
    if len(te) != len(ta):
        res.values += 1
        res.differing_values += 1
        res.differing_lines += 1
        msg = f"line {n}: expected {len(te)} tokens, got {len(ta)}: {_brief(e)} vs {_brief(a)}"
        res.add(msg, line=n, expected=e, actual=a)
        return
    bad = 0
    for i, ((es, ev, tol), (as_, av, _)) in enumerate(zip(te, ta), 1):  # noqa: B905 (3.8+)
        if tol.skip:
            continue
        res.values += 1
        where = f"line {n}, token {i}"
        if ev is not None and av is not None:
            errors = _errors(ev, av)
            res.numeric(*errors, where)
            if errors[0] <= tol.atol or errors[1] <= tol.rtol:
                continue
            msg = f"{where}: expected {es}, got {as_} ({_exceeds(*errors, tol)})"
            res.add(msg, line=n, column=i, expected=es, actual=as_, errors=errors)
        elif es == as_:
            continue
        else:
            msg = f"{where}: expected {_brief(es)}, got {_brief(as_)}"
            res.add(msg, line=n, column=i, expected=es, actual=as_)
        bad += 1
    if bad:
        res.differing_lines += 1
        res.differing_values += bad


def _tokens(line: str, opt: _Options) -> list[_Token]:
    """Numbers, words and other characters of ``line``, each with its tolerances."""
    spans = []
    for regex, tol in opt.fields:
        for m in regex.finditer(line):
            start, end = m.span(1)
            if end > start:
                spans.append((start, end, tol))
    spans.sort(key=lambda span: span[0])
    out: list[_Token] = []
    pos = 0
    for start, end, tol in spans:
        if start < pos:  # overlaps an earlier field
            continue
        _scan(line, pos, start, opt.tol, out)
        piece = line[start:end]
        if _NUMBER_CELL.fullmatch(piece):
            out.append((piece.strip(), _value(piece), tol))
        else:
            _scan(line, start, end, tol, out)
        pos = end
    _scan(line, pos, len(line), opt.tol, out)
    return out


def _scan(line: str, start: int, end: int, tol: Tol, out: list[_Token]) -> None:
    for m in _TOKEN.finditer(line, start, end):
        text = m.group()
        out.append((text, _value(text) if m.lastindex else None, tol))


# ----------------------------------------------------------------------------------- csv


def _compare_csv(expected: str, actual: str, res: _Result, opt: _Options) -> None:
    tab = expected.lower().endswith(".tsv")
    delimiter = opt.delimiter or ("\t" if tab else ",")
    with _open_text(expected) as fe, _open_text(actual) as fa:
        re_ = csv.reader(_stripped(fe, opt), delimiter=delimiter)
        ra = csv.reader(_stripped(fa, opt), delimiter=delimiter)
        he: list[str] = []
        ha: list[str] = []
        if opt.header:
            he, ha = next(re_, []), next(ra, [])
            if not he or not ha:
                if he or ha:
                    res.fail(f"{'actual' if he else 'expected'} is empty, the other is not")
                return
            _csv_header(he, ha, res)
        index_a: dict[str, int] = {}
        for i, name in enumerate(ha):
            index_a.setdefault(name, i)
        cols = [(i, name, index_a.get(name), opt.column_tol(name)) for i, name in enumerate(he)]
        row = _CsvRows(res, opt, cols, he, ha, delimiter)
        if opt.key:
            _csv_by_key(re_, ra, row)
            return
        missing = extra = first_missing = 0
        first_extra: tuple[int, list[str]] | None = None
        for row_e, row_a in zip_longest(re_, ra):
            if row_a is None:
                first_missing = first_missing or re_.line_num
                missing += 1
            elif row_e is None:
                first_extra = first_extra or (ra.line_num, row_a)
                extra += 1
            else:
                row.compare(re_.line_num, row_e, row_a)
    if missing:
        res.differing_lines += missing
        msg = f"actual ends before line {first_missing}; expected has {missing} more rows"
        res.add(msg, line=first_missing)
        res.note(msg)
    if first_extra:
        line, cells = first_extra
        msg = f"extra row at line {line} of actual: {_brief(delimiter.join(cells))}"
        msg += f" (and {extra - 1} more)" if extra > 1 else ""
        res.differing_lines += extra
        res.add(msg, line=line, actual=delimiter.join(cells))
        res.note(msg)


def _open_text(path: str) -> IO[str]:
    return open(path, encoding="utf-8", errors="replace", newline="")


def _stripped(lines: Iterable[str], opt: _Options) -> Iterable[str]:
    """``lines`` with the ignore patterns removed (line ends kept)."""
    if not opt.ignore:
        return lines
    return (opt.strip(ln.rstrip("\r\n")) + ln[len(ln.rstrip("\r\n")) :] for ln in lines)


def _csv_header(he: list[str], ha: list[str], res: _Result) -> None:
    if he == ha:
        return
    for i, name in enumerate(he, 1):
        if name not in ha:
            msg = f"line 1: missing column {name!r} (column {i} of expected)"
            res.add(msg, line=1, column=name, expected=name, index=i)
    for i, name in enumerate(ha, 1):
        if name not in he:
            msg = f"line 1: extra column {name!r} (column {i} of actual)"
            res.add(msg, line=1, column=name, actual=name, index=i)


@dataclass
class _CsvRows:
    """Compares one row pair, cell by cell through the column names."""

    res: _Result
    opt: _Options
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
            self.cols.append((i, str(i + 1), i, self.opt.column_tol(str(i + 1))))
        return self.cols

    def compare(self, line: int, row_e: list[str], row_a: list[str], note: str = "") -> None:
        res = self.res
        res.lines += 1
        if row_e == row_a and self.same_header:
            return
        bad = 0
        for ie, name, ia, tol in self.columns(max(len(row_e), len(row_a))):
            if ia is None or tol.skip:
                continue
            res.values += 1
            ce = row_e[ie] if ie < len(row_e) else None
            ca = row_a[ia] if ia < len(row_a) else None
            where = f"line {line}, column {name!r}"
            info: dict[str, Any] = {"line": line, "column": name, "index": ie + 1}
            ve = None if ce is None else _number(ce)
            va = None if ca is None else _number(ca)
            if ve is not None and va is not None:
                errors = _errors(ve, va)
                res.numeric(*errors, where)
                if errors[0] <= tol.atol or errors[1] <= tol.rtol:
                    continue
                msg = f"{where}{note}: expected {ce}, got {ca} ({_exceeds(*errors, tol)})"
                res.add(msg, expected=ce, actual=ca, errors=errors, **info)
            elif ce is None or ca is None:
                side = "expected" if ce is None else "actual"
                res.add(f"{where}{note}: no such cell in {side}", expected=ce, actual=ca, **info)
            elif ce.strip() == ca.strip():
                continue
            else:
                msg = f"{where}{note}: expected {_brief(ce)}, got {_brief(ca)}"
                res.add(msg, expected=ce, actual=ca, **info)
            bad += 1
        over_e, over_a = row_e[len(self.he) :], row_a[len(self.ha) :]
        if self.opt.header and over_e != over_a:
            msg = f"line {line}{note}: cells beyond the header differ: {over_e} vs {over_a}"
            res.add(msg, line=line, expected=str(over_e), actual=str(over_a))
            bad += 1
        if bad:
            res.differing_lines += 1
            res.differing_values += bad


def _key_columns(opt: _Options, header: list[str], side: str) -> list[int] | str:
    """Where the key columns are in ``header`` ("1", "2", ... without a header), or why not."""
    out = []
    for name in opt.key:
        if opt.header and name in header:
            out.append(header.index(name))
        elif not opt.header and name.isdigit() and int(name) > 0:
            out.append(int(name) - 1)
        else:
            return f"key: column {name!r} is not in the header of {side}; fix the rule's key"
    return out


def _csv_by_key(re_: Any, ra: Any, row: _CsvRows) -> None:
    """Pair rows by the key columns' values; holds the actual rows in memory."""
    res, key, join = row.res, row.opt.key, row.delimiter.join
    ke, ka = _key_columns(row.opt, row.he, "expected"), _key_columns(row.opt, row.ha, "actual")
    if isinstance(ke, str) or isinstance(ka, str):
        res.fail(str(ke if isinstance(ke, str) else ka))
        return

    def key_of(cells: list[str], index: list[int]) -> tuple[str, ...]:
        return tuple(cells[i].strip() if i < len(cells) else "" for i in index)

    def label(values: tuple[str, ...]) -> str:
        return ", ".join(f"{n}={v!r}" for n, v in zip(key, values))  # noqa: B905

    pending: dict[tuple[str, ...], deque[tuple[int, list[str]]]] = {}
    for cells in ra:
        pending.setdefault(key_of(cells, ka), deque()).append((ra.line_num, cells))
    for cells in re_:
        values = key_of(cells, ke)
        queue = pending.get(values)
        if not queue:
            res.differing_lines += 1
            msg = f"line {re_.line_num}: no row with {label(values)} in actual"
            res.add(msg, line=re_.line_num, expected=join(cells))
            continue
        line_a, cells_a = queue.popleft()
        if not queue:
            del pending[values]
        row.compare(re_.line_num, cells, cells_a, f" (actual line {line_a})")
    for line_a, cells in sorted(r for q in pending.values() for r in q):
        res.differing_lines += 1
        msg = f"extra row with {label(key_of(cells, ka))} at line {line_a} of actual"
        res.add(msg, line=line_a, actual=join(cells))


# ---------------------------------------------------------------------------------- json


def _compare_json(expected: str, actual: str, res: _Result, opt: _Options) -> None:
    docs = []
    for side, path in (("expected", expected), ("actual", actual)):
        with open(path, encoding="utf-8") as fh:
            try:
                docs.append(json.load(fh))
            except ValueError as exc:
                res.fail(f"{side} is not valid JSON: {exc}")
                return
    _json_walk(docs[0], docs[1], "", opt.tol, res, opt)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "null"


def _dump(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _json_walk(e: Any, a: Any, path: str, tol: Tol, res: _Result, opt: _Options) -> None:
    for regex, own in opt.keys:
        if regex.fullmatch(path):
            tol = own
            break
    if tol.skip:
        return
    where = path or "(root)"
    if isinstance(e, dict) and isinstance(a, dict):
        for k, v in e.items():
            sub = f"{path}.{k}" if path else k
            if k in a:
                _json_walk(v, a[k], sub, tol, res, opt)
            else:
                res.differing_values += 1
                res.add(f"{sub}: missing in actual", column=sub, expected=_dump(v))
        for k, v in a.items():
            if k not in e:
                sub = f"{path}.{k}" if path else k
                res.differing_values += 1
                res.add(f"{sub}: extra key in actual", column=sub, actual=_dump(v))
        return
    if isinstance(e, list) and isinstance(a, list):
        for i, (x, y) in enumerate(zip(e, a)):  # noqa: B905
            _json_walk(x, y, f"{path}[{i}]", tol, res, opt)
        if len(e) != len(a):
            res.differing_values += 1
            msg = f"{where}: expected {len(e)} items, got {len(a)}"
            res.add(msg, column=where, expected=f"{len(e)} items", actual=f"{len(a)} items")
        return
    res.values += 1
    kind_e, kind_a = _kind(e), _kind(a)
    if kind_e == kind_a == "number":
        errors = _errors(e, a)
        res.numeric(*errors, where)
        if errors[0] <= tol.atol or errors[1] <= tol.rtol:
            return
        msg = f"{where}: expected {e!r}, got {a!r} ({_exceeds(*errors, tol)})"
        res.add(msg, column=where, expected=_dump(e), actual=_dump(a), errors=errors)
    elif kind_e == kind_a == "string":
        if opt.strip(e) == opt.strip(a):
            return
        msg = f"{where}: expected {_brief(e)}, got {_brief(a)}"
        res.add(msg, column=where, expected=e, actual=a)
    elif kind_e == kind_a and e == a:
        return
    else:  # different types: show JSON text, so that 1.0 and "1.0" look different
        je, ja = json.dumps(e), json.dumps(a)
        msg = f"{where}: expected {kind_e} {_cut(je, _BRIEF)}, got {kind_a} {_cut(ja, _BRIEF)}"
        res.add(msg, column=where, expected=je, actual=ja)
    res.differing_values += 1


# -------------------------------------------------------------------------------- binary


def _compare_binary(expected: str, actual: str, res: _Result, opt: _Options) -> None:
    offset = 0
    with open(expected, "rb", buffering=0) as fe, open(actual, "rb", buffering=0) as fa:
        while True:
            be, ba = fe.read(_CHUNK), fa.read(_CHUNK)
            if be != ba:
                break
            if not be:
                return
            offset += len(be)
    at = _first_difference(be, ba)  # in this chunk
    offset += at
    sizes = os.path.getsize(expected), os.path.getsize(actual)

    def byte(chunk: bytes) -> str:
        return f"0x{chunk[at]:02x}" if at < len(chunk) else "end of file"

    msg = f"first difference at byte {offset} (expected {byte(be)}, actual {byte(ba)})"
    msg += f"; sizes {sizes[0]} and {sizes[1]} bytes"
    res.add(msg, expected=byte(be), actual=byte(ba), offset=offset)
    res.note(msg)


def _first_difference(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while hi - lo > 64:  # bisect on slices: a few memcmp calls instead of a Python loop
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return hi


def _sniff(path: str) -> str:
    """Binary when the first 8 KiB hold a NUL byte or are not UTF-8, else "text"."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF)
    if b"\0" in head:
        return "binary"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "binary"
    return "text"


# ------------------------------------------------------------------------------- command


def _run_command(
    template: str, values: Mapping[str, str], cwd: str, timeout: float
) -> tuple[int | None, str]:
    """Exit status (None: timed out) and the last lines of stdout + stderr of a command."""
    command = re.sub(
        r"\{(expected|actual|file)\}", lambda m: shlex.quote(values[m.group(1)]), template
    )
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the shell and whatever it started
            except ProcessLookupError:
                pass
            proc.wait()
            code = None
        size = out.seek(0, os.SEEK_END)
        out.seek(max(0, size - 64 * 1024))
        lines = out.read().decode("utf-8", "replace").splitlines()
    return code, "\n".join(lines[-TAIL_LINES:])


def _command_result(
    name: str, template: str, expected: str, actual: str, rel: str, plan: _Plan
) -> _Result:
    res = _Result(name, "command", plan.limit, counts="")
    cwd = actual if os.path.isdir(actual) else os.path.dirname(actual) or "."
    values = {"expected": expected, "actual": actual, "file": rel}
    try:
        code, tail = _run_command(template, values, cwd, plan.timeout)
    except OSError as exc:
        res.fail(f"cannot run {template!r}: {exc}")
        return res
    if code == 0:
        return res
    what = f"timed out after {plan.timeout:g} s" if code is None else f"exited {code}"
    last = tail.strip().split("\n")[-1] if tail.strip() else ""
    res.fail(f"command {what}: {template}\n{tail}".rstrip(), f"command {what}: {last}".rstrip())
    return res


# ----------------------------------------------------------------------------- the spec


@dataclass
class _Plan:
    expected: str
    actual: str
    single: bool  # one file each
    selected: list[str]
    everything: set[str]  # all files under expected
    complete: list[str]
    default: _Options
    rules: list[tuple[re.Pattern[str], bool, _Options]]  # glob, on the whole path, options
    command: str | None
    timeout: float
    limit: int

    def options(self, rel: str) -> _Options:
        for regex, whole, opt in self.rules:
            if regex.fullmatch(rel if whole else posixpath.basename(rel)):
                return opt
        return self.default


def _glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: ``*``, ``?`` within a segment, ``**`` across, ``[...]``."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?|\[!?\]?[^\]]*\])", pattern)
    out = []
    for part in parts:
        if part == "**/":
            out.append("(?:.*/)?")
        elif part == "**":
            out.append(".*")
        elif part == "*":
            out.append("[^/]*")
        elif part == "?":
            out.append("[^/]")
        elif part.startswith("[") and part.endswith("]") and len(part) > 2:
            body = part[1:-1].replace("\\", "\\\\")
            out.append(f"[^{body[1:]}]" if body.startswith("!") else f"[{body}]")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def _key_pattern(pattern: str) -> re.Pattern[str]:
    """A JSON path pattern as a regex: ``[*]`` any index, ``*``/``?`` in a name, ``**``."""
    table = {"[*]": r"\[\d+\]", "**": ".*", "*": r"[^.\[]*", "?": r"[^.\[]"}
    parts = re.split(r"(\[\*\]|\*\*|\*|\?)", pattern)
    return re.compile("".join(table.get(p, re.escape(p)) for p in parts))


def _files_under(root: str) -> list[str]:
    """The relative paths (with ``/``) of the files below ``root``, sorted."""
    found: list[str] = []
    for folder, _, names in os.walk(root):
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        found.extend(n if rel == "." else f"{rel}/{n}" for n in names)
    return sorted(found)


class _Checker:
    """Reads a spec, collecting every problem as one line naming the key and the fix."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def known(self, obj: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in obj:
            if key not in allowed:
                self.problem(f"{where}{key}: unknown key; known keys: {', '.join(allowed)}")

    def number(self, obj: Mapping[str, Any], key: str, where: str, default: float) -> float:
        value = obj.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(f'{where}{key}: {value!r} is not a number; write e.g. "{key}": 1e-6')
            return default
        if not (math.isfinite(value) and value >= 0):
            self.problem(f"{where}{key}: {value!r} must be a finite number >= 0")
            return default
        return float(value)

    def strings(self, obj: Mapping[str, Any], key: str, where: str) -> list[str]:
        value = obj.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        self.problem(f'{where}{key}: must be a list of strings, e.g. "{key}": ["x"]')
        return []

    def regex(self, pattern: str, where: str) -> re.Pattern[str] | None:
        try:
            return re.compile(pattern)
        except re.error as exc:
            self.problem(
                f"{where}: bad regex {pattern!r}: {exc}; fix the pattern "
                "(escape literal ( ) [ ] . * + ? with a backslash)"
            )
            return None

    def tol(self, obj: Any, where: str, base: Tol, allowed: Sequence[str] = _TOL_KEYS) -> Tol:
        if not isinstance(obj, Mapping):
            self.problem(f'{where}: must be an object like {{"rtol": 1e-6}}, not {obj!r}')
            return base
        self.known(obj, allowed, f"{where}.")
        skip = obj.get("skip", False)
        if not isinstance(skip, bool):
            self.problem(f"{where}.skip: must be true or false")
        rtol = self.number(obj, "rtol", f"{where}.", base.rtol)
        return Tol(rtol, self.number(obj, "atol", f"{where}.", base.atol), skip is True)

    def tolerances(
        self, obj: Mapping[str, Any], key: str, where: str, base: Tol, make: Callable[[str], Any]
    ) -> tuple[tuple[Any, Tol], ...]:
        table = obj.get(key) or {}
        if not isinstance(table, Mapping):
            self.problem(f'{where}{key}: must be an object like {{"name": {{"rtol": 1e-6}}}}')
            return ()
        return tuple((make(k), self.tol(v, f"{where}{key}[{k!r}]", base)) for k, v in table.items())

    def options(self, obj: Mapping[str, Any], where: str, top: _Options | None) -> _Options:
        """The options of the top level (``top`` None) or of a rule (inheriting ``top``)."""
        rule = top is not None  # the top level's "command" is the root command, not a rule's
        top = top or _Options()
        tol = Tol(
            self.number(obj, "rtol", where, top.tol.rtol),
            self.number(obj, "atol", where, top.tol.atol),
        )
        ignore = []
        for i, text in enumerate(self.strings(obj, "ignore", where)):
            regex = self.regex(text, f"{where}ignore[{i}]")
            if regex is not None:
                ignore.append(regex)
        fields = []
        raw = obj.get("fields") or []
        if not isinstance(raw, list):
            self.problem(f'{where}fields: must be a list like [{{"pattern": "e=(\\\\S+)"}}]')
            raw = []
        for i, spec in enumerate(raw):
            at = f"{where}fields[{i}]"
            pattern = spec.get("pattern") if isinstance(spec, Mapping) else None
            regex = self.regex(pattern, f"{at}.pattern") if isinstance(pattern, str) else None
            if not isinstance(pattern, str):
                self.problem(f'{at}.pattern: required, a regex like "energy\\\\s*=\\\\s*(\\\\S+)"')
            elif regex is not None and regex.groups < 1:
                self.problem(f"{at}.pattern: {pattern!r} has no group; put ( ) around the number")
            elif regex is not None:
                fields.append((regex, self.tol(spec, at, tol, ("pattern", *_TOL_KEYS))))
        fmt = obj.get("format")
        if fmt is not None and fmt not in FORMATS:
            self.problem(f"{where}format: {fmt!r} is not one of {', '.join(FORMATS)}")
        command = obj.get("command")
        if not rule:
            command = None
        elif command is not None and not isinstance(command, str):
            self.problem(f'{where}command: must be a string like "h5diff {{expected}} {{actual}}"')
        delimiter = obj.get("delimiter")
        if delimiter is not None and not (isinstance(delimiter, str) and len(delimiter) == 1):
            self.problem(f'{where}delimiter: must be one character, e.g. ";" or "\\t"')
        header = obj.get("header", True)
        if not isinstance(header, bool):
            self.problem(f"{where}header: must be true or false")
        return _Options(
            format=fmt if fmt in FORMATS else None,
            tol=tol,
            ignore=top.ignore + tuple(ignore),
            fields=tuple(fields) + top.fields,
            columns=self.tolerances(obj, "columns", where, tol, str),
            key=tuple(self.strings(obj, "key", where)),
            keys=self.tolerances(obj, "keys", where, tol, _key_pattern),
            delimiter=delimiter if isinstance(delimiter, str) else None,
            header=header is not False,
            command=command if isinstance(command, str) else None,
        )


def _prepare(spec: Any) -> tuple[_Plan | None, list[str]]:
    """The plan of a spec, or None and every problem found (files looked up included)."""
    check = _Checker()
    if not isinstance(spec, Mapping):
        return None, [f'spec: must be a JSON object like {{"version": 1, ...}}, not {spec!r}']
    check.known(spec, _TOP_KEYS, "")
    if spec.get("version") != VERSION:
        check.problem(f'version: {spec.get("version")!r} is not supported; write "version": 1')
    roots = {}
    for key in ("expected", "actual"):
        value = spec.get(key)
        if not isinstance(value, str) or not value:
            check.problem(f"{key}: required, the path of the {key} directory or file")
        roots[key] = os.path.abspath(value) if isinstance(value, str) else ""
    limit = spec.get("max_differences", MAX_DIFFERENCES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        check.problem(f"max_differences: {limit!r} must be an integer >= 0")
        limit = MAX_DIFFERENCES
    timeout = check.number(spec, "command_timeout", "", COMMAND_TIMEOUT)
    if not timeout:
        check.problem("command_timeout: must be more than 0 seconds (default 600)")
    default = check.options(spec, "", None)
    for key in ("format", "columns", "key", "keys", "delimiter", "header"):
        if key in spec:
            check.problem(f'{key}: belongs in a rule, e.g. "rules": [{{"match": "*.csv", ...}}]')
    rules = []
    raw_rules = spec.get("rules") or []
    if not isinstance(raw_rules, list):
        check.problem('rules: must be a list like [{"match": "*.csv", "rtol": 1e-6}]')
        raw_rules = []
    for i, rule in enumerate(raw_rules):
        where = f"rules[{i}]."
        if not isinstance(rule, Mapping) or not isinstance(rule.get("match"), str):
            check.problem(f'{where}match: required, a glob like "*.csv"')
            continue
        check.known(rule, _RULE_KEYS, where)
        match = _relative(rule["match"])
        rules.append((_glob(match), "/" in match, check.options(rule, where, default)))
    command = spec.get("command")
    if command is not None and not isinstance(command, str):
        check.problem('command: must be a string like "h5diff -r {expected} {actual}"')
    files = check.strings(spec, "files", "")
    complete = check.strings(spec, "complete", "")
    if check.problems:
        return None, check.problems
    expected, actual = roots["expected"], roots["actual"]
    single = os.path.isfile(expected)
    selected: list[str] = []
    everything: set[str] = set()
    if not os.path.exists(expected):
        check.problem(f"expected: {expected} does not exist; point it at the expected outputs")
    elif single:
        if files or complete:
            check.problem("files, complete: only for an expected directory; remove them")
        selected = [os.path.basename(expected)]
    else:
        listing = _files_under(expected)
        everything = set(listing)
        if not listing and not command:
            check.problem(f"expected: {expected} holds no files; add the expected outputs")
        chosen: set[str] = set()
        for pattern in files:
            regex = _glob(_relative(pattern))
            hits = {
                f
                for f in listing
                if regex.fullmatch(f) or any(regex.fullmatch(d) for d in _parents(f))
            }
            if not hits:
                fix = "fix the name or add the file"
                check.problem(f"files: {pattern!r} matches nothing in {expected}; {fix}")
            chosen |= hits
        if files:
            selected = sorted(chosen)
        elif "files" in spec or not command:
            selected = listing
        for folder in complete:
            if not os.path.isdir(os.path.join(expected, folder)):
                check.problem(f"complete: {folder!r} is not a directory in {expected}")
    if check.problems:
        return None, check.problems
    plan = _Plan(
        expected,
        actual,
        single,
        selected,
        everything,
        [posixpath.normpath(c) for c in complete],
        default,
        rules,
        command,
        timeout,
        limit,
    )
    return plan, []


def _relative(pattern: str) -> str:
    pattern = pattern.rstrip("/")
    return pattern[2:] if pattern.startswith("./") else pattern


def _parents(rel: str) -> Iterator[str]:
    while "/" in rel:
        rel = rel.rsplit("/", 1)[0]
        yield rel


def validate_spec(spec: Any) -> list[str]:
    """Every problem of ``spec`` (bad keys, bad regexes, globs matching nothing), or []."""
    return _prepare(spec)[1]


# ------------------------------------------------------------------------------ compare

_COMPARERS: dict[str, Callable[[str, str, _Result, _Options], None]] = {
    "text": _compare_text,
    "csv": _compare_csv,
    "json": _compare_json,
    "binary": _compare_binary,
}


def _format_of(path: str, opt: _Options) -> str:
    if opt.format:
        return opt.format
    ext = os.path.splitext(path)[1].lower()
    return {".csv": "csv", ".tsv": "csv", ".json": "json"}.get(ext) or _sniff(path)


def _compare_one(rel: str, expected: str, actual: str, plan: _Plan) -> _Result:
    opt = plan.options(rel)
    if opt.command is not None:
        return _command_result(rel, opt.command, expected, actual, rel, plan)
    fmt = _format_of(expected, opt)
    res = _Result(rel, fmt, plan.limit, counts={"json": "values", "binary": ""}.get(fmt, "lines"))
    if os.path.isdir(actual):
        res.fail(f"actual {actual} is a directory, not a file")
        return res
    try:
        _COMPARERS[fmt](expected, actual, res, opt)
    except (OSError, ValueError, csv.Error, RecursionError) as exc:
        res.fail(f"cannot compare: {exc}")
    return res


def compare(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Compare what ``spec`` names; the verdict (see the module docstring)."""
    plan, problems = _prepare(spec)
    if plan is None:
        return _verdict([], [], [], problems)
    results, missing = [], []
    for rel in plan.selected:
        expected = plan.expected if plan.single else os.path.join(plan.expected, rel)
        actual = plan.actual
        if not plan.single or os.path.isdir(actual):
            actual = os.path.join(actual, rel)
        if os.path.exists(actual):
            results.append(_compare_one(rel, expected, actual, plan))
        else:
            missing.append(rel)
    extra = set()
    for folder in plan.complete:
        for rel in _files_under(os.path.join(plan.actual, folder)):
            full = posixpath.normpath(posixpath.join(folder, rel))
            if full not in plan.everything:
                extra.add(full)
    if plan.command:
        root = _command_result("(command)", plan.command, plan.expected, plan.actual, "", plan)
        results.append(root)
    return _verdict(results, missing, sorted(extra), [])


def compare_files(expected: str, actual: str, **spec: Any) -> dict[str, Any]:
    """Compare two files or directories; ``spec`` holds any other key of a spec."""
    return compare({"version": VERSION, "expected": expected, "actual": actual, **spec})


def _verdict(
    results: list[_Result], missing: list[str], extra: list[str], errors: list[str]
) -> dict[str, Any]:
    if errors:
        summary = "spec error: " + "; ".join(errors[:3])
        summary += f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    else:
        parts = [r.summary() for r in results if not r.ok]
        parts += [f"{m}: missing" for m in missing] + [f"{x}: extra file" for x in extra]
        summary = "; ".join(parts[:5]) or f"equal: {len(results)} files compared"
        summary += f"; and {len(parts) - 5} more" if len(parts) > 5 else ""
    return {
        "version": VERSION,
        "ok": not (errors or missing or extra) and all(r.ok for r in results),
        "summary": summary,
        "files": [r.to_dict() for r in results],
        "missing": missing,
        "extra": extra,
        "errors": errors,
    }


# ---------------------------------------------------------------------------------- cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m assay.compare",
        description="Compare actual outputs with expected ones as a JSON spec says.",
        epilog="Exit status: 0 equal, 1 different, 2 spec error.",
    )
    parser.add_argument("spec", help="the spec file (JSON)")
    parser.add_argument("-o", "--output", help="write the verdict here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        with open(args.spec, encoding="utf-8") as fh:
            spec = json.load(fh)
    except (OSError, ValueError) as exc:
        verdict = _verdict([], [], [], [f"spec: cannot read {args.spec}: {exc}"])
    else:
        verdict = compare(spec)
    text = json.dumps(verdict, indent=1, allow_nan=False) + "\n"
    if args.output:
        tmp = f"{args.output}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, args.output)
        except OSError as exc:
            print(f"-o: cannot write the verdict: {exc}", file=sys.stderr)
            return 2
        print(verdict["summary"])
    else:
        sys.stdout.write(text)
        print(verdict["summary"], file=sys.stderr)
    return 2 if verdict["errors"] else 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
