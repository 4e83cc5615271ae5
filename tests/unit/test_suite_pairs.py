"""Flat golden-file pairs: ``cases`` globs input files and ``expected = "{stem}.html"``
names each one's expected output beside it (Python-Markdown's ``x.txt`` beside ``x.html``).
What the loader makes of them, and each mistake said once, naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.define.suite_test import CaseFile
from assay.define.test import bind
from assay.session import Request, prepare
from tests.unit.toml_fuzz import dumps


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for stem in ("emphasis", "lists", "links"):
        (tmp_path / "tests" / f"{stem}.txt").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tests" / f"{stem}.txt").write_text(f"*{stem}*\n")
        (tmp_path / "tests" / f"{stem}.html").write_text(f"<p><em>{stem}</em></p>\n")
    return tmp_path


def _suite(**extra: object) -> dict:
    body = {"command": "md {input} > {output}", "cases": "tests/*.txt", "expected": "{stem}.html"}
    return {"suite": {**body, **extra}}


def _prepare(home: Path, suite: dict):
    path = home / "md.suite.toml"
    path.write_text(dumps(suite))
    return prepare(Request(paths=[str(path)]))


def problems(home: Path, suite: dict) -> list[str]:
    return [str(p) for p in _prepare(home, suite).problems]


def test_one_case_per_input_file_named_by_its_stem(home):
    prepared = _prepare(home, _suite())
    assert [str(p) for p in prepared.problems] == []
    names = sorted(c.name for c in prepared.plan.cases)
    assert [n.split(" @")[0] for n in names] == [
        "md[case=emphasis]",
        "md[case=links]",
        "md[case=lists]",
    ]
    case = prepared.plan.cases[0].variant.params["case"]
    assert isinstance(case, CaseFile)
    assert case.path == home / "tests" / f"{case.name}.txt"
    assert case.expected == home / "tests" / f"{case.name}.html"


def test_the_command_gets_the_input_and_output_names_quoted(home):
    prepared = _prepare(home, _suite())
    case = prepared.plan.cases[0]
    test = bind(case.variant.test, case.variant.params, {}, None)  # type: ignore[arg-type]
    name = case.variant.params["case"].name
    assert test.format("md {input} > {output}") == f"md {name}.txt > {name}.html"


@pytest.mark.parametrize(
    ("stem", "input_word", "output_word"),
    [
        ("a b", "'a b.txt'", "'a b.html'"),
        ("it's", "'it'\"'\"'s.txt'", "'it'\"'\"'s.html'"),
        ("-n", "./-n.txt", "./-n.html"),  # not an option of the command
        ("new\nline", "$'new\\x0aline.txt'", "$'new\\x0aline.html'"),
        ("$(touch pwned)", "'$(touch pwned).txt'", "'$(touch pwned).html'"),
    ],
)
def test_hostile_names_reach_the_command_as_one_word_that_is_no_option(
    tmp_path, stem, input_word, output_word
):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / f"{stem}.txt").write_text("x\n")
    (tmp_path / "tests" / f"{stem}.html").write_text("x\n")
    prepared = _prepare(tmp_path, _suite())
    assert [str(p) for p in prepared.problems] == []
    (case,) = prepared.plan.cases
    test = bind(case.variant.test, case.variant.params, {}, None)  # type: ignore[arg-type]
    assert test.format("md {input} > {output}") == f"md {input_word} > {output_word}"
    assert test.format("{case}", quote=False) == stem


def test_expected_may_name_another_directory_relative_to_the_input(home):
    (home / "golden").mkdir()
    for stem in ("emphasis", "lists", "links"):
        (home / "tests" / f"{stem}.html").rename(home / "golden" / f"{stem}.out")
    prepared = _prepare(home, _suite(expected="../golden/{stem}.out"))
    assert [str(p) for p in prepared.problems] == []
    case = prepared.plan.cases[0].variant.params["case"]
    assert case.expected == home / "golden" / f"{case.name}.out"


def test_missing_expected_files_are_no_problem_of_the_suite(home):
    # (Each such case runs and fails saying so: test_suite_new_case.py.)
    for stem in ("emphasis", "lists", "links"):
        (home / "tests" / f"{stem}.html").unlink()
    assert problems(home, _suite()) == []


def test_a_glob_that_also_matches_the_expected_files_is_refused(home):
    (found,) = problems(home, _suite(cases="tests/*"))
    assert "suite.cases: 'tests/*' matches" in found
    assert "the expected file of case" in found
    assert "'tests/*.txt'" in found  # the fix: a glob of the inputs only


def test_a_glob_that_matches_no_file_is_one_problem(home):
    (found,) = problems(home, _suite(cases="tests/*.md"))
    assert "suite.cases: 'tests/*.md' matches no file under" in found


def test_two_inputs_with_one_stem_are_refused(home):
    (home / "tests" / "emphasis.md").write_text("x\n")
    (found,) = problems(home, _suite(cases=["tests/*.txt", "tests/*.md"]))
    assert "two inputs have the stem 'emphasis'" in found


@pytest.mark.parametrize("pattern", ["{stem}.{ext}", "{0}.html", "{stem!r}.html", "{stem"])
def test_an_unknown_placeholder_is_refused(home, pattern):
    (found,) = problems(home, _suite(expected=pattern))
    assert "suite.expected: " in found and "{stem} and {name}" in found


def test_an_expected_file_with_the_inputs_own_name_is_refused(home):
    """The command writes {output}, the expected file's name, in the stage dir, where the
    input is staged under its own name: the two must differ."""
    (home / "golden").mkdir()
    for stem in ("emphasis", "lists", "links"):
        (home / "golden" / f"{stem}.txt").write_text("x\n")
    (found,) = problems(home, _suite(expected="../golden/{name}"))
    assert "suite.expected: " in found and "the input's own name" in found


def test_an_output_named_like_assays_own_files_is_refused(home):
    for stem in ("emphasis", "lists", "links"):
        (home / "tests" / f"assay-{stem}.out").write_text("x\n")
    (found,) = problems(home, _suite(expected="assay-{stem}.out"))
    assert "suite.expected: " in found and "assay's own" in found


def test_compare_files_do_not_apply_to_one_expected_file(home):
    (found,) = problems(home, _suite(compare={"files": ["x.html"]}))
    assert "suite.compare" in found and "only for an expected directory" in found


def test_input_and_output_cannot_be_variable_names_of_a_pairs_suite(home):
    (found,) = problems(home, _suite(variables={"input": "x"}))
    assert "suite.variables.input: " in found and "{input}" in found


def test_an_expected_name_that_is_a_directory_is_refused(home):
    for stem in ("emphasis", "lists", "links"):
        (home / "tests" / stem).mkdir()
    (found,) = problems(home, _suite(expected="{stem}"))
    assert "suite.expected: " in found and "not a file" in found
    assert str(home / "tests" / "emphasis") in found
