"""Differences of a comparison verdict, written for people: where, what, and for text both
lines with a marker under the first character that differs::

    out.event: 1 value in 1 line differs
      line 3, token 4: expected 'anchor', got 'a'
        expected: =VAL :anchor\\b
        actual:   =VAL :a\\b
                        ^

Text is shown as it is: only control characters are escaped (``\\t``, ``\\x1b``).
"""

from __future__ import annotations

import unicodedata
from typing import Any


def escape(text: str) -> str:
    """The comparison engine's :func:`assay.compare.result.escape`, imported on first use:
    ``import assay`` reaches this module, and the engine's numbers and digests cost ~20 ms
    (decimal, OpenSSL's hashlib)."""
    from assay.compare.result import escape as engine_escape

    return engine_escape(text)


MAX_LINES = 60
"""Lines of a failure's details (the report's ``failure.details``; the terminal shows fewer)."""
WIDTH = 60
"""Characters of a line shown under ``expected:``/``actual:`` (cut around the difference)."""
_BEFORE = 20  # characters kept before the difference when a shown line is cut
_CUT = "..."


def describe_differences(verdict: dict[str, Any], limit: int = MAX_LINES) -> str:
    """Lines naming where outputs differ, how, and by how much; at most ``limit``."""
    lines: list[str] = []
    for entry in verdict.get("files", []):
        if entry.get("ok", True):
            continue
        lines.append(_file_head(entry))
        shown = {str(d.get("message")) for d in entry.get("differences", [])}
        if entry.get("message"):
            notes = [m for m in str(entry["message"]).splitlines() if m not in shown]
            lines.extend(f"    {m}" for m in notes[-5:])
        for diff in entry.get("differences", []):
            lines.extend(f"  {line}" for line in difference_lines(diff))
        if entry.get("truncated"):
            lines.append("  ... (more differences: raise max_differences to list them)")
    lines += [f"{name}: missing from the actual outputs" for name in verdict.get("missing", [])]
    lines += [f"{name}: extra file in the actual outputs" for name in verdict.get("extra", [])]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more line(s)"]
    return "\n".join(lines)


def _file_head(entry: dict[str, Any]) -> str:
    if entry.get("no_expected"):  # a new case's output (define/suite_new.py)
        return f"{entry['file']}: no expected file yet"
    counts = []
    values, rows = entry.get("differing_values"), entry.get("differing_lines")
    if values:
        counts.append(f"{values} value{'s' if values > 1 else ''}")
    if rows:
        word = "row" if entry.get("format") == "csv" else "line"
        counts.append(f"{rows} {word}{'s' if rows > 1 else ''}")
    if counts:
        many = (values or rows or 0) > 1 if len(counts) == 1 else (values or 0) > 1
        head = f"{entry['file']}: {' in '.join(counts)} {'differ' if many else 'differs'}"
    else:
        head = f"{entry['file']}: differs"
    if entry.get("max_rel_error") not in (None, 0):
        head += f"; max rel error {_num(entry['max_rel_error'])}"
        if entry.get("where_max"):
            head += f" at {escape(str(entry['where_max']))}"
    return head


def difference_lines(diff: dict[str, Any]) -> list[str]:
    """One difference: its sentence, then for text both lines and the marker."""
    head = escape(str(diff.get("message") or _where(diff)))
    errors = []
    if diff.get("abs_error") is not None and "abs error" not in head:
        errors.append(f"abs {_num(diff['abs_error'])}")
    if diff.get("rel_error") is not None and "rel error" not in head:
        errors.append(f"rel {_num(diff['rel_error'])}")
    if errors:
        head += f" ({', '.join(errors)})"
    out = [head]
    if "expected_bytes" in diff:
        return out + _bytes_lines(diff)
    if "expected_line" not in diff and "actual_line" not in diff:
        return out
    expected, actual = diff.get("expected_line"), diff.get("actual_line")
    shown_e = _cut(expected, diff.get("expected_mark"))
    shown_a = _cut(actual, diff.get("actual_mark"))
    out.append(f"  expected: {shown_e[0] if expected is not None else '(no such line)'}")
    marks = [shown_e[1], shown_a[1]]
    if expected is not None and actual is not None and marks[0] != marks[1]:
        out.append(_marker(marks[0]))
    out.append(f"  actual:   {shown_a[0] if actual is not None else '(no such line)'}")
    mark = marks[1] if actual is not None else None
    if mark is not None:
        out.append(_marker(mark))
    return out


def _bytes_lines(diff: dict[str, Any]) -> list[str]:
    """Both sides' bytes around a binary difference, as hex and as text, with a marker
    under the first byte that differs."""
    start = int(diff.get("window") or 0)
    out, mark = [], None
    for side in ("expected", "actual"):
        try:
            data = bytes.fromhex(str(diff.get(f"{side}_bytes", "")))
        except ValueError:  # not the engine's: show nothing rather than guess
            return []
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)
        dump = " ".join(f"{b:02x}" for b in data)
        prefix = f"  {side + ':':<10}{start:08x}  "
        out.append(f"{prefix}{dump}  |{text}|" if data else f"{prefix}(end of file)")
        if side == "actual" and diff.get("offset") is not None:
            mark = len(prefix) + 3 * (int(diff["offset"]) - start)
    if mark is not None:
        out.append(" " * mark + "^^")
    return out


def _marker(column: int | None) -> str:
    return "" if column is None else " " * (len("  expected: ") + column) + "^"


def _width(text: str) -> int:
    """Terminal cells of ``text`` (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(line: str | None, mark: int | None, width: int = WIDTH) -> tuple[str, int | None]:
    """``line`` escaped and cut to ``width`` characters around ``mark``; where the mark is,
    in terminal cells."""
    if line is None:
        return "", None
    text = line
    at = None if mark is None else min(max(mark, 0), len(line))
    if len(text) > width:
        start = 0 if at is None else max(0, min(at - _BEFORE, len(text) - width))
        end = start + width
        text = (_CUT if start else "") + text[start:end] + (_CUT if end < len(line) else "")
        if at is not None:
            at = at - start + (len(_CUT) if start else 0)
    if at is None:
        return escape(text), None
    return escape(text), _width(escape(text[:at]))


def _where(diff: dict[str, Any]) -> str:
    where = [f"line {diff['line']}"] if diff.get("line") is not None else []
    if diff.get("token") is not None:
        where.append(f"token {diff['token']}")
    elif diff.get("column") is not None:
        where.append(f"column {diff['column']}")
    if diff.get("offset") is not None:
        where.append(f"byte {diff['offset']}")
    return ", ".join(where) or "?"


def _num(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:.3g}"
