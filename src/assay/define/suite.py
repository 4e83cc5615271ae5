"""Suite files (``*.suite.toml``) compiled into ordinary Test classes.

A suite describes an existing regression suite without Python: a build (archive or
directory, plus overlays), reference cases (directories of inputs with ``expected/``
outputs), a command, and how to compare. It compiles into the same Test classes a Python
author writes, so selection, partitions, retries and reports work unchanged:

* ``NAME``: one variant per reference case (parameter ``case``);
* ``NAME-SWEEP``: one variant per point of each ``[[suite.sweep]]``;
* ``NAME-scaling``: the chosen cases at each node or task count of ``[suite.scaling]``.

The format is documented in docs/suites.md.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from pathlib import Path
from typing import Any

from assay import compare as engine
from assay.define import suite_schema as schema
from assay.define.field_checks import (
    check_skip_exit_codes,
    describe_overlap,
    not_exit_codes,
    skip_overlap,
    suite_exit_codes,
)
from assay.define.fields import SUITE_KEYS
from assay.define.params import parameter, variable, variant_fields
from assay.define.suite_checks import (
    NAME,
    Compiler,
    SuiteProblem,
    case_globs,
    check_layer,
    inside_suite,
    is_dir,
    is_file,
    line_of,
    lookalikes,
    make_class,
    name_problem,
    toml_error_line,
    utf8_names,
)
from assay.define.suite_confine import tools_problem
from assay.define.suite_metrics import add_metrics
from assay.define.suite_pairs import (
    WORDS,
    beside_problem,
    case_files,
    is_pairs,
    pattern_problem,
)
from assay.define.suite_test import Case, CaseDir, CaseFile, SuiteTest
from assay.define.suite_variants import scaling_class, sweep_class
from assay.define.test import Test
from assay.errors import toml_key
from assay.files import real_ancestors
from assay.validation import Invalid, convert, load_toml, read_utf8

__all__ = ["SUFFIX", "CaseDir", "CaseFile", "SuiteProblem", "SuiteTest", "compile_suite"]

SUFFIX = ".suite.toml"


def compile_suite(path: Path) -> tuple[list[type[Test]], list[SuiteProblem]]:
    """The Test classes of the suite file ``path``, and what is wrong with it.

    A suite with problems yields no classes: running half a suite would hide them.
    """
    try:
        text = read_utf8(path)
    except OSError as exc:
        return [], [SuiteProblem(path, None, "", f"cannot read: {exc.strerror}")]
    except Invalid as exc:
        return [], [SuiteProblem(path, None, "", exc.message)]
    comp = Compiler(path, text)
    try:
        body = convert(load_toml(text), schema.File).suite
    except Invalid as exc:
        line = toml_error_line(exc.message) or line_of(text, _problem_key(exc))
        return [], [SuiteProblem(path, line, exc.path, exc.message + _not_in_suite(exc))]
    classes = _compile(comp, body)
    if comp.problems:
        return [], comp.problems
    return classes, []


def _problem_key(exc: Invalid) -> str:
    """The key whose line shows the problem: an unknown key's own, not its table's."""
    unknown = _UNKNOWN_KEY.match(exc.message)
    if unknown is None:
        return exc.path
    return f"{exc.path}.{toml_key(unknown['name'])}" if exc.path else unknown["name"]


_EXPECTED_TRUE = (
    "true is not a name of expected outputs: give a sub-directory of each case "
    '(default "expected"), each input\'s expected file ("{stem}.out"), or false for input '
    "files without expected outputs (the exit code decides)"
)
_UNPAIRED_COMPARE = (
    "expected = false: the cases have no expected outputs to compare; remove "
    '[suite.compare], or name each input\'s expected file (expected = "{stem}.out")'
)

_UNPAIRED_OUTPUT = (
    "{output} names each input's expected file, and expected = false gives none; write "
    'the output to a name of your own, or name the expected files (expected = "{stem}.out")'
)
_OUTPUT_WORD = re.compile(r"(?<![{$])\{output\}(?!\})")  # (as definition.py's _BRACED)

_UNKNOWN_KEY = re.compile(r"unknown key '(?P<name>[^']*)'")


def _not_in_suite(exc: Invalid) -> str:
    """What to add to an unknown key at the top level that is a key of ``[suite]``."""
    unknown = _UNKNOWN_KEY.match(exc.message)
    if exc.path != "(top level)" or unknown is None:
        return ""
    if unknown["name"] not in schema.Body.__struct_fields__:
        return ""
    return "; a suite file's keys are in its [suite] table: put a line [suite] above them"


def _compile(comp: Compiler, body: schema.Body) -> list[type[Test]]:
    name = body.name or comp.path.name[: -len(SUFFIX)]
    if not NAME.fullmatch(name):
        comp.problem(
            "suite.name", f"{name!r} is not a usable test name (letters, digits, '_', '.', '-')"
        )
        return []
    if body.expected is True:
        comp.problem("suite.expected", _EXPECTED_TRUE)
        return []
    # expected = false: each input file the cases glob matches is a case of its own, judged
    # by its exit code (and metrics) alone (toml-test's invalid/*.toml, which must fail).
    unpaired = body.expected is False
    expected_text = "" if body.expected is False else body.expected
    expected = Path(expected_text)
    pairs = unpaired or is_pairs(expected_text)
    words = tuple(w for w in WORDS if w != "output") if unpaired else WORDS
    if pairs:
        problem = None if unpaired else pattern_problem(expected_text)
        if problem is not None:
            comp.problem("suite.expected", problem)
            return []
        for word in (w for w in words if w in body.variables):
            comp.problem(
                f"suite.variables.{word}",
                f"{{{word}}} is each case's own in the command of a suite of pairs "
                f"({', '.join('{' + w + '}' for w in words)}); rename the variable",
            )
        for index, side in enumerate(body.beside):
            problem = beside_problem(side)
            if problem is not None:
                comp.problem(f"suite.beside[{index}]", problem)
                return []
    elif body.beside:
        comp.problem(
            "suite.beside",
            "files beside each input are for a suite of pairs of files (expected with "
            '{stem} or {name}, as "{stem}.html"); a case directory\'s files are all staged',
        )
        return []
    elif expected.is_absolute() or ".." in expected.parts or not expected_text.strip():
        comp.problem(
            "suite.expected",
            f"{expected_text!r} is not a sub-directory of a case; give a relative path "
            'inside each case directory, such as "expected"',
        )
        return []
    if body.exit_codes == []:
        comp.problem("suite.exit_codes", _NO_EXIT_CODES)
        return []
    if isinstance(body.exit_codes, list) and not_exit_codes(body.exit_codes):
        comp.problem("suite.exit_codes", str(not_exit_codes(body.exit_codes)))
        return []
    skip_problem = _skip_codes_problem(
        body.exit_codes, body.skip_exit_codes, "suite.exit_codes", "suite.skip_exit_codes"
    )
    if skip_problem is not None:
        comp.problem(*skip_problem)
        return []
    common = _common_namespace(comp, body)
    cases: list[Case] = []
    if pairs:
        common["format_words"] = words  # each case's own (CaseFile.words): not misspelt
    if pairs and body.cases is not None:
        given = [body.cases] if isinstance(body.cases, str) else list(body.cases)
        cases.extend(case_files(comp, given, None if unpaired else expected_text, body.beside))
    else:
        cases.extend(_case_dirs(comp, body))
    if unpaired:
        commands: list[tuple[str, str | None]] = [("suite.command", body.command)]
        commands += [(f"suite.groups[{i}].command", g.command) for i, g in enumerate(body.groups)]
        for key, text in commands:
            if text is not None and _OUTPUT_WORD.search(text):
                comp.problem(key, _UNPAIRED_OUTPUT)
                return []
        compared = ["suite.compare"] if body.compare is not None else []
        compared += [f"suite.groups[{i}].compare" for i, g in enumerate(body.groups) if g.compare]
        for key in compared:
            comp.problem(key, _UNPAIRED_COMPARE)
        if compared:
            return []
    compare = None if unpaired else _compare_spec(comp, body, cases, pairs)
    classes: list[type[Test]] = []
    if body.cases is not None and cases:  # no case directory: already a problem of its own
        ns = {
            **common,
            "compare_spec": compare,
            "group_compare": _group_compares(comp, body, cases),
            "case": parameter(cases, fmt=str),
        }
        ns.update(_case_settings(comp, body))
        classes.append(make_class(comp, name, ns, "suite.cases"))
    for index, sweep in enumerate(body.sweep):
        cls = sweep_class(comp, body, name, common, compare, index, sweep)
        if cls is not None:
            classes.append(cls)
    if body.scaling is not None:
        cls = scaling_class(comp, body, name, common, compare, cases, body.scaling)
        if cls is not None:
            classes.append(cls)
    if body.cases is None and not body.sweep:
        comp.problem(
            "suite.cases",
            "no cases: give suite.cases (a glob of case directories) or a [[suite.sweep]]",
        )
    return classes


def _common_namespace(comp: Compiler, body: schema.Body) -> dict[str, Any]:
    ns: dict[str, Any] = {
        "__doc__": body.description or None,  # what `assay list -v` shows
        "suite_file": comp.path,
        "expected_name": body.expected if isinstance(body.expected, str) else "expected",
    }
    for key, field in SUITE_KEYS.items():  # the keys that set a test's field (fields.py)
        value = getattr(body, key)
        if value is not None:
            ns[field.field] = field.to_field(value)
    if body.build is not None:
        layers = [body.build, *body.overlays]
        for key, layer in zip(
            ["suite.build"] + ["suite.overlays"] * len(body.overlays), layers, strict=True
        ):
            check_layer(comp, key, layer)
        ns["artifacts"] = {"build": layers}
    elif body.overlays:
        comp.problem("suite.overlays", "overlays need a suite.build to lay them on")
    for var_name, default in body.variables.items():
        problem = name_problem(var_name, "variable")
        if problem is not None:
            comp.problem(f"suite.variables.{toml_key(var_name)}", problem)
            continue
        ns[var_name] = variable(type(default), default)
    add_metrics(comp, "suite", body.metrics, body.references, ns)
    return ns


def _case_dirs(comp: Compiler, body: schema.Body) -> list[CaseDir]:
    if body.cases is None:
        return []
    patterns = [body.cases] if isinstance(body.cases, str) else list(body.cases)
    if not patterns:  # (else no test at all, and "no tests found" blamed the file's kind)
        comp.problem(
            "suite.cases",
            "an empty list names no case; give globs of case directories, such as ['cases/*'], "
            "or remove the key for a suite without case directories",
        )
        return []
    found: dict[str, CaseDir] = {}
    home = real_ancestors(comp.base)  # the suite's directory and those above it
    ids: dict[Path, tuple[int, int]] = {}

    def directory(match: Path) -> bool:  # one stat each (200 case dirs are 200 stats)
        try:
            st = os.stat(match)
        except (OSError, ValueError):
            return False
        ids[match] = (st.st_dev, st.st_ino)
        return stat.S_ISDIR(st.st_mode)

    for pattern in patterns:
        dirs = case_globs(comp, pattern, "directory", directory)
        holding = [d for d in dirs if ids[d] in home]
        if holding:
            # Its copy would hold the suite and the runs ("/": the whole file system).
            comp.problem(
                "suite.cases",
                f"{pattern!r} matches {holding[0]}, which holds the suite file: not a case "
                "directory; give a glob of case directories, such as 'cases/*'",
            )
            continue
        dirs = utf8_names(comp, "suite.cases", "case directory", dirs)
        for d in inside_suite(comp, "suite.cases", "case directory", dirs):
            if d.name in found and found[d.name].path != d:
                comp.problem(
                    "suite.cases",
                    f"two case directories are named {d.name!r} ({found[d.name].path} and {d}); "
                    "case names must be unique",
                )
            found[d.name] = CaseDir(d.name, d)
    lookalikes(comp, list(found), "case directories")
    return list(found.values())


def _compare_spec(
    comp: Compiler, body: schema.Body, cases: list[Case], pairs: bool
) -> dict[str, Any] | None:
    """The suite's comparison. Without a table, expected outputs are compared with the
    defaults all the same: a pair's always, case directories' when one of them has its
    expected directory (leaving them uncompared passed every case whatever it wrote)."""
    compare = body.compare
    if compare is None and (pairs or any(_expected_of(c, str(body.expected)) for c in cases)):
        compare = schema.Compare()
    if compare is None:
        return None
    grouped = {c.name for c in cases if _group_compare_of(body, c) is not None}
    _check_compare(
        comp, "suite.compare", compare, body, [c for c in cases if c.name not in grouped]
    )
    return compare.engine_spec(str(comp.base))


def _group_compare_of(body: schema.Body, case: Case) -> schema.Compare | None:
    index = _first_group(body, case)
    return None if index is None else body.groups[index].compare


def _check_compare(
    comp: Compiler, key: str, compare: schema.Compare, body: schema.Body, cases: list[Case]
) -> None:
    """The engine checks keys and regexes against a real case (the first that has expected
    outputs), else what it can without one. A case lacking expected outputs, or a file of
    ``files``, is no problem of the suite: it runs, and fails saying so (suite_new.py)."""
    spec = compare.engine_spec()
    from assay.compare.spec import static_problems  # (as the engine: on first use)

    problems = static_problems({"version": engine.VERSION, **spec})
    usable = (_expected_of(c, str(body.expected)) for c in cases)
    sample = next((e for e in usable if e is not None), None)
    if sample is not None:
        probe = {"version": engine.VERSION, "expected": str(sample), "actual": str(sample), **spec}
        if is_dir(sample):
            probe.pop("files", None)  # a case's own: one lacking a file fails when it runs
        problems += [p for p in engine.validate_spec(probe) if p not in problems]
    elif any(isinstance(c, CaseFile) for c in cases) and (compare.files or compare.complete):
        problems.append("files, complete: only for an expected directory; remove them")
    for problem in problems:
        comp.problem(key, problem)
    if compare.tools is not None:
        wrong = tools_problem(compare.tools, comp.base)
        if wrong is not None:
            comp.problem(f"{key}.tools", wrong)
    for name in compare.files:
        if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
            comp.problem(
                f"{key}.files",
                f"{name!r} is not a path inside a case's expected outputs; give a relative "
                "name or glob, such as 'out.txt' or '*.csv'",
            )


def _expected_of(case: Case, expected: str) -> Path | None:
    """A case's expected outputs (a pair's file, a case directory's sub-directory), if there."""
    if isinstance(case, CaseFile):
        return case.expected if case.expected and is_file(case.expected) else None
    return case.path / expected if is_dir(case.path / expected) else None


def _case_settings(comp: Compiler, body: schema.Body) -> dict[str, Any]:
    """``@variant_fields`` for groups (any per-case key: tags, time limits, partitions,
    exit codes, the command...) and ``tag_partitions`` (which partitions a tag's cases run
    on)."""
    groups = list(body.groups)
    tag_parts = dict(body.tag_partitions)
    if not groups and not tag_parts:
        return {}
    base_tags = set(body.tags)
    own = [_group_fields(comp, i, g, body) for i, g in enumerate(groups)]

    def settings(case: Case) -> dict[str, Any]:
        # The first group whose patterns match the case sets its extra tags and settings.
        index = next(
            (
                i
                for i, g in enumerate(groups)
                if any(fnmatch.fnmatchcase(case.name, p) for p in g.cases)
            ),
            None,
        )
        fields: dict[str, Any] = dict(own[index]) if index is not None else {}
        tags: set[str] = set(groups[index].tags) if index is not None else set()
        if tags:
            fields["tags"] = tags
        mapped = [p for t in sorted(base_tags | tags) for p in tag_parts.get(t, [])]
        if mapped and "systems" not in fields:
            fields["systems"] = mapped
        return fields

    return {"case_settings": variant_fields(settings)}


def _group_fields(
    comp: Compiler, index: int, group: schema.Group, body: schema.Body
) -> dict[str, Any]:
    """The fields a group sets, as ``@variant_fields`` returns them."""
    fields: dict[str, Any] = {}
    for key in schema.GROUP_FIELDS:
        value = getattr(group, key)
        if value is None:
            continue
        if key == "exit_codes" and value == []:
            comp.problem(f"suite.groups[{index}].exit_codes", _NO_EXIT_CODES)
            continue
        if key == "exit_codes" and isinstance(value, list) and not_exit_codes(value):
            comp.problem(f"suite.groups[{index}].exit_codes", str(not_exit_codes(value)))
            continue
        if key == "skip_exit_codes" or (key == "exit_codes" and group.skip_exit_codes is None):
            # (The pair as this group's cases get it: each key from the group or the suite.)
            here = f"suite.groups[{index}]."
            own_codes, own_skip = group.exit_codes is not None, group.skip_exit_codes is not None
            problem = _skip_codes_problem(
                group.exit_codes if own_codes else body.exit_codes,
                body.skip_exit_codes if group.skip_exit_codes is None else group.skip_exit_codes,
                f"{here if own_codes else 'suite.'}exit_codes",
                f"{here if own_skip else 'suite.'}skip_exit_codes",
            )
            if problem is not None:
                comp.problem(*problem)
                continue
        suite_key = SUITE_KEYS[key]
        fields[suite_key.field] = suite_key.to_field(value)
    if group.env:
        fields["env"] = {**body.env, **group.env}
    return fields


def _skip_codes_problem(
    accepted: Any, skip: list[int], codes_key: str, skip_key: str
) -> tuple[str, str] | None:
    """The key and what is wrong when ``skip_exit_codes`` (set at ``skip_key``) is not
    acceptable, or names a code that ``exit_codes`` (at ``codes_key``) accepts too."""
    problem = check_skip_exit_codes(skip)
    if problem is not None:
        return skip_key, problem
    both = skip_overlap(suite_exit_codes(accepted), skip)
    if not both:
        return None
    return skip_key, describe_overlap(accepted, both, (codes_key, skip_key))


_NO_EXIT_CODES = (
    "[] accepts no exit code, so every case would fail; give the codes that pass "
    '(the default is [0]), "any" or "nonzero"'
)


def _group_compares(comp: Compiler, body: schema.Body, cases: list[Case]) -> dict[str, Any]:
    """Case name -> the ``compare`` of the first group matching it, for groups that have one."""
    out: dict[str, Any] = {}
    for index, group in enumerate(body.groups):
        if group.compare is None:
            continue
        mine = [c for c in cases if _first_group(body, c) == index]
        _check_compare(comp, f"suite.groups[{index}].compare", group.compare, body, mine)
        spec = group.compare.engine_spec(str(comp.base))
        out.update({c.name: spec for c in mine})
    return out


def _first_group(body: schema.Body, case: Case) -> int | None:
    return next(
        (
            i
            for i, g in enumerate(body.groups)
            if any(fnmatch.fnmatchcase(case.name, p) for p in g.cases)
        ),
        None,
    )
