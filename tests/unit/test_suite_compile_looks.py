"""The suite compiler's look at each case's expected outputs: the first case that has them
checks the comparison's spec; the others are not looked at (hundreds of cases, hundreds of
system calls before the first case starts). A case without them is no problem of the
suite: it runs and fails saying so (test_suite_new_case.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assay.define.suite import compile_suite
from tests.conftest import write_tiny_suite


def test_a_case_with_its_named_files_is_not_looked_at_again(
    tmp_path: Path, stat_spy: Callable[[], list[str]]
) -> None:
    write_tiny_suite(tmp_path, ["c1", "c2", "c3"])
    looked = stat_spy()
    classes, problems = compile_suite(tmp_path / "tiny.suite.toml")
    assert problems == []
    assert len(classes) == 1
    dirs = [str(tmp_path / "cases" / c / "expected") for c in ("c2", "c3")]
    assert [p for p in looked if any(p.startswith(d) for d in dirs)] == []


def test_cases_without_their_expected_outputs_load(tmp_path: Path) -> None:
    write_tiny_suite(tmp_path, ["c1", "c2", "c3"])
    (tmp_path / "cases" / "c2" / "expected" / "out.txt").unlink()
    (tmp_path / "cases" / "c3" / "expected" / "out.txt").unlink()
    (tmp_path / "cases" / "c3" / "expected").rmdir()
    classes, problems = compile_suite(tmp_path / "tiny.suite.toml")
    assert problems == []
    assert len(classes) == 1
