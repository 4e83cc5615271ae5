"""Comparing what a spec names: file by file, then missing, extra and the root command."""

from __future__ import annotations

import csv
import os
import posixpath
from typing import TYPE_CHECKING, Any

from .binary import compare_binary, not_a_file, sniff, sniff_bytes
from .command import command_result
from .jsondoc import compare_json
from .options import files_under
from .result import VERSION, Result, verdict
from .spec import prepare
from .tables import compare_csv
from .text import compare_text
from .view import outputs_view

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .options import Options, Plan

_COMPARERS: dict[str, Callable[[str, str, Result, Options], None]] = {
    "text": compare_text,
    "csv": compare_csv,
    "json": compare_json,
    "binary": compare_binary,
}


_PARSED = (".csv", ".tsv", ".json")
_WHOLE = 1 << 16  # bytes: files up to this size are read whole to see if they are equal


def _format_of(path: str, opt: Options) -> str:
    if opt.format:
        return opt.format
    ext = os.path.splitext(path)[1].lower()
    return {".csv": "csv", ".tsv": "csv", ".json": "json"}.get(ext) or sniff(path)


def _compare_one(rel: str, expected: str, actual: str, plan: Plan) -> Result:
    opt = plan.options(rel)
    if opt.command is not None:
        return command_result(rel, opt.command, expected, actual, rel, plan.limit, plan.timeout)
    res = Result(rel, "text", plan.limit)
    try:
        for side, path in (("expected", expected), ("actual", actual)):
            kind = not_a_file(path)
            if kind is not None:
                res.fail(f"{side} {path} is a {kind}, not a regular file")
                return res
        if _equal_small(expected, actual, res, opt):
            return res
        res.format = fmt = _format_of(expected, opt)
        res.counts = {"json": "values", "binary": ""}.get(fmt, "lines")
        _COMPARERS[fmt](expected, actual, res, opt)
    except (OSError, ValueError, csv.Error, RecursionError, MemoryError) as exc:
        res.fail(f"cannot compare: {exc}")
    return res


def _equal_small(expected: str, actual: str, res: Result, opt: Options) -> bool:
    """Whether two small text or binary files are equal byte for byte; if so, ``res`` says
    what their comparison would (read once each, no line by line walk). Files that differ,
    are large, or are tables or JSON (whose counts need parsing) are left to the comparers."""
    ext = os.path.splitext(expected)[1].lower()
    if opt.format not in (None, "text", "binary") or (opt.format is None and ext in _PARSED):
        return False
    with open(expected, "rb", buffering=0) as fe:
        data = fe.read(_WHOLE + 1)
    if len(data) > _WHOLE:
        return False
    with open(actual, "rb", buffering=0) as fa:
        other = fa.read(len(data) + 1)
    if data != other:
        return False
    res.format = opt.format or sniff_bytes(data)
    if res.format == "binary":
        res.counts = ""
    else:  # as the line walk counts: every line end, and a last line without one
        res.counts = "lines"
        res.lines = data.count(b"\n") + (not data.endswith(b"\n") and len(data) > 0)
    return True


def compare(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Compare what ``spec`` names; the verdict (see the package docstring)."""
    plan, problems = prepare(spec)
    if plan is None:
        return verdict([], [], [], problems)
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
        for rel in files_under(os.path.join(plan.actual, folder)):
            full = posixpath.normpath(posixpath.join(folder, rel))
            if full not in plan.everything and full not in plan.not_outputs:
                extra.add(full)
    if plan.command:
        with outputs_view(plan.actual, plan.not_outputs) as actual:
            root = command_result(
                "(command)", plan.command, plan.expected, actual, "", plan.limit, plan.timeout
            )
        results.append(root)
    return verdict(results, missing, sorted(extra), [])


def compare_files(expected: str, actual: str, **spec: Any) -> dict[str, Any]:
    """Compare two files or directories; ``spec`` holds any other key of a spec."""
    return compare({"version": VERSION, "expected": expected, "actual": actual, **spec})
