"""``assay bless`` for performance: new references for metrics outside their bounds.

A case's new reference keeps the tolerances it was held to and takes the measured value
(the median of its repetitions under ``--repeat``). It is written to the references file
beside the case's test or suite file (``define/reffile.py``), keyed by the case's variant
and its exact ``system:partition``: the test's own ``references`` stay as they are, and
the file's reference, more specific, wins from now on.

A metric with no reference at all gets none from bless: its bounds are a judgement of the
metric's noise that one measurement cannot make. Bless names such metrics, per case, with
the lines that would add a reference (the measured value, ±10% as a placeholder) and where.
"""

from __future__ import annotations

import difflib
import statistics
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.define import reffile
from assay.define.refs import Ref
from assay.files import display_path

# The bounds offered for a metric that has no reference: ±10% catches a real regression yet
# tolerates the run-to-run noise of most benchmarks; only the user knows the metric's own.
PLACEHOLDER_BOUND = 0.1


@dataclass(frozen=True)
class RefChange:
    """One metric's new reference."""

    case: str
    file: Path  # the references file written
    name: str  # the case's variant: the file's top-level key
    pattern: str  # the case's system:partition
    metric: str
    ref: Ref
    old: float | None  # the reference it had


def plan(
    cases: Sequence[dict[str, Any]], include_passed: bool, notes: list[str]
) -> list[RefChange]:
    """The new references of the selected ``cases`` (every repetition of a case, in order):
    metrics that failed their reference, and with ``include_passed`` those that passed.
    What cannot be blessed is said in ``notes``."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        by_id.setdefault(str(case.get("id")), []).append(case)
    changes: list[RefChange] = []
    for repetitions in by_id.values():
        changes += _case_changes(repetitions, include_passed, notes)
    return changes


def _case_changes(
    repetitions: list[dict[str, Any]], include_passed: bool, notes: list[str]
) -> list[RefChange]:
    case = repetitions[-1]
    wanted = ("fail", "pass") if include_passed else ("fail",)
    metrics = [m for m in case.get("metrics") or [] if m.get("verdict") in wanted]
    if not metrics:
        return []
    source = case.get("file")
    if not source or not Path(source).is_file():
        notes.append(
            f"{case['name']}: its test file {source or '(unknown)'} is not there any more; "
            "its metrics' references cannot be written"
        )
        return []
    out = []
    for metric in metrics:
        name = metric["name"]
        value = _median(repetitions, name)
        if value is None or metric.get("reference") is None:
            notes.append(f"{case['name']}: {name} has no measured value or reference to move")
            continue
        ref = Ref(
            value,
            metric.get("lower"),
            metric.get("upper"),
            metric.get("unit"),
            metric.get("lower_abs"),
            metric.get("upper_abs"),
        )
        out.append(
            RefChange(
                case["name"],
                reffile.path_for(source),
                case["variant"],
                f"{case['system']}:{case['partition']}",
                name,
                ref,
                metric.get("reference"),
            )
        )
    return out


def _median(repetitions: list[dict[str, Any]], metric: str) -> float | None:
    """The median of a metric's values over a case's repetitions (None: never measured)."""
    values = [
        m["value"]
        for c in repetitions
        for m in c.get("metrics") or []
        if m.get("name") == metric and isinstance(m.get("value"), int | float)
    ]
    return float(statistics.median(values)) if values else None


@dataclass(frozen=True)
class Unreferenced:
    """The measured metrics of one case that have no reference."""

    case: str
    file: Path  # the references file that would hold them
    name: str  # the case's variant
    pattern: str  # its system:partition
    refs: list[tuple[str, Ref]]  # metric -> the placeholder reference offered


def unreferenced(cases: Sequence[dict[str, Any]]) -> list[Unreferenced]:
    """Per selected case (every repetition, in order), its measured metrics that no
    reference checks."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        by_id.setdefault(str(case.get("id")), []).append(case)
    out = []
    for repetitions in by_id.values():
        case = repetitions[-1]
        source = case.get("file")
        if not source or not Path(source).is_file():
            continue  # nowhere to keep references
        refs = []
        for metric in case.get("metrics") or []:
            value = _median(repetitions, metric["name"])
            if metric.get("verdict") != "no reference" or value is None:
                continue
            bound = PLACEHOLDER_BOUND
            refs.append((metric["name"], Ref(value, -bound, bound, metric.get("unit"))))
        if refs:
            pattern = f"{case['system']}:{case['partition']}"
            out.append(
                Unreferenced(case["name"], reffile.path_for(source), case["variant"], pattern, refs)
            )
    return out


def unreferenced_note(missing: Unreferenced, text: str | None) -> list[str]:
    """What to tell the user about ``missing`` (one line, then the lines to copy), given the
    references file's ``text`` once this bless has written it (``None``: no file)."""
    lines = reffile.updated("", [(missing.name, missing.pattern, m, r) for m, r in missing.refs])
    header, *entries = lines.splitlines()
    names = [m for m, _ in missing.refs]
    where = display_path(missing.file)
    if _has_table(text, missing.name, missing.pattern):
        where += f" under its table {header}"
        copy = entries
    else:
        copy = [header, *entries]
    it = "it" if len(names) == 1 else "them"
    percent = f"{PLACEHOLDER_BOUND:.0%}"
    first = (
        f"{missing.case}: no reference for {', '.join(names)} (measured, never checked); to "
        f"check {it}, add to {where} (the bounds, ±{percent}, are a placeholder: choose them "
        "from the spread you see between runs):"
    )
    return [first, *(f"    {line}" for line in copy)]


def _has_table(text: str | None, name: str, pattern: str) -> bool:
    if text is None:
        return False
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    table = data.get(name)
    return isinstance(table, dict) and isinstance(table.get(pattern), dict)


def edits(changes: Sequence[RefChange]) -> dict[Path, tuple[str | None, str]]:
    """Each references file's text now (``None``: it does not exist) and after ``changes``."""
    out: dict[Path, tuple[str | None, str]] = {}
    for path in dict.fromkeys(c.file for c in changes):
        before = path.read_text(encoding="utf-8") if path.is_file() else None
        mine = [(c.name, c.pattern, c.metric, c.ref) for c in changes if c.file == path]
        out[path] = (before, reffile.updated(before, mine))
    return out


def diff(path: Path, before: str | None, after: str) -> list[str]:
    """A unified diff of one references file, as ``diff -u`` prints it."""
    shown = display_path(path)
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            after.splitlines(keepends=True),
            "/dev/null" if before is None else f"a/{shown}",
            f"b/{shown}",
        )
    ]
