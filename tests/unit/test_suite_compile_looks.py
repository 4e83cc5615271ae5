"""The suite compiler's look at each case's expected outputs: with ``files`` named plainly,
a case whose named files are all there costs their stats alone (not a stat of its
``expected/`` directory as well: hundreds of cases, hundreds of system calls before the
first case starts); a case without them gets the same problems as before."""

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
    assert [p for p in looked if p in dirs] == []
    assert all(f"{d}/out.txt" in looked for d in dirs)


def test_cases_without_their_expected_outputs_are_still_told(tmp_path: Path) -> None:
    write_tiny_suite(tmp_path, ["c1", "c2", "c3"])
    (tmp_path / "cases" / "c2" / "expected" / "out.txt").unlink()
    (tmp_path / "cases" / "c3" / "expected" / "out.txt").unlink()
    (tmp_path / "cases" / "c3" / "expected").rmdir()
    (tmp_path / "cases" / "c3" / "expected").write_text("a file, not a directory\n")
    classes, problems = compile_suite(tmp_path / "tiny.suite.toml")
    assert classes == []
    said = sorted(p.message for p in problems)
    assert len(said) == 2, said
    assert said[0].startswith("'out.txt' is missing from case 'c2' (")
    assert said[1].startswith("case 'c3' has no expected/ directory (")
