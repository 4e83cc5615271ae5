"""Flat golden-file pairs: ``cases`` globs input files and ``expected`` names each one's
expected output after it (``expected = "{stem}.html"`` pairs ``x.txt`` with ``x.html`` in
the same directory), instead of one directory per case. Documented in docs/suites.md."""

from __future__ import annotations

import os
import string
from pathlib import Path, PurePosixPath

from assay.define.suite_checks import (
    Compiler,
    case_globs,
    exists,
    inside_suite,
    is_file,
    lookalikes,
    utf8_names,
)
from assay.define.suite_test import CaseFile

PLACEHOLDERS = ("stem", "name")
"""What ``expected`` may hold: the input's name without its last suffix, and its name."""

WORDS = ("input", "output", "stem", "dir", "dir_name")
"""The names a pairs suite's command gets (see :meth:`CaseFile.words`)."""


def is_pairs(expected: str) -> bool:
    """Whether ``expected`` is a file name pattern (pairs), not a case's sub-directory."""
    return "{" in expected


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` (``expected`` of a pairs suite) cannot name an expected file, or None."""
    fix = (
        f"{pattern!r} cannot name an expected file: the only placeholders are {{stem}} and "
        '{name} (the input\'s name without and with its suffix), as in "{stem}.html"'
    )
    return fix if not _placeholders(pattern) else None


def _placeholders(pattern: str) -> list[str] | None:
    """The placeholders ``pattern`` uses, in order; None when it is no format string or
    uses anything but a plain ``{stem}`` or ``{name}`` (a field, a spec, a conversion)."""
    try:
        fields = list(string.Formatter().parse(pattern))
    except ValueError:
        return None
    used = [(f, spec, conv) for _, f, spec, conv in fields if f is not None]
    if any(f not in PLACEHOLDERS or spec or conv for f, spec, conv in used):
        return None
    return [f for f, _, _ in used]


def beside_problem(pattern: str) -> str | None:
    """Why ``pattern`` (an entry of ``beside``) cannot name a file beside an input, or None.
    Unlike ``expected`` it may hold no placeholder: one file staged with every input."""
    fix = (
        f"{pattern!r} cannot name a file beside an input: give a relative name in which the "
        "only placeholders are {stem} and {name} (the input's name without and with its "
        'suffix), as in "{stem}.opts"'
    )
    if _placeholders(pattern) is None:
        return fix
    named = pattern.format(stem="x", name="x.y")
    if not named.strip() or os.path.isabs(named) or Path(named).name in ("", ".", ".."):
        return fix
    return None


def case_files(
    comp: Compiler, patterns: list[str], expected: str | None, beside: list[str] | None = None
) -> list[CaseFile]:
    """One case per input file the ``patterns`` match (relative to the suite file), its
    expected file named by ``expected`` (None: ``expected = false``, inputs that have none)
    and the files of ``beside`` that exist staged with it; every problem reported once. A
    matched file that is another matched file's expected file, or one beside it, is no input
    (``examplefiles/*/*`` matches ``x.ext`` and ``x.ext.output``: one case)."""
    inputs: dict[Path, None] = {}  # each input once, in the globs' order
    for pattern in patterns:
        for path in case_globs(comp, pattern, "file", is_file):
            inputs.setdefault(Path(os.path.normpath(path)), None)
    texts = utf8_names(comp, "suite.cases", "input", list(inputs))
    found_inputs = inside_suite(comp, "suite.cases", "input", texts)
    pairs = {p: None if expected is None else _expected_file(p, expected) for p in found_inputs}
    named = [e for e in pairs.values() if e is not None]
    mine = inside_suite(comp, "suite.expected", "expected file", named)
    # A file named in `beside` is optional (markdown2's x.opts: only some inputs have one).
    sides = {p: [_expected_file(p, b) for b in beside or []] for p in found_inputs}
    sides = {p: [f for f in fs if exists(f)] for p, fs in sides.items()}
    staged = [f for fs in sides.values() for f in fs]
    confined = inside_suite(comp, "suite.beside", "file beside an input", staged)
    if len(found_inputs) < len(inputs) or len(mine) < len(named) or len(confined) < len(staged):
        return []
    theirs = {e for p, e in pairs.items() if e is not None and e != p}  # (own: _names_ok)
    theirs.update(f for p, fs in sides.items() for f in fs if f != p)  # (_beside_ok)
    kept = [p for p in inputs if p not in theirs]
    names = unique_names(kept, comp.base)
    found = [_case(comp.base, names[p], p, pairs[p], sides[p]) for p in kept]
    if expected is not None and not _names_ok(comp, found, expected):
        return []
    if not _beside_ok(comp, found):
        return []
    cases: dict[str, CaseFile] = {}
    for case in found:
        if case.name in cases:  # (unique_names makes none: kept as the last guard)
            comp.problem(
                "suite.cases",
                f"two inputs have the name {case.name!r} ({cases[case.name].path} and "
                f"{case.path}); case names must be unique: narrow the glob or rename one",
            )
            continue
        cases[case.name] = case
    lookalikes(comp, list(cases), "inputs")
    if expected is not None:
        _expected_exist(comp, expected, list(cases.values()))
    return list(cases.values())


def unique_names(inputs: list[Path], base: Path) -> dict[Path, str]:
    """Each input's case name: its stem, unless another input has that stem too; then its
    file name (``test.adb``, ``test.ads``); then its directory's name and its file name
    (``ada/test.adb``), and so on up to its path relative to ``base``. Only the inputs that
    share a name take more of their paths, each as little as makes it unique, so a name
    depends on the inputs' paths alone (not on the order the globs found them)."""
    parts = {p: PurePosixPath(os.path.relpath(p, base)).parts for p in inputs}
    level = dict.fromkeys(inputs, 0)

    def name(path: Path) -> str:
        if level[path] == 0:
            return path.stem
        return "/".join(parts[path][-level[path] :])

    while True:
        holders: dict[str, list[Path]] = {}
        for path in inputs:
            holders.setdefault(name(path), []).append(path)
        longer = [
            p
            for shared in holders.values()
            if len(shared) > 1
            for p in shared
            if level[p] < len(parts[p])  # (at its whole path it is unique: others grow)
        ]
        if not longer:
            return {p: name(p) for p in inputs}
        for path in longer:
            level[path] += 1


def _case(base: Path, name: str, path: Path, expected: Path | None, beside: list[Path]) -> CaseFile:
    folder = os.path.relpath(path.parent, base)
    # (For the suite's own directory, ".", its name is that of the directory itself.)
    own = Path(os.path.abspath(path.parent)).name
    return CaseFile(name, path, expected, folder, own, tuple(beside))


def _beside_ok(comp: Compiler, cases: list[CaseFile]) -> bool:
    """Each file of ``beside`` is staged under its own name beside the input, where the
    command writes ``{output}``: it must be a file whose name is neither of theirs, nor
    another's of ``beside``, nor assay's own."""
    for case in cases:
        taken = {case.path.name: "the input"}
        if case.expected is not None:
            taken[case.expected.name] = "the expected output"
        for side in case.beside:
            why = None
            if not is_file(side):
                why = "is not a file"
            elif side.name in taken:
                why = f"has the name of {taken[side.name]} ({side.name!r}) in the stage dir"
            elif side.name.startswith(("assay-", ".assay-")):
                why = "is named like assay's own files in the stage dir (assay-*, .assay-*)"
            if why is not None:
                comp.problem(
                    "suite.beside",
                    f"{side} (beside the input of case {case.name!r}) {why}; each file of "
                    "beside is staged under its own name beside the input: name it otherwise",
                )
                return False
            taken[side.name] = "another file of beside"
    return True


def _expected_file(input_file: Path, pattern: str) -> Path:
    """The expected file of ``input_file``: ``pattern`` filled in, relative to its directory
    (``..`` taken lexically, as the user reads it)."""
    named = pattern.format(stem=input_file.stem, name=input_file.name)
    return Path(os.path.normpath(input_file.parent / named))


def _names_ok(comp: Compiler, cases: list[CaseFile], pattern: str) -> bool:
    """The command writes ``{output}`` in the stage dir, which holds the input under its
    own name and assay's files: it can be neither."""
    for case in cases:
        if case.expected is None:  # (only called with expected files: for mypy)
            continue
        output = case.expected.name
        if case.expected == case.path:
            # Only a glob that takes expected files too (tests/* with "{stem}.html") finds
            # one that is its own: an expected file whose input is not there.
            comp.problem(
                "suite.cases",
                f"{case.path} is its own expected file (expected = {pattern!r}), so it cannot "
                "be an input: an expected file whose input is missing? Add the input or "
                "remove the file, or give a glob of the inputs only",
            )
            return False
        if output == case.path.name:
            comp.problem(
                "suite.expected",
                f"the expected file of case {case.name!r} ({case.expected}) has the input's own "
                f"name: the command writes its output as {output!r} beside the input; name "
                'the expected files otherwise, such as "{stem}.out"',
            )
            return False
        if output.startswith(("assay-", ".assay-")):
            comp.problem(
                "suite.expected",
                f"{output!r} (the expected file of case {case.name!r}) is named like assay's own "
                "files in the stage dir (assay-*, .assay-*); rename the expected files",
            )
            return False
    return True


def _expected_exist(comp: Compiler, pattern: str, cases: list[CaseFile]) -> None:
    """One problem for the expected names that are not files (the command's output is one
    file of that name). A missing expected file is the case's own: it runs, and fails
    saying so (suite_new.py)."""
    others = [c for c in cases if c.expected and exists(c.expected) and not is_file(c.expected)]
    if others:
        comp.problem(
            "suite.expected",
            f"{others[0].expected} (the expected file of case {others[0].name!r}) is not a "
            f"file; expected = {pattern!r} names each input's expected output file",
        )
