"""Flat golden-file pairs run for real: examples/golden-pairs (x.txt beside x.html), a
difference naming the expected file, `bless` writing it, and hostile input names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_assay

EXAMPLE = ROOT / "examples" / "golden-pairs"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    work = tmp_path / "golden-pairs"
    shutil.copytree(EXAMPLE, work, symlinks=True)
    return work


def test_each_input_file_is_a_case_compared_with_the_file_beside_it(example):
    result = run_assay("run", "markdown.suite.toml", "--plain", cwd=example)
    assert result.code == 0, result
    names = sorted(c["name"].split(" @")[0] for c in result.report["cases"])
    assert names == [
        "markdown[case=emphasis]",
        "markdown[case=paragraphs]",
        "markdown[case=strong]",
    ]
    for case in result.report["cases"]:
        (verdict,) = case["comparisons"]
        assert Path(verdict["expected"]).parent == example / "tests"
        assert [f["file"] for f in verdict["files"]] == [Path(verdict["expected"]).name]


def test_a_difference_names_the_expected_file_and_bless_rewrites_it(example):
    golden = example / "tests" / "strong.html"
    golden.write_text("<p>Both <strong>bold</strong> and <em>em</em>.</p>\n")
    result = run_assay("run", "markdown.suite.toml", "--plain", cwd=example)
    assert result.code == 1, result
    failed = result.case("markdown[case=strong]")
    assert failed["status"] == "failed"
    assert failed["failure"]["reason"].startswith(
        "strong.html line 1, column 17: expected '<p>Both"
    )
    blessed = run_assay("bless", "--yes", cwd=example)
    assert blessed.code == 0, blessed
    assert "-> tests/strong.html" in blessed.stdout
    assert golden.read_text() == "<p>Both <strong>strong</strong> and <em>em</em>.</p>\n"
    assert run_assay("run", "markdown.suite.toml", "--plain", cwd=example).code == 0


def test_neighbours_of_the_input_are_not_staged(example):
    """A case's stage dir holds its input and its output, not the other inputs or the
    expected files beside them."""
    suite = example / "markdown.suite.toml"
    text = suite.read_text().replace("> {output}", "> {output}; ls > listing")
    suite.write_text(text.replace('build = "bin"', 'build = "bin"\nkeep_files = ["listing"]'))
    result = run_assay("run", "markdown.suite.toml", "--plain", cwd=example)
    assert result.code == 0, result
    listings = sorted((example / ".assay" / "runs").glob("*/output/markdown-*/listing"))
    assert len(listings) == 3
    for listing in listings:
        names = {n for n in listing.read_text().split() if not n.startswith("assay-")}
        (stem,) = {n.split(".")[0] for n in names - {"listing"}}
        assert names == {f"{stem}.txt", f"{stem}.html", "listing"}


HOSTILE = ["sp ace", "it's", '"dq"', "-n", "new\nline", "$(touch pwned)", "`touch pwned2`", "x;y"]


def test_hostile_input_names_reach_the_command_as_plain_files(tmp_path):
    """Each name is one word, never an option (``cat -n`` would number the lines) and never
    shell syntax (nothing named pwned appears)."""
    work = tmp_path / "sandbox" / "suite"
    (work / "tests").mkdir(parents=True)
    for stem in HOSTILE:
        (work / "tests" / f"{stem}.in").write_text(f"line of {stem!r}\n")
        (work / "tests" / f"{stem}.out").write_text(f"line of {stem!r}\n")
    (work / "cat.suite.toml").write_text(
        '[suite]\nname = "cat"\ncases = "tests/*.in"\nexpected = "{stem}.out"\n'
        'command = "cat {input} > {output}"\n[suite.compare]\nmode = "text"\n'
    )
    result = run_assay("run", "cat.suite.toml", "--plain", cwd=work)
    assert result.code == 0, result
    assert len(result.report["cases"]) == len(HOSTILE)
    assert {c["status"] for c in result.report["cases"]} == {"passed"}
    assert not list(tmp_path.rglob("pwned*"))


def test_a_missing_expected_file_fails_that_case_alone_and_bless_creates_it(example):
    (example / "tests" / "paragraphs.html").unlink()
    result = run_assay("run", "markdown.suite.toml", "--plain", cwd=example)
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    assert result.report["problems"] == []
    case = result.case("markdown[case=paragraphs]")
    assert case["status"] == "failed"
    assert case["failure"]["reason"].startswith(
        "no expected outputs yet: tests/paragraphs.html does not exist; check this run's output"
    )
    assert f"`assay bless --case {case['id']}`" in case["failure"]["reason"]
    others = [c for c in result.report["cases"] if c["name"] != case["name"]]
    assert {c["status"] for c in others} == {"passed"}
    blessed = run_assay("bless", "--yes", "--case", case["id"], cwd=example)
    assert blessed.code == 0, blessed
    assert "-> tests/paragraphs.html" in blessed.stdout
    again = run_assay("run", "markdown.suite.toml", "--plain", cwd=example)
    assert again.code == 0, again


def test_a_difference_on_a_long_line_fails_the_case_not_the_run(tmp_path):
    """A line over 200 characters is shown cut around its difference; the cut text once
    reached the runner's journal as a str subclass, which it could not encode: the run
    ended with a traceback and exit code 3 (found running docutils' functional tests)."""
    work = tmp_path / "suite"
    (work / "tests").mkdir(parents=True)
    (work / "tests" / "long.in").write_text("x" * 300 + "\n")
    (work / "tests" / "long.out").write_text("x" * 299 + "y\n")
    (work / "cat.suite.toml").write_text(
        '[suite]\nname = "cat"\ncases = "tests/*.in"\nexpected = "{stem}.out"\n'
        'command = "cat {input} > {output}"\n'
    )
    result = run_assay("run", "cat.suite.toml", "--plain", cwd=work)
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    failure = result.case("cat[case=long]")["failure"]
    assert failure["reason"].startswith("long.out line 1, token 1: expected 'xxx")
    assert "y" in failure["details"]


def test_a_pair_whose_run_failed_is_compared_anyway_to_show_the_difference(example):
    """As for a case directory (docs/suites.md, "When the exit code is not accepted"): the
    reason is the exit code, the details show what comparing would have found, and that
    comparison does not decide the verdict (nor give bless its outputs)."""
    suite = example / "markdown.suite.toml"
    suite.write_text(suite.read_text().replace("> {output}", "> {output}; exit 3"))
    (example / "tests" / "strong.html").write_text("<p>changed</p>\n")
    result = run_assay("run", "markdown.suite.toml", "--plain", cwd=example)
    assert result.code == 1, result
    failed = result.case("markdown[case=strong]")
    assert failed["failure"]["reason"] == "exit code 3 (expected exit code 0)"
    assert failed["failure"]["details"].startswith(
        "outputs (compared anyway): strong.html line 1, column 4: expected '<p>changed</p>'"
    )
    (verdict,) = failed["comparisons"]
    assert verdict["judged"] is False and verdict["ok"] is False
    same = result.case("markdown[case=emphasis]")["failure"]["details"]
    assert same == "outputs (compared anyway): equal to the expected ones"


def test_a_pygments_layout_runs_each_input_with_its_directorys_name(tmp_path):
    """Pygments' examplefiles/ALIAS/x.ext beside x.ext.output: one glob takes the inputs
    (not the .output files), the directory's name reaches the command as one word whatever
    it holds, and inputs sharing a name are named by their directories too."""
    work = tmp_path / "sandbox" / "suite"
    folders = ["ini", "sp ace", "it's", '"dq"', "$(touch pwned)", "new\nline", "-n", "x;y"]
    for folder in folders:
        (work / "examplefiles" / folder).mkdir(parents=True)
        (work / "examplefiles" / folder / "test.x").write_text(f"in {folder!r}\n")
        word = f"./{folder}" if folder.startswith("-") else folder
        (work / "examplefiles" / folder / "test.x.output").write_text(
            f"{word}|examplefiles/{folder}|in {folder!r}\n"
        )
    (work / "examplefiles" / "ini" / "other.y").write_text("new\n")  # no .output yet
    (work / "lexer.suite.toml").write_text(
        '[suite]\nname = "lexer"\ncases = "examplefiles/*/*"\nexpected = "{name}.output"\n'
        "command = \"printf '%s|%s|' {dir_name} {dir} > {output}; cat {input} >> {output}\"\n"
        '[suite.compare]\nmode = "text"\n'
    )
    result = run_assay("run", "lexer.suite.toml", "--plain", cwd=work)
    assert result.code == 1, result
    assert result.report["problems"] == []
    verdicts = {c["name"].split(" @")[0]: c for c in result.report["cases"]}
    assert sorted(verdicts) == sorted(
        [f"lexer[case={f}/test.x]" for f in folders] + ["lexer[case=other]"]
    )
    new = verdicts.pop("lexer[case=other]")
    assert new["failure"]["reason"].startswith("no expected outputs yet: examplefiles/ini/")
    assert {c["status"] for c in verdicts.values()} == {"passed"}, verdicts
    assert not list(tmp_path.rglob("pwned*"))
