"""A suite case without expected outputs yet (a new case): run, then failed with a reason.

A new case is added as a directory of inputs without ``expected/``, or a pair's input
without its expected file, or an expected directory lacking a file ``[suite.compare]``
names. Such a case is no problem of the suite (its other cases run as before): it runs,
its outputs are kept as any compared case's, and it fails at the compare stage naming
what is missing, where its outputs are and ``assay bless --case ID``, which creates the
missing expected files from those outputs (bless.py; its verdict's ``no_expected`` says
which files and where).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import SanityError
from assay.files import display_path

if TYPE_CHECKING:
    from assay.define.output import Output
    from assay.define.suite_test import Case
    from assay.define.test import CaseInfo


def compare_case(
    out: Output, case: Case | None, info: CaseInfo, expected: Path, spec: dict[str, Any]
) -> None:
    """``out.compare(expected, **spec)``, unless the case lacks expected outputs: then the
    files it has are compared, and the case fails naming the ones it lacks."""
    before = len(out.comparisons)
    try:
        out.compare(expected, **spec)
        return
    except SanityError:
        # Missing expected outputs are a spec error of the engine: only then is there any
        # need to look (a case that has them costs no look more than before).
        if len(out.comparisons) == before or not out.comparisons[-1]["errors"]:
            raise
        lacking = _lacking(case, expected, spec)
        if lacking is None:
            raise
        out.comparisons.pop()
    base, targets, rest = lacking
    found: dict[str, Any] | None = None
    if rest is not None:
        try:
            out.compare(expected, **{**spec, "files": rest})
        except SanityError:
            if len(out.comparisons) == before or out.comparisons[-1]["errors"]:
                raise  # the comparison's own problem: said as it is
        found = out.comparisons.pop()
    names = _new_names(out, case, expected, spec, targets)
    verdict = _verdict(out, expected, base, names, targets, found, info)
    out.comparisons.append(verdict)
    from assay.results.differences import describe_differences  # lazy: as Output.compare

    raise SanityError(verdict["summary"], describe_differences(verdict))


def lacks_expected(case: Case | None, expected: Path, spec: Mapping[str, Any]) -> bool:
    """Whether ``case`` lacks expected outputs its comparison needs."""
    return _lacking(case, expected, spec) is not None


def _lacking(
    case: Case | None, expected: Path, spec: Mapping[str, Any]
) -> tuple[Path, dict[str, str], list[str] | None] | None:
    """None when ``case`` has its expected outputs (as far as a look can tell; the engine
    says the rest), else: the directory the missing ones are created below (the case's
    own), the relative path below it of each missing file named plainly (by its name in
    the outputs; ``{}``: the whole expected directory is missing) and the ``files`` still
    to compare (None: none)."""
    from assay.define.suite_test import CaseDir, CaseFile  # (suite_test imports this module)

    if isinstance(case, CaseFile):
        if os.path.lexists(expected):
            return None
        return expected.parent, {expected.name: expected.name}, None
    if not isinstance(case, CaseDir):
        return None
    below = os.path.relpath(expected, case.path)
    if not os.path.isdir(expected):
        if os.path.lexists(expected):
            return None  # a file or a link there: the engine says what it is
        return case.path, {}, None
    files = spec.get("files")
    if not isinstance(files, list) or not files:
        try:
            with os.scandir(expected) as entries:  # (an empty expected/ made ahead of its files)
                empty = next(entries, None) is None
        except OSError:
            return None  # unreadable: the engine says so
        return (case.path, {}, None) if empty else None
    from assay.compare.spec import plain_name  # (a case that lacks something: rare)

    plain = [f for f in files if isinstance(f, str) and plain_name(f)]
    absent = [f for f in plain if not os.path.lexists(os.path.join(expected, f))]
    if not absent:
        return None
    rest = [f for f in files if f not in absent]
    return case.path, {f: f"{below}/{f}" for f in absent}, rest or None


def _new_names(
    out: Output, case: Case | None, expected: Path, spec: Mapping[str, Any], targets: dict[str, str]
) -> list[str]:
    """The outputs that become the missing expected files: those named; with no expected
    directory at all, the outputs ``files`` selects (every output without ``files``)."""
    if targets:
        return list(targets)
    from assay.compare.options import glob, parents, relative
    from assay.compare.spec import plain_name

    listing = _outputs(out.stage_dir, set(out.not_outputs))
    files = spec.get("files")
    if not isinstance(files, list) or not files:
        return listing
    chosen: list[str] = []
    for pattern in (f for f in files if isinstance(f, str)):
        if plain_name(pattern):
            chosen.append(pattern)  # (said missing from the outputs when it is)
            continue
        try:
            regex = glob(relative(pattern))
        except re.error:  # (refused when the suite was loaded)
            continue
        chosen += [
            f for f in listing if regex.fullmatch(f) or any(map(regex.fullmatch, parents(f)))
        ]
    return list(dict.fromkeys(chosen))


def _outputs(stage_dir: Path, not_outputs: set[str]) -> list[str]:
    """The stage dir's files that are outputs (not inputs, not assay's own), relative; a
    link to a directory is not walked (it may lead anywhere), a link to a file is named
    (kept as the link; bless refuses to copy it)."""
    found: list[str] = []
    for folder, dirs, files in os.walk(stage_dir):
        rel = os.path.relpath(folder, stage_dir)
        rel = "" if rel == "." else f"{rel}/"
        dirs[:] = sorted(d for d in dirs if f"{rel}{d}" not in not_outputs)
        found += [f"{rel}{f}" for f in files if f"{rel}{f}" not in not_outputs]
    return sorted(found)


def _verdict(
    out: Output,
    expected: Path,
    base: Path,
    names: list[str],
    targets: dict[str, str],
    compared: dict[str, Any] | None,
    info: CaseInfo,
) -> dict[str, Any]:
    """A failed comparison: ``compared`` (the files the case has, if any) and one failed
    entry for each output that has no expected file yet."""
    top = str(out.stage_dir)
    made = [n for n in names if os.path.lexists(os.path.join(top, n))]
    missing = [n for n in names if n not in made]
    below = os.path.relpath(expected, base)
    where = {n: targets.get(n) or f"{below}/{n}" for n in made}
    entries = [
        {
            "file": n,
            "format": "none",
            "ok": False,
            "no_expected": True,
            "differences": [],
            "truncated": False,
            "message": f"{display_path(base / where[n])} does not exist",
        }
        for n in made
    ]
    if targets:
        gone = [str(base / t) for t in targets.values()]
        what = ", ".join(display_path(g) for g in gone[:3])
        what += f" and {len(gone) - 3} more" if len(gone) > 3 else ""
        what += " do not exist" if len(gone) > 1 else " does not exist"
    elif os.path.isdir(expected):
        what = f"{display_path(expected)} holds no files"
    else:
        what = f"{display_path(expected)} does not exist"
    kept = display_path(info.output_dir)
    bless = f"`assay bless --case {info.id}`"
    if len(made) == 1:
        fix = f"check this run's output {kept}/{made[0]} and accept it with {bless}"
    elif made:
        shown = ", ".join(made[:3]) + (f" and {len(made) - 3} more" if len(made) > 3 else "")
        fix = f"check this run's outputs in {kept} ({shown}) and accept them with {bless}"
    else:
        fix = "the run made no output to accept either; make the command write it, then rerun"
    summary = f"no expected outputs yet: {what}; {fix}"
    files = list(compared["files"]) if compared else []
    if compared and not compared["ok"]:
        summary += f"; and {compared['summary']}"
    return {
        "version": 1,
        "ok": False,
        "summary": summary,
        "files": files + entries,
        "missing": sorted({*(compared["missing"] if compared else []), *missing}),
        "extra": list(compared["extra"]) if compared else [],
        "errors": [],
        "expected": str(expected),
        "actual": top,
        "no_expected": {"base": str(base), "files": where},
    }
