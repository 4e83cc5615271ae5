"""``assay bless``: accept intended changes by copying actual outputs over expected ones.

It works from the newest session's report: each case's comparisons name the expected
root, and the compared actual files were kept in the case's output dir. Only files that
differed (and extra files in complete directories) are copied; nothing is deleted.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay import bless_refs, terminal
from assay.bless_refs import RefChange, Unreferenced
from assay.bless_write import LINK_HINT, NotBlessed, link_in_the_way, replace_file
from assay.errors import UsageError
from assay.files import display_path, write_atomic
from assay.select import Selection
from assay.terminal import echo


@dataclass(frozen=True)
class Copy:
    case: str
    source: Path  # the actual file, kept in the case's output dir
    target: Path  # the expected file it replaces: root / relative
    root: Path  # the expected root (a pair's: the expected file's directory)
    relative: str  # the file's path under root; bless writes nothing outside root


__all__ = ["Copy", "NotBlessed", "Plan", "apply", "plan", "run"]


@dataclass
class Plan:
    """What blessing the selected cases does, and what it cannot do (said, never skipped)."""

    copies: list[Copy]
    references: list[RefChange]
    notes: list[str]
    unreferenced: list[Unreferenced] = field(default_factory=list)  # said, not a failure


def plan(
    report_path: Path,
    names: Sequence[str] = (),
    ids: Sequence[str] = (),
    include_passed: bool = False,
) -> Plan:
    """The copies and new references that blessing the selected cases makes, and notes on
    the selected cases that cannot be blessed (and why)."""
    from assay.owned import read_owned  # lazy: only bless reads a report this way

    try:
        # The report says which files to write where: only one this user wrote is used.
        text = read_owned(report_path, "bless")
        if text is None:
            raise FileNotFoundError(report_path)
        report = json.loads(text)
    except FileNotFoundError:
        raise UsageError(
            f"no session to bless from: {report_path} does not exist",
            hint="run the suite first (assay run ...), or give --prefix",
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {report_path}: {exc}") from None
    cases: list[dict[str, Any]] = report.get("cases", [])
    selection = Selection(names=names).resolve(
        [c["variant"] for c in cases], [c["name"][len(c["variant"]) :] for c in cases]
    )
    selected = [
        c
        for c in cases
        if selection.variant_ok(c["variant"], {})
        and selection.case_ok(c["variant"], c["name"])
        and (not ids or any(c["id"].startswith(i.lower()) for i in ids))
    ]
    out = Plan([], [], [])
    out.references = bless_refs.plan(selected, include_passed, out.notes)
    out.unreferenced = bless_refs.unreferenced(selected)
    # With --repeat a case has several results: bless the last repetition's outputs only.
    last = {c.get("id"): c for c in selected}
    for case in selected:
        if last.get(case.get("id")) is not case:
            continue
        if case["status"] == "passed" and not include_passed:
            continue
        before = len(out.copies) + len(out.notes)
        if case["status"] in ("failed", "passed"):
            out.copies.extend(_case_copies(case, out.notes))
        blessed = any(r.case == case["name"] for r in out.references)
        said = len(out.copies) + len(out.notes) > before
        if case["status"] != "passed" and not blessed and not said:
            out.notes.append(_why_not(case))
    return out


def _why_not(case: dict[str, Any]) -> str:
    """Why a selected case that did not pass has nothing to bless."""
    failure = case.get("failure") or {}
    reason = str(failure.get("reason") or case.get("skip_reason") or "").splitlines()[:1]
    how = f" at the {failure['stage']} stage" if failure.get("stage") else ""
    how += f" ({reason[0]})" if reason else ""
    return (
        f"{case['name']}: {case['status']}{how}; nothing to bless: bless takes outputs that differ "
        "from the expected ones and metrics outside their references, and this case has "
        "neither (fix it, or rerun it)"
    )


def _case_copies(case: dict[str, Any], notes: list[str]) -> list[Copy]:
    out: list[Copy] = []
    output_dir = Path(case["output_dir"]) if case.get("output_dir") else None
    verdicts = case.get("comparisons") or []
    if any(v.get("judged") is False for v in verdicts):
        failure = case.get("failure") or {}
        reason = str(failure.get("reason") or "its exit code was not accepted").splitlines()[0]
        notes.append(
            f"{case['name']}: {reason}: the outputs of a run that failed are not blessed "
            "(they were compared only to show the difference); fix the run first"
        )
        return out
    for verdict in verdicts:
        expected = Path(verdict["expected"])
        # A new case's outputs that have no expected file yet: created below its directory
        # (define/suite_new.py), the case's own directories on the way made, none followed.
        new = verdict.get("no_expected") or {}
        targets: dict[str, str] = new.get("files") or {}
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
            if name in targets:
                root, relative = Path(new["base"]), targets[name]
            else:
                root, relative = (
                    (expected.parent, expected.name) if expected.is_file() else (expected, name)
                )
            link = link_in_the_way(root, relative)
            link = link if link is not None or not source.is_symlink() else source
            if link is not None:
                # (the link itself named, not where it leads: display_path resolves it)
                shown = os.path.join(display_path(link.parent), link.name)
                notes.append(f"{case['name']}: {shown} is a symbolic link; {LINK_HINT}")
                continue
            out.append(Copy(case["name"], source, root / relative, root, relative))
    return out


def apply(copies: Sequence[Copy]) -> None:
    """Write each copy's expected file (:func:`assay.bless_write.replace_file`: never
    through a link; :class:`NotBlessed` when one is in the way)."""
    for copy in copies:
        replace_file(copy.root, copy.relative, copy.source)


def run(
    prefix: Path,
    names: Sequence[str],
    ids: Sequence[str],
    include_passed: bool,
    yes: bool,
) -> int:
    """The ``bless`` command: show the plan (copies, and a diff of the references files),
    confirm, write. Returns the exit code."""
    report_path = prefix / "latest" / "report.json"
    from assay.owned import check_prefix  # lazy: as above

    check_prefix(prefix)
    found = plan(report_path, names, ids, include_passed)
    copies, changes = found.copies, found.references
    edits = _edits(changes)
    for note in found.notes:
        print(terminal.line(f"note: {note}"))
    for missing in found.unreferenced:
        after = edits[missing.file][1] if missing.file in edits else _text(missing.file)
        first, *lines = bless_refs.unreferenced_note(missing, after)
        print(terminal.line(f"note: {first}"), *map(terminal.line, lines), sep="\n")
    if not copies and not changes:
        if found.notes:  # (the notes above say why each could not be)
            echo(f"nothing blessed: see the note(s) above ({display_path(report_path)})")
            return 1
        echo(
            "nothing to bless: no selected case has differing outputs or metrics outside "
            f"their references in the last session ({display_path(report_path)})"
        )
        return 0
    if copies:
        echo(f"blessing {len(copies)} file(s) of {len({c.case for c in copies})} case(s):")
        for copy in copies:
            source, target = display_path(copy.source), display_path(copy.target)
            print(terminal.line(f"  {copy.case}: {source} -> {target}"))
    if changes:
        cases = len({c.case for c in changes})
        echo(f"new references for {len(changes)} metric(s) of {cases} case(s):")
        for change in changes:
            old = "none" if change.old is None else f"{change.old:.6g}"
            said = f"  {change.case}: {change.metric} {old} -> {change.ref.value:.6g}"
            print(terminal.line(said))
        for path, (before, after) in edits.items():
            for line in bless_refs.diff(path, before, after):
                print(terminal.line(line))
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "not on a terminal: pass --yes to overwrite the expected outputs and references"
            )
        what = [f"{len(copies)} expected file(s)"] if copies else []
        what += [f"{len(edits)} references file(s)"] if edits else []
        answer = input(f"write {' and '.join(what)}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            echo("nothing changed")
            return 1
    apply(copies)
    for path, (_, after) in edits.items():
        write_atomic(path, after)
    done = [f"{len(copies)} file(s)"] if copies else []
    if edits:
        done.append(f"{len(changes)} reference(s) in {', '.join(map(display_path, edits))}")
    echo(f"blessed {' and '.join(done)}")
    return 0


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _edits(changes: Sequence[RefChange]) -> dict[Path, tuple[str | None, str]]:
    try:
        return bless_refs.edits(changes)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read a references file: {exc}") from None
    except Exception as exc:  # tomlkit's parse errors (the file was checked when loaded)
        raise UsageError(
            f"cannot update the references file: {exc}",
            hint="fix the file (assay run reports where), then bless again",
        ) from None
