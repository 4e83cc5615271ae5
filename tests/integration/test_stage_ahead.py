"""The next suite cases' stage dirs, and the copies of their inputs, are made while a case
runs (src/assay/run/ahead.py); a case that starts takes the very copy made for it, and
what was made for cases that never started is gone when the session ends."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import CliResult, run_assay

SUITE = """\
[suite]
name = "s"
cases = "cases/*"
command = '{command}'
keep_files = ["seen.txt", "own.txt"]
"""
# The first case (the one holding the file "first") waits, at most 10 s, until the stage
# root holds two copies of in.txt, its own and the next case's; each case notes the inode
# of every copy there and of its own.
WAIT_AND_LOOK = (
    "n=0; while [ -e first ] && [ $n -lt 200 ] && "
    "[ $(ls ../*/in.txt 2>/dev/null | wc -l) -lt 2 ]; do sleep 0.05; n=$((n+1)); done; "
    "stat -c %i ../*/in.txt > seen.txt; stat -c %i in.txt > own.txt"
)


def _suite(root: Path, command: str, names: list[str]) -> None:
    for name in names:
        case = root / "cases" / name
        case.mkdir(parents=True)
        (case / "in.txt").write_text(f"{name}\n")
    (root / "cases" / names[0] / "first").write_text("")
    (root / "s.suite.toml").write_text(SUITE.format(command=command))


def _run(root: Path, *extra: str) -> CliResult:
    return run_assay("run", ".", "--plain", "--serial", *extra, cwd=root)


def test_the_next_cases_copy_is_made_while_a_case_runs_and_is_the_one_it_takes(tmp_path):
    names = ["c0", "c1", "c2"]
    _suite(tmp_path, WAIT_AND_LOOK, names)
    result = _run(tmp_path)
    assert result.code == 0, result
    cases = sorted(result.report["cases"], key=lambda c: c["started"] or "~")
    assert [c["status"] for c in cases] == ["passed"] * 3, result
    assert cases[0]["name"].startswith("s[case=c0]"), cases
    first, second = (Path(c["output_dir"]) for c in cases[:2])
    seen = (first / "seen.txt").read_text().split()
    own = (first / "own.txt").read_text().strip()
    # Serially, one case at a time; the first case's job saw the second's copy of in.txt
    # already made, and the second case's job read that very file (not a new copy).
    assert own in seen and len(seen) >= 2, seen
    assert (second / "own.txt").read_text().strip() in seen, seen
    for case in cases:  # each case read its own input, and keeps no copy of it
        assert not (Path(case["output_dir"]) / "in.txt").exists()


def test_what_was_made_for_cases_that_never_started_is_removed(tmp_path):
    """With --exit-first, the first case fails once the next one's stage dir is made: that
    case never starts, and no stage dir of its is left (nothing looks as if it ran)."""
    _suite(tmp_path, WAIT_AND_LOOK + "; exit 3", ["c0", "c1", "c2"])
    result = _run(tmp_path, "--exit-first")
    assert result.code == 1, result
    cases = sorted(result.report["cases"], key=lambda c: c["started"] or "~")
    failed = [c for c in cases if c["status"] == "failed"]
    assert len(failed) == 1, result
    assert len((Path(failed[0]["stage_dir"]) / "seen.txt").read_text().split()) >= 2
    stage_root = Path(failed[0]["stage_dir"]).parent
    assert os.listdir(stage_root) == [Path(failed[0]["stage_dir"]).name]
    skipped = [c for c in cases if c["status"] == "skipped"]
    assert len(skipped) == 2, result
