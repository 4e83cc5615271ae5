"""Compare actual outputs with expected ones: text with numeric tolerances, CSV, JSON, binary.

This package uses only the Python standard library and imports nothing else from assay, so
that a job can run it where the outputs are, with any Python >= 3.7, even in isolated mode,
as one file (a zip of the package that ``--bundle`` writes)::

    python3 -m assay.compare SPEC.json [-o VERDICT.json]
    python3 -m assay.compare --bundle compare.pyz
    python3 -I /any/dir/compare.pyz SPEC.json [-o VERDICT.json]

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

``mode``: ``"numeric"`` (default: numbers compare with tolerance, text lines token by
token) or ``"text"`` (no tolerance, no tokens: a text line must equal the expected one
character for character, a CSV cell or a JSON number as written; ``rtol``, ``atol`` and
``fields`` beside it are spec errors). ``rtol``, ``atol`` (default 0): number tolerances.
``ignore``: regexes removed (``re.sub``)
from every line on both sides before comparing. ``fields``: ``[{"pattern": REGEX, "rtol":
.., "atol": .., "skip": bool}]``; the numbers inside group 1 of each match get these
tolerances (a group that reads as a number is one number token even inside a word, as in
``energy=1.5eV`` with ``energy=([0-9.]+)``; ``skip`` leaves those values out).
``max_differences`` (default 20): difference records listed per file (counts
are always complete). ``command``: a shell command run once with ``{expected}`` and
``{actual}`` set to the two roots (``{file}`` is empty); ``command_timeout`` (default 600 s)
limits every command; ``tools``: a directory that ``{tools}`` in a command names (and
``$ASSAY_COMPARE_TOOLS``), a suite's scripts. ``strings`` (JSON): ``"numbers"`` (default: a
string that is a number on both sides compares as one), ``"text"`` (as written) or
``["numbers", "datetimes"]`` (dates and times as moments too: ``datetimes.py``).

``rules``: per-file settings, the first rule whose ``match`` glob matches wins (a glob
without ``/`` matches the file name, one with ``/`` the path relative to ``expected``).
A rule may set ``format`` (text, csv, json, binary), ``mode``, ``rtol``/``atol`` (each one unset
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
Fortran exponent, ``nan``, ``inf``; not ``0x1F`` or ``1_000``, which are words). Two numbers
are equal when ``abs_err <= atol`` or ``abs_err <= rtol * |expected|``, where ``abs_err =
|actual - expected|``, computed exactly on the decimal numbers as written (and the
tolerances' shortest decimal form): no float rounding, no overflow, no size limit, so
``1.0`` and ``1.1`` are equal with ``rtol = 0.1``, ``1e400`` and ``2e400`` differ, and
integers of any length compare exactly. The relative error ``abs_err / |expected|`` is
undefined (null) against an expected 0: there only ``atol`` can accept a non-zero value.
With both tolerances 0 numbers must be equal *as numbers*: ``1.0``, ``1.00`` and ``1`` are
equal, ``1.0000001`` and ``1`` are not; ``-0`` equals ``0``. ``nan`` equals ``nan``; ``inf``
equals ``inf`` of the same sign; anything else with a nan or an inf has infinite errors.

Text: both files are streamed as bytes, line by line; identical lines are skipped without
decoding. A UTF-8 byte order mark at the start is not content. A differing pair is decoded
(UTF-8; two different bad bytes stay different), line ends stripped,
``ignore`` applied and, if still different, split into tokens: numbers (not glued to a
letter, digit, ``_`` or ``.``: ``x1``, ``12ms`` and ``1.2.3`` are words), words (``\\w+``)
and single other characters. Tokens pair by position
(``token`` = 1-based token index); numbers compare with tolerance, other tokens exactly.
Lines with different token counts are one difference. ``whitespace`` (mode "numeric"):
``"significant"`` (default) compares the blank runs between tokens too (the indentation
included; a difference is ``whitespace differs: 4 spaces expected, 2 spaces found``),
except trailing blanks and a run that only pads a number whose text changed (see
``layout.py``); ``"ignore"``: whitespace only separates tokens. CRLF vs LF, a final newline
and a byte order mark never count. A pair that differs in its tokens looks ahead up to 64
lines on both sides (``resync.py``): lines missing from the output or extra in it are one
difference per run (``expected line 12 is missing from the output``, ``output lines 4 to 8
are extra``; the record's ``output_line`` is its place in the output), and the lines after
them pair with their own. Missing and extra lines at the end
are one difference each, showing the first missing (``expected``) or extra (``actual``)
line. With ``mode = "text"`` a differing line is one difference, nothing is tokenized
(only the line end, LF or CRLF, and a final newline do not count).
A text difference shows where it is: ``column`` is the 1-based character (in the expected
line as it is) where the lines first differ within the differing token (or the line),
``expected_line`` and ``actual_line`` are both lines (cut to 200 characters around the
difference, ``...`` where cut), ``expected_mark`` and ``actual_mark`` the 0-based place
of that character in them (for a line longer than 64 KiB: in the text once ``ignore``
matches are removed, found by reading the line again in pieces). Memory is constant
whatever the line lengths: a line longer than 64 KiB is compared as a stream of pieces,
where an ``ignore`` or ``fields`` match may run at most 64 KiB past the piece it starts in
(a longer one is cut there), and a single token longer than 256 KiB is compared in parts.

CSV: streamed a row at a time with the csv module (memory grows with the widest row); the
first row is the header; cells pair by column name, and a name that appears more than once
pairs its occurrences in order (shown as ``'x' (occurrence 2)``); missing and extra columns
are differences; a cell is a number when it reads as one, else it compares as text without
surrounding blanks. Rows pair in order, or with ``key`` (columns with unique names) by the
key columns' values: then the actual file is held in memory (proportional to its rows), and
missing and extra rows are differences. ``line`` is the expected file's line where the row
starts.

JSON: both files are loaded whole (not streamed: memory proportional to their size), at any
depth of nesting, and compared path by path; missing and extra object keys and array length
differences are differences, numbers compare with tolerance as written (booleans are not
numbers), strings exactly after ``ignore``. A key repeated in one object is compared
occurrence by occurrence (the n-th one's path is ``key#n``), and a different count of it is a
difference. ``column`` is the path: ``results.energy``, ``items[3].t``. ``keys``
patterns: ``[*]`` any index, ``*``/``?`` within a key name, ``**`` anything; a pattern
matching an object or array applies to everything below it unless a deeper one matches.

Binary: streamed in 1 MiB chunks; equal, or the first differing byte offset and both sizes.

Files: links are followed, links to directories included (a link back to a directory above
is not walked again). A directory, FIFO, socket or device where a file is expected is a
file-level difference (never read: a FIFO would wait forever).

Verdict
-------
``{"version": 1, "ok", "summary", "files": [FILE], "missing": [rel], "extra": [rel],
"errors": [spec problem]}``. FILE: ``file``, ``format`` (or "command"), ``ok``, ``lines``
(line pairs or CSV rows compared; null for json/binary/command), ``differing_lines``,
``values`` (values compared in differing lines/rows, or JSON leaves), ``differing_values``,
``max_abs_error``, ``max_rel_error`` (over the numbers compared in differing lines),
``where_max`` (of the max rel error), ``where_max_abs``, ``differences`` (at most
``max_differences`` of ``{file, line, column, expected, actual, abs_error, rel_error,
message}``, values cut to 200 characters; text adds ``token`` and the lines shown (see
Text), CSV adds ``index``, binary ``offset``; an error is a number, or a string such as
``"inf"`` or ``"1e+400"`` where a float cannot hold it; ``message`` starts with where the
difference is, ``line 4, token 2: ...``, and quotes text as it is: only control
characters and bytes that are not UTF-8 are escaped, as ``\\t`` or ``\\xHH``),
``truncated``, ``message`` (file-level: missing lines, unreadable file, command output
tail). ``summary`` names each differing file with its first difference (``out.txt line 4,
token 2: expected 1.5, got 1.0 (...)``) and, when there are more, how many and the largest
error. Nothing in it grows with the size of the compared files.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported when first used (PEP 562): ``import assay`` reaches this package for
# ``result.escape`` alone, and the engine and its command line cost ~30 ms to import.
_WHERE = {
    "main": ".cli",
    "compare": ".engine",
    "compare_files": ".engine",
    "FORMATS": ".options",
    "VERSION": ".result",
    "validate_spec": ".spec",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = ["FORMATS", "VERSION", "compare", "compare_files", "main", "validate_spec"]
