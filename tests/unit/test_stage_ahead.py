"""Stage dirs made ahead of their cases (src/assay/run/ahead.py), on real directories: made
in order while the event loop has nothing else to do, at most DEPTH not taken, each taken
once, none for a case that began without one; what no case took is removed at the end,
never through a link put at its name; a source holding the session is not copied."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from assay.run.ahead import Job, StageAhead


def _jobs(tmp_path: Path, names: list[str]) -> tuple[Path, list[Job]]:
    root = tmp_path / "session" / "stage"
    root.mkdir(parents=True)
    jobs = []
    for name in names:
        case = tmp_path / "cases" / name
        (case / "expected").mkdir(parents=True)
        (case / "in.txt").write_text(f"{name}\n")
        (case / "expected" / "out.txt").write_text(f"{name}\n")
        jobs.append(Job(name, root / name, case, str(case), ("expected",), ()))
    return root, jobs


async def _turns(n: int = 8) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_stage_dirs_are_made_in_order_up_to_the_depth_and_each_taken_once(tmp_path):
    root, jobs = _jobs(tmp_path, ["a", "b", "c", "d"])

    async def scenario() -> None:
        ahead = StageAhead(jobs, root, depth=2)
        ahead.advance()
        await _turns()
        assert sorted(os.listdir(root)) == ["a", "b"]
        made = ahead.take("a")
        assert made is not None and made.copied is not None
        assert sorted(os.listdir(root / "a")) == ["in.txt"]  # (expected/ left out)
        assert (root / "a" / "in.txt").read_text() == "a\n"
        assert made.fits(jobs[0].source, ["expected"], [])
        assert not made.fits(jobs[0].source, ["expected", "in.txt"], [])
        assert ahead.take("a") is None
        assert ahead.take("c") is None  # began before its turn: nothing is made for it
        ahead.advance()
        await _turns()
        assert sorted(os.listdir(root)) == ["a", "b", "d"]
        ahead.close()
        # b and d were made for cases that never began: gone; a was taken: its case's.
        assert os.listdir(root) == ["a"]

    asyncio.run(scenario())


def test_a_link_put_at_a_made_dirs_name_is_not_followed_when_it_is_removed(tmp_path):
    root, jobs = _jobs(tmp_path, ["a"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine\n")

    async def scenario() -> None:
        ahead = StageAhead(jobs, root)
        ahead.advance()
        await _turns()
        os.rename(root / "a", tmp_path / "moved")
        os.symlink(elsewhere, root / "a")
        ahead.close()

    asyncio.run(scenario())
    assert (elsewhere / "keep.txt").read_text() == "mine\n"
    assert (root / "a").is_symlink()


def test_a_source_holding_the_session_or_missing_gets_a_stage_dir_but_no_copy(tmp_path):
    root, _ = _jobs(tmp_path, [])
    jobs = [
        Job("holds", root / "holds", tmp_path, str(tmp_path), (), ()),
        Job("missing", root / "missing", tmp_path / "no", str(tmp_path / "no"), (), ()),
    ]

    async def scenario() -> None:
        ahead = StageAhead(jobs, root, depth=2)
        ahead.advance()
        await _turns()
        for job in jobs:
            made = ahead.take(job.key)
            assert made is not None and made.copied is None, job
            assert os.listdir(job.stage_dir) == []

    asyncio.run(scenario())
