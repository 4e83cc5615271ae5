"""``assay bless``: accept intended changes by copying actual outputs over expected ones.

It works from the newest session's report: each case's comparisons name the expected
root, and the compared actual files were kept in the case's output dir. Only files that
differed (and extra files in complete directories) are copied; nothing is deleted.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import UsageError
from assay.files import display_path
from assay.select import Selection


@dataclass(frozen=True)
class Copy:
    case: str
    source: Path  # the actual file, kept in the case's output dir
    target: Path  # the expected file it replaces


def plan(
    report_path: Path,
    names: Sequence[str] = (),
    ids: Sequence[str] = (),
    include_passed: bool = False,
) -> tuple[list[Copy], list[str]]:
    """The copies that blessing the selected cases makes, and what cannot be blessed."""
    try:
        report = json.loads(report_path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"no session to bless from: {report_path} does not exist",
            hint="run the suite first (assay run ...), or give --prefix",
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {report_path}: {exc}") from None
    cases = report.get("cases", [])
    selection = Selection(names=names).resolve(
        [c["variant"] for c in cases], [c["name"][len(c["variant"]) :] for c in cases]
    )
    copies: list[Copy] = []
    notes: list[str] = []
    # With --repeat a case has several results: bless the last repetition's outputs only.
    last = {c.get("id"): c for c in cases if c.get("comparisons")}
    for case in cases:
        if case.get("comparisons") and last.get(case.get("id")) is not case:
            continue
        variant = case["variant"]
        if not (selection.variant_ok(variant, {}) and selection.case_ok(variant, case["name"])):
            continue
        if ids and not any(case["id"].startswith(i.lower()) for i in ids):
            continue
        if not case.get("comparisons"):
            continue
        if case["status"] == "passed" and not include_passed:
            continue
        copies.extend(_case_copies(case, notes))
    return copies, notes


def _case_copies(case: dict[str, Any], notes: list[str]) -> list[Copy]:
    out: list[Copy] = []
    output_dir = Path(case["output_dir"]) if case.get("output_dir") else None
    for verdict in case["comparisons"]:
        expected = Path(verdict["expected"])
        names = [f["file"] for f in verdict["files"] if f["file"] != "(command)" and not f["ok"]]
        names += verdict.get("extra", [])
        if case["status"] == "passed":  # blessing a passing case takes its actual values
            names += [f["file"] for f in verdict["files"] if f["ok"] and f["file"] != "(command)"]
        for missing in verdict.get("missing", []):
            notes.append(
                f"{case['name']}: {missing} is missing from the actual outputs; nothing to copy "
                f"(delete {expected / missing} by hand if it should go)"
            )
        for name in dict.fromkeys(names):
            source = output_dir / name if output_dir else None
            if source is None or not source.is_file():
                notes.append(f"{case['name']}: the actual {name} was not kept; rerun the case")
                continue
            target = expected if expected.is_file() else expected / name
            out.append(Copy(case["name"], source, target))
    return out


def apply(copies: Sequence[Copy]) -> None:
    for copy in copies:
        copy.target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(copy.source, copy.target)


def run(
    prefix: Path,
    names: Sequence[str],
    ids: Sequence[str],
    include_passed: bool,
    yes: bool,
) -> int:
    """The ``bless`` command: show the plan, confirm, copy. Returns the exit code."""
    report_path = prefix / "latest" / "report.json"
    copies, notes = plan(report_path, names, ids, include_passed)
    for note in notes:
        print(f"note: {note}")
    if not copies:
        print(
            "nothing to bless: no selected case has differing outputs in the last session "
            f"({display_path(report_path)})"
        )
        return 0 if not notes else 1
    print(f"blessing {len(copies)} file(s) of {len({c.case for c in copies})} case(s):")
    for copy in copies:
        print(f"  {copy.case}: {display_path(copy.source)} -> {display_path(copy.target)}")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("not on a terminal: pass --yes to overwrite the expected outputs")
        answer = input(f"overwrite {len(copies)} expected file(s)? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing changed")
            return 1
    apply(copies)
    print(f"blessed {len(copies)} file(s)")
    return 0
