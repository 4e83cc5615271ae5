"""A run killed with SIGKILL (its recorder thread dies with it): the cases its journal kept
reach the results database at the next open, and the session is recorded as killed; while
it still runs, a reader's import leaves it to its own recorder. Against SQLite and a real
PostgreSQL server (``results_target``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from assay.results.db import ResultsDB
from tests.integration.test_history import history, use_database

CASES = 4


def _results_in_journal(directory: Path) -> int:
    journal = directory / "journal.jsonl"
    if not journal.exists():
        return 0
    return sum(line.startswith(b'{"t":"result"') for line in journal.read_bytes().splitlines())


def _wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_killed_runs_last_cases_reach_the_database_and_it_is_recorded_killed(
    assay_cli, write, tmp_path, results_target
):
    use_database(tmp_path, results_target)
    stop = tmp_path / "stop"
    write(
        "test_killed.py",
        f"""
        import assay

        class Quick(assay.Test):
            i = assay.parameter(range({CASES}))
            command = "echo ok"

            def sanity(self, out):
                out.expect("ok")

        class Held(assay.Test):
            # Runs until the test lets it go (at most a minute): the runner is killed meanwhile.
            command = "for n in $(seq 1200); do [ -e {stop} ] && break; sleep 0.05; done; echo ok"

            def sanity(self, out):
                out.expect("ok")
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_killed.py", "--plain", "--max-jobs", "8"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        runs = tmp_path / ".assay" / "runs"
        _wait_for(lambda: runs.is_dir() and any(runs.iterdir()), "the session directory")
        (directory,) = runs.iterdir()
        _wait_for(lambda: _results_in_journal(directory) == CASES, "the quick cases")
        # A reader while the run lives: its import must leave the live session alone.
        assert history(assay_cli)["cases"] is not None
        with ResultsDB.open(results_target) as db:
            recorded = db.session(directory.name)
            assert recorded is None or recorded.interrupted is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop.touch()  # the held case ends on its own
        proc.kill()
        proc.wait()
    shown = history(assay_cli)  # opening the database imports what the journal kept
    names = sorted(c["name"] for c in shown["cases"])
    assert len([n for n in names if n.startswith("Quick")]) == CASES, names
    with ResultsDB.open(results_target) as db:
        session = db.session(directory.name)
        assert session is not None and session.interrupted == "killed" and not session.complete
        assert sorted(r.status for r in db.session_cases(directory.name)) == ["passed"] * CASES
