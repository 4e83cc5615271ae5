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


def test_a_glob_that_also_matches_the_expected_files_takes_the_inputs_alone(home):
    """Each .html is the expected file of a matched .txt: no input of its own."""
    prepared = _prepare(home, _suite(cases="tests/*"))
    assert [str(p) for p in prepared.problems] == []
    cases = sorted((c.variant.params["case"] for c in prepared.plan.cases), key=str)
    assert [(c.name, c.path.name, c.expected.name) for c in cases] == [
        ("emphasis", "emphasis.txt", "emphasis.html"),
        ("links", "links.txt", "links.html"),
        ("lists", "lists.txt", "lists.html"),
    ]


def test_an_expected_file_without_its_input_is_named_as_such(home):
    """A broad glob takes it as an input, which would be its own expected file."""
    (home / "tests" / "links.txt").unlink()
    (found,) = problems(home, _suite(cases="tests/*"))
    assert f"suite.cases: {home / 'tests' / 'links.html'} is its own expected file" in found
    assert "an expected file whose input is missing?" in found


def test_a_glob_that_matches_no_file_is_one_problem(home):
    (found,) = problems(home, _suite(cases="tests/*.md"))
    assert "suite.cases: 'tests/*.md' matches no file under" in found


def _names(prepared) -> list[str]:
    assert [str(p) for p in prepared.problems] == []
    return sorted(c.variant.params["case"].name for c in prepared.plan.cases)


def test_two_inputs_with_one_stem_are_named_by_their_file_names(home):
    (home / "tests" / "emphasis.md").write_text("x\n")
    names = _names(_prepare(home, _suite(cases=["tests/*.txt", "tests/*.md"])))
    assert names == ["emphasis.md", "emphasis.txt", "links", "lists"]
    # The same names whichever glob found them first.
    assert _names(_prepare(home, _suite(cases=["tests/*.md", "tests/*.txt"]))) == names


def _pygments_like(home: Path, files: list[str]) -> dict:
    for name in files:
        (home / "examplefiles" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "examplefiles" / name).write_text("x\n")
        (home / "examplefiles" / f"{name}.output").write_text("x\n")
    return _suite(cases="examplefiles/*/*", expected="{name}.output")


def test_a_pygments_layout_is_one_case_per_input_each_named_as_little_as_is_unique(home):
    """Pygments' examplefiles/ALIAS/x.ext beside x.ext.output, hundreds of suffixes."""
    files = ["ada/test.adb", "ada/test.ads", "c/test.h", "cpp/test.h", "ruby/hello.rb"]
    files += ["a/x/t.c", "b/x/t.c", "c/y/t.c"]
    prepared = _prepare(home, _pygments_like(home, files[:5]))
    assert _names(prepared) == ["c/test.h", "cpp/test.h", "hello", "test.adb", "test.ads"]
    for c in (c.variant.params["case"] for c in prepared.plan.cases):
        assert c.expected == c.path.with_name(c.path.name + ".output")
    deeper = _suite(cases="examplefiles/*/*/*", expected="{name}.output")
    _pygments_like(home, files[5:])
    assert _names(_prepare(home, deeper)) == ["a/x/t.c", "b/x/t.c", "y/t.c"]


def test_an_input_without_its_expected_file_stays_a_case(home):
    prepared = _prepare(home, _pygments_like(home, ["ada/test.adb"]))
    (home / "examplefiles" / "ada" / "new.adb").write_text("x\n")
    assert _names(_prepare(home, _suite(cases="examplefiles/*/*", expected="{name}.output"))) == [
        "new",
        "test",
    ]
    assert _names(prepared) == ["test"]


def test_the_command_gets_the_inputs_directory_and_its_name(home):
    suite = _pygments_like(home, ["ada/test.adb"])
    (home / "top.txt").write_text("x\n")
    suite["suite"]["cases"] = ["examplefiles/*/*", "*.txt"]
    prepared = _prepare(home, suite)
    words = {}
    for case in prepared.plan.cases:
        test = bind(case.variant.test, case.variant.params, {}, None)  # type: ignore[arg-type]
        words[str(case.variant.params["case"])] = test.format("{dir} {dir_name}")
    assert words == {"test": "examplefiles/ada ada", "top": f". {home.name}"}


def test_the_command_gets_the_inputs_stem_quoted_and_no_option(home):
    # markdown2's wrapper reads x.opts beside x.text: the command names it by {stem}
    suite = _pygments_like(home, ["ada/test.adb", "ada/-n x.ads", "c/lib.tar.c"])
    # ({stem} resembles {system}: a suite of pairs knows it is each case's own word)
    suite["suite"]["command"] = "wrap --opts {stem}.opts {input} > {output}"
    prepared = _prepare(home, suite)
    assert [str(p) for p in prepared.problems] == []
    stems = set()
    for case in prepared.plan.cases:
        test = bind(case.variant.test, case.variant.params, {}, None)  # type: ignore[arg-type]
        stems.add(test.format("{stem}"))
    assert stems == {"test", "'./-n x'", "lib.tar"}


def test_stem_cannot_be_a_variable_of_a_pairs_suite(home):
    (found,) = problems(home, _suite(variables={"stem": "x"}))
    assert "suite.variables.stem: {stem} is each case's own" in found, found


@pytest.mark.parametrize(
    ("folder", "dir_word", "name_word"),
    [
        ("a b", "'examplefiles/a b'", "'a b'"),
        ("it's", "'examplefiles/it'\"'\"'s'", "'it'\"'\"'s'"),
        ("-n", "examplefiles/-n", "./-n"),  # not an option of the command
        ("new\nline", "$'examplefiles/new\\x0aline'", "$'new\\x0aline'"),
        ("$(touch pwned)", "'examplefiles/$(touch pwned)'", "'$(touch pwned)'"),
    ],
)
def test_hostile_directory_names_reach_the_command_as_one_word_that_is_no_option(
    tmp_path, folder, dir_word, name_word
):
    prepared = _prepare(tmp_path, _pygments_like(tmp_path, [f"{folder}/x.c"]))
    assert [str(p) for p in prepared.problems] == []
    (case,) = prepared.plan.cases
    test = bind(case.variant.test, case.variant.params, {}, None)  # type: ignore[arg-type]
    assert test.format("lex {dir_name} {dir}") == f"lex {name_word} {dir_word}"


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


def test_dir_and_dir_name_cannot_be_variable_names_of_a_pairs_suite(home):
    found = problems(home, _suite(variables={"dir": "x", "dir_name": "y"}))
    assert [f.split(": ")[1] for f in found] == ["suite.variables.dir", "suite.variables.dir_name"]


def test_an_expected_name_that_is_a_directory_is_refused(home):
    for stem in ("emphasis", "lists", "links"):
        (home / "tests" / stem).mkdir()
    (found,) = problems(home, _suite(expected="{stem}"))
    assert "suite.expected: " in found and "not a file" in found
    assert str(home / "tests" / "emphasis") in found
