"""``expected = false``: a suite whose input files have no expected outputs, each a case
judged by its exit code alone (toml-test's ``invalid/**/*.toml``, which a parser must
refuse). Before, such a glob was refused as matching no case directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.define.suite_test import CaseFile
from assay.define.test import bind
from assay.session import Request, prepare
from tests.unit.toml_fuzz import dumps


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for rel in ("invalid/array/double-comma.toml", "invalid/key/empty.toml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a = [1,,2]\n")
    return tmp_path


def _prepare(home: Path, **extra: object):
    body = {
        "command": "parse {input}",
        "cases": "invalid/**/*.toml",
        "expected": False,
        "exit_codes": "nonzero",
    }
    path = home / "toml.suite.toml"
    path.write_text(dumps({"suite": {**body, **extra}}))
    return prepare(Request(paths=[str(path)]))


def problems(home: Path, **extra: object) -> list[str]:
    return [str(p) for p in _prepare(home, **extra).problems]


def test_each_input_file_is_a_case_without_expected_outputs(home):
    prepared = _prepare(home)
    assert [str(p) for p in prepared.problems] == []
    names = sorted(c.name.split(" @")[0] for c in prepared.plan.cases)
    assert names == ["toml[case=double-comma]", "toml[case=empty]"]
    case = prepared.plan.cases[0]
    own = case.variant.params["case"]
    assert isinstance(own, CaseFile) and own.expected is None
    test = bind(case.variant.test, case.variant.params, {}, None)  # type: ignore[arg-type]
    assert test.expected_dir() is None and test.case_compare() is None
    assert test.format("parse {input} {stem} {dir}") == f"parse {own.path.name} {own.name} " + (
        f"invalid/{own.path.parent.name}"
    )


def test_without_it_the_same_glob_is_still_refused_naming_directories(home):
    """Forgetting ``expected`` must not pass every case uncompared: it stays a problem."""
    (found,) = problems(home, expected="expected")
    assert "'invalid/**/*.toml' matches no directory" in found
    # (and says how files become cases: before, the message stopped at the directory)
    assert found.endswith(
        "; it matches 2 file(s), such as 'double-comma.toml': for a case per file, name each "
        'one\'s expected output (expected = "{stem}.out"), or set expected = false when its '
        "exit code alone decides"
    )


def test_output_is_no_word_of_a_case_without_expected_outputs(home):
    (found,) = problems(home, command="parse {input} > {output}")
    assert found.endswith(
        "suite.command: {output} names each input's expected file, and expected = false "
        "gives none; write the output to a name of your own, or name the expected files "
        '(expected = "{stem}.out")'
    )


def test_a_comparison_is_refused_naming_the_fix(home):
    (found,) = problems(home, compare={"mode": "text"})
    assert found.endswith(
        "suite.compare: expected = false: the cases have no expected outputs to compare; "
        'remove [suite.compare], or name each input\'s expected file (expected = "{stem}.out")'
    )
    (found,) = problems(home, groups=[{"cases": ["empty"], "compare": {"mode": "text"}}])
    assert "suite.groups[0].compare: expected = false" in found


def test_expected_true_is_refused_naming_the_choices(home):
    (found,) = problems(home, expected=True)
    assert "suite.expected: true is not a name of expected outputs" in found
    assert "or false for input files without expected outputs" in found


def test_files_beside_each_input_are_staged_with_it(home):
    (home / "invalid" / "key" / "empty.opts").write_text("-v\n")
    prepared = _prepare(home, beside=["{stem}.opts"])
    assert [str(p) for p in prepared.problems] == []
    cases = {c.variant.params["case"].name: c.variant.params["case"] for c in prepared.plan.cases}
    assert [p.name for p in cases["empty"].beside] == ["empty.opts"]
    assert cases["double-comma"].beside == ()
