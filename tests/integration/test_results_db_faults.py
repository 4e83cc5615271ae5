"""`assay run` with a damaged results database: the cases still run, the session's directory
keeps everything, the warning gives the command that moves the file aside, and after it the
next run makes a new database that imports the first session. With the write lock held by
another process: the run says it waits, and records once the lock is released."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import CliResult
from tests.unit.test_results_db_faults import hold

TEST = """
import assay

class Fine(assay.Test):
    command = "echo fine"
"""


def _sessions(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return sorted(r[0] for r in db.execute("SELECT id FROM sessions"))


def test_a_damaged_database_warns_keeps_the_session_and_can_be_moved_aside(
    assay_cli, write, tmp_path
) -> None:
    write("test_fine.py", TEST)
    prefix = tmp_path / "it's a prefix"
    prefix.mkdir()
    database = prefix / "results.sqlite"
    database.write_bytes(os.urandom(4096))
    first: CliResult = assay_cli("run", "test_fine.py", "--plain", "--prefix", str(prefix))
    # the run warns and passes: its cases' verdicts are what the exit code says
    assert first.code == 0, first
    assert f"assay: warning: results database {database} is damaged (file is not a database)" in (
        first.stderr
    ), first
    assert "this session is not recorded there" in first.stderr
    assert "Traceback" not in first.stderr
    runs = [p for p in (prefix / "runs").iterdir() if (p / "report.json").exists()]
    assert len(runs) == 1
    assert (runs[0] / "journal.jsonl").stat().st_size > 0
    report = json.loads((runs[0] / "report.json").read_text())
    assert report["summary"]["passed"] == 1
    command = re.search(r"move it aside: (.*?) \(the next run", first.stderr)
    assert command is not None, first.stderr
    subprocess.run(["bash", "-c", command.group(1)], check=True, cwd=tmp_path)
    assert (prefix / "results.sqlite.damaged").exists()
    second: CliResult = assay_cli("run", "test_fine.py", "--plain", "--prefix", str(prefix))
    assert second.code == 0, second
    assert "warning" not in second.stderr, second
    ids = _sessions(database)
    assert len(ids) == 2, ids  # the first session imported from its directory
    assert report["session"]["id"] in ids


def test_a_run_waits_for_another_processs_write_lock_and_says_so(assay_cli, write, tmp_path):
    write("test_fine.py", TEST)
    first: CliResult = assay_cli("run", "test_fine.py", "--plain")
    assert first.code == 0, first
    database = tmp_path / ".assay" / "results.sqlite"
    holder = hold(database)
    # released well after the 3 s notice; the run's cases finish meanwhile
    release = threading.Timer(6.0, lambda: holder.communicate(""))
    release.start()
    try:
        second: CliResult = assay_cli("run", "test_fine.py", "--plain")
    finally:
        release.join()
    assert second.code == 0, second
    said = f"assay: results database .assay/results.sqlite is locked by process {holder.pid} ("
    assert said + sys.executable in second.stderr, second
    assert "waiting up to 60 s" in second.stderr
    assert "warning" not in second.stderr, second
    assert len(_sessions(database)) == 2


MEASURED = """
import assay

class M(assay.Test):
    p = assay.parameter([1, 2])
    command = "echo v=3"

    @assay.metric("s")
    def v(self, out):
        return out.extract(r"v=(\\d+)", float)
"""

# A column set by hand (sqlite3) to what assay never writes there, and the commands that
# read it; each raised a Python traceback ("internal error") before.
EDITS = [
    ("UPDATE sessions SET command = 'notjson'", ["compare"]),
    ("UPDATE metrics SET value = 'notjson'", ["history", "compare", "run . --html page.html"]),
    ("UPDATE cases SET started = 'notjson'", ["history --json"]),
    ("UPDATE cases SET duration = 'notjson'", ["history"]),
]


def test_values_changed_by_hand_in_the_database_give_one_message_not_a_traceback(
    assay_cli, write, tmp_path
) -> None:
    write("test_m.py", MEASURED)
    for _ in range(2):
        assert assay_cli("run", ".", "--plain").code == 0
    database = tmp_path / ".assay" / "results.sqlite"
    good = database.read_bytes()
    for edit, commands in EDITS:
        for command in commands:
            for extra in ("-wal", "-shm"):
                database.with_name(database.name + extra).unlink(missing_ok=True)
            database.write_bytes(good)
            with sqlite3.connect(database) as db:
                db.execute(edit)
            db.close()
            result = assay_cli(*command.split(), *(["--plain"] if "run" in command else []))
            said = result.stderr
            assert "Traceback" not in said and "internal error" not in said, (edit, result)
            assert result.code == 2, (edit, result)
            assert "results database .assay/results.sqlite holds a value assay does not" in said
            assert "move it aside" in said, (edit, said)
