"""Differences of a comparison verdict, written for people: file, line, column, values, errors."""

from __future__ import annotations

from typing import Any

MAX_LINES = 12


def describe_differences(verdict: dict[str, Any], limit: int = MAX_LINES) -> str:
    """A few lines naming where outputs differ, by how much, and how many values did."""
    lines: list[str] = []
    for entry in verdict.get("files", []):
        if entry.get("ok", True):
            continue
        counts = []
        if entry.get("differing_values"):
            counts.append(f"{entry['differing_values']} value(s)")
        if entry.get("differing_lines"):
            counts.append(f"{entry['differing_lines']} line(s)")
        head = f"{entry['file']}: " + (" in ".join(counts) + " differ" if counts else "differs")
        if entry.get("max_rel_error") not in (None, 0):
            head += f"; max rel error {_num(entry['max_rel_error'])}"
            if entry.get("where_max"):
                head += f" at {entry['where_max']}"
        lines.append(head)
        if entry.get("message"):
            lines.extend(f"    {m}" for m in str(entry["message"]).splitlines()[-5:])
        for diff in entry.get("differences", []):
            lines.append("  " + _difference(diff))
        if entry.get("truncated"):
            lines.append("  ...")
    lines += [f"{name}: missing from the actual outputs" for name in verdict.get("missing", [])]
    lines += [f"{name}: extra file in the actual outputs" for name in verdict.get("extra", [])]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"... and {len(lines) - limit + 1} more line(s)"]
    return "\n".join(lines)


def _difference(diff: dict[str, Any]) -> str:
    where = [f"line {diff['line']}"] if diff.get("line") is not None else []
    if diff.get("column") is not None:
        column = diff["column"]
        where.append(f"column {column!r}" if isinstance(column, str) else f"column {column}")
    if diff.get("offset") is not None:
        where.append(f"byte {diff['offset']}")
    text = ", ".join(where) or "?"
    if "expected" in diff or "actual" in diff:
        text += f": expected {_show(diff.get('expected'))}, actual {_show(diff.get('actual'))}"
    errors = []
    if diff.get("abs_error") is not None:
        errors.append(f"abs {_num(diff['abs_error'])}")
    if diff.get("rel_error") is not None:
        errors.append(f"rel {_num(diff['rel_error'])}")
    if errors:
        text += f" ({', '.join(errors)})"
    elif diff.get("message"):
        text += f" ({diff['message']})"
    return text


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _num(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:.3g}"
