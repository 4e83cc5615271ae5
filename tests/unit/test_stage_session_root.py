"""A staged source that holds the session's stage root is refused; the root's directories
are looked at once per session, not once per case (a suite of 200 cases made 200 stats)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from assay.run import stage_setup


def _session(tmp_path: Path) -> Any:
    root = tmp_path / "project" / ".assay" / "runs" / "s1" / "stage"
    root.mkdir(parents=True)
    return SimpleNamespace(stage_root=root, stage_ancestors=None)


def test_a_source_holding_the_stage_root_is_told_apart_from_one_beside_it(tmp_path: Path) -> None:
    ctx = _session(tmp_path)
    beside = tmp_path / "cases" / "c1"
    beside.mkdir(parents=True)
    assert stage_setup._holds_session(tmp_path / "project", ctx, "project")
    assert stage_setup._holds_session(ctx.stage_root, ctx, "stage")
    assert not stage_setup._holds_session(beside, ctx, "cases/c1")


def test_the_stage_root_is_looked_at_once_per_session(
    tmp_path: Path, stat_spy: Callable[[], list[str]]
) -> None:
    ctx = _session(tmp_path)
    cases = [tmp_path / "cases" / f"c{i}" for i in range(5)]
    for case in cases:
        case.mkdir(parents=True)
    looked = stat_spy()
    for case in cases:
        assert not stage_setup._holds_session(case, ctx, case.name)
    assert looked.count(str(ctx.stage_root)) == 1
    # A second session (another context) looks again: its root may be another directory.
    other = _session(tmp_path / "again")
    assert not stage_setup._holds_session(cases[0], other, "c0")
    assert looked.count(str(other.stage_root)) == 1
