"""The SQLite results database's write-ahead log across real `assay` processes: a run
leaves what it wrote in the log (the fold into the file, with its syncs, is not at its end,
where the user waits), every later process reads it, and the next run folds it in while its
cases run, so that the log never holds more than about one session."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.integration.test_history import use_database

CASES = """
import assay

class Echo(assay.Test):
    i = assay.parameter(range(40))
    command = "echo {i}"
"""


def _in_the_file_alone(db: Path, scratch: Path) -> list[str]:
    """The sessions a copy of the database file holds without its log: what was folded
    into the file itself."""
    shutil.copyfile(db, scratch)
    alone = sqlite3.connect(scratch)
    try:
        return sorted(r[0] for r in alone.execute("SELECT id FROM sessions"))
    finally:
        alone.close()
        scratch.unlink()


def test_a_run_leaves_its_log_and_the_next_run_folds_it_in(assay_cli, write, tmp_path):
    db = tmp_path / "results.sqlite"
    use_database(tmp_path, str(db))
    write("test_echo.py", CASES)
    sessions: list[str] = []
    logs: list[int] = []
    for n in range(6):
        run = assay_cli("run", "test_echo.py", "--plain")
        assert run.code == 0, run
        sessions.append(
            json.loads((tmp_path / ".assay/latest/report.json").read_text())["session"]["id"]
        )
        # Every earlier session is in the file; this one is in the log only, left there
        # for the next run (the process ended without folding it in).
        assert _in_the_file_alone(db, tmp_path / "copy.sqlite") == sorted(sessions[:-1])
        logs.append(Path(f"{db}-wal").stat().st_size)
        # Nothing committed is lost on the way: another process reads it all.
        shown = assay_cli("history", "--json")
        assert shown.code == 0, shown
        runs = json.loads(shown.stdout)["cases"]
        assert len(runs) == 40 and all(len(c["runs"]) == min(n + 1, 10) for c in runs)
    # Each run starts the log anew after the fold: it does not grow by a session a run.
    assert logs[-1] <= 1.5 * logs[1], logs
