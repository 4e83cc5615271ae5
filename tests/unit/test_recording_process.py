"""A session of many cases is written into the results database by a process of its own
(assay.results.recording_process): the same rows as the recorder's thread writes, a
--resume that replaces instead of duplicating, and its failures said once while the
session goes on. Real processes, real SQLite (and PostgreSQL when its server is up)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from assay.results.db import ResultsDB
from assay.results.model import CaseResult, Session
from assay.results.recorder import PROCESS_CASES, Recorder
from tests.unit.test_results_db import T0
from tests.unit.test_results_import import _session
from tests.unit.test_results_statements import _batch


def _children() -> set[int]:
    """This process's child processes, by pid."""
    found: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        text = Path(f"/proc/self/task/{task}/children").read_text()
        found.update(int(pid) for pid in text.split())
    return found


def _record(
    target: str,
    prefix: Path,
    session: Session,
    batches: list[list[CaseResult]],
    cases: int,
    warned: list[str] | None = None,
) -> None:
    recorder = Recorder.open(target, prefix, (warned if warned is not None else []).append)
    recorder.start(session, "cfg", cases=cases)
    for batch in batches:
        for r in batch:
            recorder.case_finished(r)
    session.finished = T0 + 3
    recorder.finish(session, 2.0, 1.0)


def _rows(db: ResultsDB, session_id: str) -> list[tuple[Any, ...]]:
    """Every row a session's cases wrote, its id left out."""
    out: list[tuple[Any, ...]] = []
    for table in ("cases", "metrics", "artifacts"):
        rows = db.backend.query(
            f"SELECT * FROM {table} WHERE session_id = ? ORDER BY case_id, rep",
            (session_id,),
        )
        out += [(table, *row[1:]) for row in rows]
    return sorted(out, key=repr)


def test_a_large_session_is_written_by_a_process_with_the_threads_rows(results_target, tmp_path):
    batches = [_batch(0, 300), _batch(300, 300)]
    thread, process = _session("20250101-100000-aaaa"), _session("20250101-100000-bbbb")
    _record(results_target, tmp_path, thread, batches, cases=1)
    before = _children()
    recorder = Recorder.open(results_target, tmp_path)
    recorder.start(process, "cfg", cases=PROCESS_CASES)
    for r in batches[0]:
        recorder.case_finished(r)
    deadline = time.monotonic() + 30
    while not (_children() - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _children() - before  # a process of its own writes them
    for r in batches[1]:
        recorder.case_finished(r)
    process.finished = T0 + 3
    recorder.finish(process, 2.0, 1.0)
    assert not (_children() - before)  # and finish() waited for it
    with ResultsDB.open(results_target) as db:
        assert len(db.session_cases(process.id)) == 600
        assert _rows(db, process.id) == _rows(db, thread.id)
        done = db.session(process.id)
        assert done is not None and done.complete and done.config_hash == "cfg"
        assert (done.eta_first, done.eta_made) == (2.0, 1.0)
        assert db.backend.query("SELECT count(*) FROM series") == [(600,)]


def test_a_resumed_session_written_by_the_process_replaces_its_cases(results_target, tmp_path):
    session = _session()
    _record(results_target, tmp_path, session, [_batch(0, 200)], cases=PROCESS_CASES)
    again = _session()
    again.started = T0 + 100  # --resume: a later start, the session keeps its first
    _record(results_target, tmp_path, again, [_batch(100, 200)], cases=PROCESS_CASES)
    with ResultsDB.open(results_target) as db:
        assert len(db.session_cases(session.id)) == 300  # 100 replaced, not duplicated
        found = db.session(session.id)
        assert found is not None and found.started == T0 and found.complete


def test_a_killed_recording_process_is_said_once_and_the_session_goes_on(tmp_path):
    target = str(tmp_path / "results.sqlite")
    warned: list[str] = []
    session = _session()
    before = _children()
    recorder = Recorder.open(target, tmp_path, warned.append)
    recorder.start(session, "cfg", cases=PROCESS_CASES)
    deadline = time.monotonic() + 30
    while not (_children() - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    (pid,) = _children() - before
    os.kill(pid, signal.SIGKILL)  # the fault: the process dies (the OOM killer, say)
    for r in _batch(0, 300):
        recorder.case_finished(r)
    session.finished = T0 + 3
    recorder.finish(session)  # returns: nothing raised
    assert len(warned) == 1, warned
    assert "the process that recorded this session ended" in warned[0]
    assert "the next session imports it" in warned[0]


def test_a_database_the_process_cannot_open_is_said_once_by_it(tmp_path, capfd):
    target = tmp_path / "results.sqlite"
    warned: list[str] = []
    session = _session()
    recorder = Recorder.open(str(target), tmp_path, warned.append)
    # The fault: between the runner's open and the process's, the file becomes a directory.
    for path in tmp_path.glob("results.sqlite*"):
        path.unlink()
    target.mkdir()
    recorder.start(session, "cfg", cases=PROCESS_CASES)
    for r in _batch(0, 10):
        recorder.case_finished(r)
    recorder.finish(session)
    said = [line for line in capfd.readouterr().err.splitlines() if "warning" in line]
    assert len(said) + len(warned) == 1, (said, warned)
    assert str(target) in (said + warned)[0]
