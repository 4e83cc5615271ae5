"""Suite-file mistakes a new user makes on a first suite (a glob that finds nothing, a
build path with a typo): each is said once,
naming the key, the place and the fix, without knock-on problems the user did not cause."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.test_toml_regressions import minimal, problems


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for case in ("c1", "c2", "c3", "c4", "c5"):
        (tmp_path / "cases" / case / "expected").mkdir(parents=True)
        (tmp_path / "cases" / case / "expected" / "out.txt").write_text("v=1\n")
    (tmp_path / "build").mkdir()
    return tmp_path


def test_a_cases_glob_that_matches_nothing_is_the_only_problem(home):
    found = problems(home, {"suite": {"command": "true", "cases": "case/*"}})
    assert len(found) == 1, found
    assert "suite.cases: 'case/*' matches no directory under" in found[0]
    assert "has no values" not in found[0]


def test_an_empty_list_of_cases_is_named_as_such(home):
    """Before: no problem, no test, and the run said "no tests found" with a hint about
    Python test classes."""
    found = problems(home, {"suite": {"command": "true", "cases": []}})
    assert len(found) == 1, found
    assert "suite.cases: an empty list names no case" in found[0]


def test_a_build_path_with_a_typo_suggests_the_close_name(home):
    (found,) = problems(home, minimal(build="buidl"))
    assert "suite.build: " in found and "buidl does not exist" in found
    assert "relative to the suite file" in found
    assert "did you mean 'build'?" in found


def test_a_build_path_without_a_close_name_says_where_it_was_looked_for(home):
    (found,) = problems(home, minimal(build="nowhere/solver.tar.gz"))
    assert "nowhere/solver.tar.gz does not exist" in found
    assert "relative to the suite file" in found and "did you mean" not in found


def test_a_scaling_study_over_a_glob_that_matches_nothing_is_one_problem(home):
    suite = {"suite": {"command": "true", "cases": "case/*", "scaling": {"nodes": [1, 2]}}}
    found = problems(home, suite)
    assert len(found) == 1 and "'case/*' matches no directory" in found[0], found


def test_a_scaling_study_without_suite_cases_is_still_refused(home):
    sweep = [{"a": [1]}]
    suite = {"suite": {"command": "true", "sweep": sweep, "scaling": {"nodes": [1, 2]}}}
    (found,) = problems(home, suite)
    assert "suite.scaling.cases: ['*'] matches none of the suite's cases" in found


@pytest.mark.parametrize("pattern", [".", "./", "/", "..", "cases/.."])
def test_a_cases_glob_of_the_suites_own_or_the_root_directory_is_refused(home, pattern):
    """'.' once crashed the loader (IndexError, an internal error); '/' made a case named ''
    whose staging would copy the whole file system."""
    found = problems(home, {"suite": {"command": "true", "cases": pattern}})
    assert len(found) == 1, found
    assert f"suite.cases: {pattern!r} matches " in found[0]
    assert "not a case directory" in found[0] and "such as 'cases/*'" in found[0]


def test_a_case_glob_reaching_the_suites_directory_through_a_link_is_refused(home):
    """The check is a stat of each match against the suite directory's own (device, inode)
    and those above it: a link to the suite's directory, or to one above it, is that
    directory."""
    (home / "cases" / "up").symlink_to(home)
    (home / "cases" / "root").symlink_to("/")
    found = problems(home, {"suite": {"command": "true", "cases": "cases/*"}})
    assert len(found) == 1, found
    assert "suite.cases: 'cases/*' matches " in found[0] and "not a case directory" in found[0]


def test_a_case_glob_matching_files_and_broken_links_keeps_only_directories(home):
    (home / "cases" / "notes.txt").write_text("x\n")
    (home / "cases" / "gone").symlink_to(home / "nowhere")
    (home / "cases" / "c9").symlink_to(home / "cases" / "c1")  # a link to a case dir
    assert problems(home, minimal()) == []


def test_real_ancestors_are_the_directories_a_path_lies_in(tmp_path):
    from assay.files import real_ancestors

    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "lnk").symlink_to(deep)
    found = real_ancestors(tmp_path / "lnk" / "not-made-yet")
    inode = lambda p: (os.stat(p).st_dev, os.stat(p).st_ino)  # noqa: E731
    for above in (deep, tmp_path / "a", tmp_path, "/"):
        assert inode(above) in found
    (tmp_path / "other").mkdir()
    assert inode(tmp_path / "other") not in found


@pytest.mark.parametrize("pattern", ["cases/[", "cases/c[1-", "cases/*["])
def test_a_cases_glob_with_an_unclosed_bracket_says_so(home, pattern):
    found = problems(home, {"suite": {"command": "true", "cases": pattern}})
    assert len(found) == 1, found
    assert f"suite.cases: {pattern!r} matches no directory under" in found[0]
    assert "that no ']' closes, so '[' is matched as itself" in found[0], found
    assert "write a literal '[' as '[[]'" in found[0]
    assert "s.suite.toml:3: suite.cases: " in found[0], found  # the file, line and key


def test_a_cases_glob_with_closed_brackets_gets_no_bracket_note(home):
    found = problems(home, {"suite": {"command": "true", "cases": "cases/[xy]*"}})
    assert len(found) == 1 and "no ']' closes" not in found[0], found
