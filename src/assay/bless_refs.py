"""``assay bless`` for performance: new references for metrics outside their bounds.

A case's new reference keeps the tolerances it was held to and takes the measured value
(the median of its repetitions under ``--repeat``). It is written to the references file
beside the case's test or suite file (``define/reffile.py``), keyed by the case's variant
and its exact ``system:partition``: the test's own ``references`` stay as they are, and
the file's reference, more specific, wins from now on.
"""

from __future__ import annotations

import difflib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.define import reffile
from assay.define.refs import Ref
from assay.files import display_path


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
        values = [
            m["value"]
            for c in repetitions
            for m in c.get("metrics") or []
            if m.get("name") == name and isinstance(m.get("value"), int | float)
        ]
        if not values or metric.get("reference") is None:
            notes.append(f"{case['name']}: {name} has no measured value or reference to move")
            continue
        ref = Ref(
            float(statistics.median(values)),
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
