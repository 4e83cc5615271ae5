"""A lone case does not wait for the results database when its history would change
nothing (assay.session.running): one case, a direct partition, a display without time
left. The database is still opened, the runs it lacks imported and the session recorded,
while the case runs; any other run reads its history before its first case, as before."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from assay.session.running import _plans_without_history
from assay.ui import LiveDisplay, PlainDisplay
from tests.unit.test_startup import _FIRST_CASE_SPY

WATCH = ("sqlite3", "assay.results.db")


def _run(cwd: Path, cases: int = 1) -> list[Any]:
    """``assay run --plain`` of ``cases`` trivial cases under the spy of test_startup: the
    threads started and processes spawned, each spawn with which of WATCH were loaded."""
    (cwd / "test_one.py").write_text(
        "import assay\n"
        "class One(assay.Test):\n"
        f"    i = assay.parameter(range({cases}))\n"
        "    command = 'true'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CASE_SPY.format(watch=WATCH, entry="assay.entry")],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    code, events = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0, out
    return list(events)


def _sessions(cwd: Path) -> int:
    with sqlite3.connect(cwd / ".assay" / "results.sqlite") as db:
        (count,) = db.execute("SELECT count(*) FROM sessions").fetchone()
    return int(count)


def _first_case(events: list[Any]) -> int:
    return next(i for i, e in enumerate(events) if e[0] == "spawn" and e[1] != "git")


def test_a_second_lone_case_starts_before_the_database_is_opened_and_is_still_recorded(
    tmp_path,
):
    _run(tmp_path)
    assert _sessions(tmp_path) == 1
    events = _run(tmp_path)
    first = _first_case(events)
    assert events[first][2] == [], events[first]  # neither sqlite3 nor the database's code
    assert ["thread", "assay-results-open"] in events[first:]
    assert _sessions(tmp_path) == 2


def _estimate(cwd: Path) -> Any:
    report = json.loads((cwd / ".assay" / "latest" / "report.json").read_text())
    return report["session"]["estimate"]


def test_a_second_lone_cases_first_estimate_still_comes_from_its_history(tmp_path):
    # The report (and the summary of a long run) says how far the estimate made at the
    # start from recorded durations was off: read after the case, it is still that one.
    _run(tmp_path)
    assert _estimate(tmp_path) is None  # (nothing recorded yet)
    _run(tmp_path)
    estimate = _estimate(tmp_path)
    assert estimate is not None and estimate["made"] == 0.0 and estimate["left"] > 0
    assert estimate["total"] == estimate["left"]


def test_the_runs_the_database_lacks_are_still_imported(tmp_path):
    # A prefix with a run but no database: not a first session, so the new database
    # imports that run (while the case runs now, before it before).
    _run(tmp_path)
    (tmp_path / ".assay" / "results.sqlite").unlink()
    events = _run(tmp_path)
    assert events[_first_case(events)][2] == []
    assert _sessions(tmp_path) == 2


def test_a_run_of_several_cases_reads_its_history_before_its_first_case(tmp_path):
    # (longest-first needs the recorded durations before anything starts)
    _run(tmp_path, cases=2)
    events = _run(tmp_path, cases=2)
    first = _first_case(events)
    assert "assay.results.db" in events[first][2], events[first]
    assert ["thread", "assay-results-open"] not in events
    assert _sessions(tmp_path) == 2


def _cases(*schedulers: str) -> list[Any]:
    """Stand-ins for plan cases: only their partition's scheduler is read."""
    return [
        SimpleNamespace(partition=SimpleNamespace(config=SimpleNamespace(scheduler=s)))
        for s in schedulers
    ]


def test_history_is_read_first_for_a_time_left_a_batch_partition_or_an_order():
    plain, live = PlainDisplay(), LiveDisplay()
    assert _plans_without_history(_cases("direct"), plain)
    assert not _plans_without_history(_cases("direct"), live)  # (it shows the time left)
    assert not _plans_without_history(_cases("slurm"), plain)  # (packs are sized by it)
    assert not _plans_without_history(_cases("direct", "direct"), plain)  # (an order)
    assert not _plans_without_history(_cases("direct"), object())  # (unknown: read)
