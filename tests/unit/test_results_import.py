"""Importing session directories (report.json, else journal.jsonl) into the results database,
and the recorder a session writes through (both backends)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.results import report
from assay.results.db import CaseKey, DatabaseError, ResultsDB
from assay.results.db.importer import import_sessions
from assay.results.journal import Journal
from assay.results.model import GitState, MetricResult, Session, Status
from assay.results.recorder import Recorder, git_state
from tests.unit.test_results_db import KEY, T0, result


def make_session(sid: str, started: float, *results) -> Session:
    return Session(
        id=sid,
        started=started,
        command=["assay", "run", "tests/"],
        cwd="/w",
        system="sys",
        config="assay.toml",
        hostname="host",
        user="me",
        version="0.1.0",
        results=list(results),
        finished=started + 5,
    )


def write_report(prefix: Path, sid: str, started: float, *results) -> Path:
    directory = prefix / "runs" / sid
    directory.mkdir(parents=True)
    report.write(make_session(sid, started, *results), directory / "report.json")
    return directory


def write_journal(prefix: Path, sid: str, *results) -> Path:
    directory = prefix / "runs" / sid
    directory.mkdir(parents=True)
    (directory / "command.json").write_text(json.dumps(["run", "tests/"]))
    journal = Journal(directory)
    for r in results:
        journal.result(r)
    journal.close()
    return directory


@pytest.fixture
def db(results_target: str):
    with ResultsDB.open(results_target) as opened:
        yield opened


def test_reports_and_journals_are_imported_once(db, tmp_path):
    prefix = tmp_path / ".assay"
    write_report(prefix, "20250101-100000-aaaa", T0, result(metrics={"triad": 1.0}))
    write_report(prefix, "20250102-100000-bbbb", T0 + 100, result(status=Status.FAILED))
    # A killed runner: no report, its journal kept what finished.
    write_journal(prefix, "20300103-100000-cccc", result(metrics={"triad": 3.0}))
    (prefix / "runs" / "20250104-100000-dddd").mkdir()  # starting: nothing written yet
    found = import_sessions(db, prefix)
    assert found.imported == [
        "20250101-100000-aaaa",
        "20250102-100000-bbbb",
        "20300103-100000-cccc",
    ]
    assert [p.status for p in db.case_series(KEY)] == ["passed", "failed", "passed"]
    assert [p.value for p in db.metric_series(KEY, "triad")] == [1.0, 3.0]
    first = db.session("20250101-100000-aaaa")
    assert first is not None and first.complete and first.host == "host"
    assert first.command == ["assay", "run", "tests/"] and first.started == pytest.approx(T0)
    killed = db.session("20300103-100000-cccc")
    assert killed is not None and not killed.complete
    assert killed.command == ["assay", "run", "tests/"]
    assert killed.started == time.mktime(time.strptime("20300103-100000", "%Y%m%d-%H%M%S"))
    # Again: nothing new, nothing doubled.
    again = import_sessions(db, prefix)
    assert again.imported == [] and again.skipped == 3
    assert len(db.case_series(KEY)) == 3
    # Forced: everything again, still nothing doubled.
    forced = import_sessions(db, prefix, force=True)
    assert len(forced.imported) == 3
    assert len(db.case_series(KEY)) == 3


def test_a_session_whose_report_arrived_later_is_imported_again(db, tmp_path):
    prefix = tmp_path / ".assay"
    directory = write_journal(prefix, "20300103-100000-cccc", result(status=Status.FAILED))
    import_sessions(db, prefix)
    assert not db.session("20300103-100000-cccc").complete
    # The session was resumed by an assay without a database, and finished.
    report.write(
        make_session("20300103-100000-cccc", T0, result(), result(case_id="0000bbbb", params={})),
        directory / "report.json",
    )
    assert import_sessions(db, prefix).imported == ["20300103-100000-cccc"]
    assert db.session("20300103-100000-cccc").complete
    assert [p.status for p in db.case_series(KEY)] == ["passed"]


def test_a_damaged_report_is_noted_once_and_not_tried_again(db, tmp_path):
    prefix = tmp_path / ".assay"
    bad = prefix / "runs" / "20250101-100000-aaaa"
    bad.mkdir(parents=True)
    (bad / "report.json").write_text('{"session": ')
    write_report(prefix, "20250102-100000-bbbb", T0, result())
    found = import_sessions(db, prefix)
    assert found.imported == ["20250102-100000-bbbb"]
    assert [(p, r.split(":")[0]) for p, r in found.problems] == [(bad, "report.json")]
    again = import_sessions(db, prefix)
    assert again.problems == [] and again.imported == []
    (bad / "report.json").unlink()
    write_report(prefix.parent / "elsewhere", "20250101-100000-aaaa", T0 - 10, result())
    (prefix.parent / "elsewhere/runs/20250101-100000-aaaa/report.json").rename(bad / "report.json")
    assert import_sessions(db, prefix, force=True).problems == []
    assert len(db.case_series(KEY)) == 2


def test_a_symlink_in_runs_is_not_followed(db, tmp_path):
    prefix = tmp_path / ".assay"
    outside = write_report(tmp_path / "other", "20250101-100000-aaaa", T0, result())
    (prefix / "runs").mkdir(parents=True)
    (prefix / "runs" / "20250101-100000-aaaa").symlink_to(outside)
    assert import_sessions(db, prefix).imported == []


def test_a_report_of_every_field_round_trips(db, tmp_path):
    prefix = tmp_path / ".assay"
    r = result(metrics={"triad": 2.5})
    r.metrics[0] = MetricResult(
        "triad", 2.5, "GB/s", reference=2.0, lower=-0.1, upper=0.1, verdict="fail"
    )
    r.started, r.finished = T0 + 1, T0 + 2
    write_report(prefix, "20250101-100000-aaaa", T0, r)
    import_sessions(db, prefix)
    point = db.metric_series(KEY, "triad")[0]
    assert (point.value, point.unit, point.time) == (2.5, "GB/s", pytest.approx(T0 + 1, abs=0.001))
    rows = db.backend.query("SELECT reference, lower_rel, upper_rel, verdict FROM metrics")
    assert rows == [(2.0, -0.1, 0.1, "fail")]


def test_the_sessions_git_commit_is_one_field_of_report_and_database(db, tmp_path):
    """Session.git goes into the report (session.git) and, imported, into the database's
    session record: the commit a change point names is the same from either source."""
    prefix = tmp_path / ".assay"
    directory = prefix / "runs" / "20250101-100000-aaaa"
    directory.mkdir(parents=True)
    session = make_session("20250101-100000-aaaa", T0, result(metrics={"triad": 1.0}))
    session.git = GitState("0123456789abcdef", True)
    report.write(session, directory / "report.json")
    assert json.loads((directory / "report.json").read_text())["session"]["git"] == {
        "commit": "0123456789abcdef",
        "dirty": True,
    }
    import_sessions(db, prefix)
    record = db.session("20250101-100000-aaaa")
    assert record is not None
    assert (record.git_commit, record.git_dirty) == ("0123456789abcdef", True)
    assert db.metric_series(KEY, "triad")[0].commit == "0123456789abcdef"
    from assay.results.series import SessionDirs

    (point,) = SessionDirs(prefix).metric_series(result(), "triad")
    assert point.commit == "0123456789abcdef"


# --- the recorder ----------------------------------------------------------------------


def _session(sid: str = "20250101-100000-aaaa") -> Session:
    return make_session(sid, T0)


def test_recorder_writes_cases_before_the_session_ends(results_target, tmp_path):
    recorder = Recorder.open(results_target, tmp_path)
    session = _session()
    recorder.start(session, "cfg")
    recorder.case_finished(result(metrics={"triad": 1.0}))
    with ResultsDB.open(results_target) as reader:
        _wait_until(lambda: reader.case_series(KEY), "the case, before the session's end")
        assert [p.status for p in reader.case_series(KEY)] == ["passed"]
        assert not reader.session(session.id).complete
        session.finished = T0 + 3
        recorder.finish(session, 2.0, 0.0)
        done = reader.session(session.id)
        assert done.complete and done.config_hash == "cfg" and done.eta_first == 2.0
        assert done.cases_hash is not None


def test_recorder_batches_cases_that_finish_together(results_target, tmp_path, monkeypatch):
    from assay.results import recorder as module

    # The batch after the first waits an hour (not FLUSH_EVERY, 1 s, which a loaded machine
    # could spend between two cases): only the session's end writes it, whatever the load.
    monkeypatch.setattr(module, "FLUSH_EVERY", 3600.0)
    monkeypatch.setattr(module, "FLUSH_LATEST", 3600.0)
    recorder = Recorder.open(results_target, tmp_path)
    session = _session()
    recorder.start(session, None)
    transactions = []
    db = recorder.db
    original = db.record_new
    db.record_new = lambda *a: (transactions.append(len(a[2])), original(*a))[1]  # count them
    for i in range(200):
        recorder.case_finished(result(case_id=f"{i:08x}", params={"i": str(i)}))
    recorder.finish(session)
    with ResultsDB.open(results_target) as reader:
        assert len(reader.session_cases(session.id)) == 200
    assert sum(transactions) == 200
    assert len(transactions) <= 2  # the first case (at once, with any that came by then), the rest


def _counting(recorder: Recorder) -> list[int]:
    """The sizes of the batches the recorder's database writes, noted once each is written
    (noted before, a reader that waited for the count could look before the commit: it
    failed so under load)."""
    sizes: list[int] = []
    db = recorder.db
    assert db is not None
    original = db.record_new

    def noting(session_id, at, results):
        original(session_id, at, results)
        sizes.append(len(results))

    db.record_new = noting  # type: ignore[method-assign]
    return sizes


def _wait_until(check, what: str) -> None:
    """Poll ``check`` until it holds; the bound is generous (load 15-26 on two cores): only
    a recorder that never gets there reaches it."""
    deadline = time.monotonic() + 120
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _looked(recorder: Recorder, sizes: list[int]) -> Callable[[int], bool]:
    """Instruments the recorder's real condition (no fault injected). The answer tells
    whether the recorder's thread has looked at the first ``n`` cases: they are written
    (``sizes``, from :func:`_counting`), or they wait in the batch the thread waits for."""
    condition = recorder._ready
    original = condition.wait
    waiting = threading.Event()

    def wait(timeout=None):
        waiting.set()
        try:
            return original(timeout)
        finally:
            waiting.clear()

    def looked(n: int) -> bool:
        with recorder._lock:  # (the thread holds it but while it waits)
            done = sum(sizes)
            return done >= n or (waiting.is_set() and done + len(recorder._pending) >= n)

    condition.wait = wait  # type: ignore[method-assign]
    return looked


def test_cases_that_finish_slowly_wait_for_a_full_batch(results_target, tmp_path, monkeypatch):
    # A run slowed down writes a few large transactions, not one per FLUSH_EVERY: a batch
    # is written once FLUSH_CASES cases wait (FLUSH_LATEST, here far off, not reached).
    from assay.results import recorder as module

    monkeypatch.setattr(module, "FLUSH_EVERY", 0.0)
    monkeypatch.setattr(module, "FLUSH_CASES", 3)
    monkeypatch.setattr(module, "FLUSH_LATEST", 600.0)
    recorder = Recorder.open(results_target, tmp_path)
    session = _session()
    recorder.start(session, None)
    sizes = _counting(recorder)
    recorder.case_finished(result(case_id="00000000", params={"i": "0"}))
    _wait_until(lambda: sizes == [1], "the first case (written at once)")
    looked = _looked(recorder, sizes)
    for i in range(1, 9):
        recorder.case_finished(result(case_id=f"{i:08x}", params={"i": str(i)}))
        # One by one: the next case comes once the recorder's thread has looked at this
        # one (it waits for its batch, or wrote it): each would have had a transaction of
        # its own. (A fixed sleep of 20 ms was no such guarantee under load.)
        _wait_until(lambda n=i + 1: looked(n), f"the recorder to look at case {i}")
    _wait_until(lambda: sum(sizes) >= 7, "two full batches")
    with ResultsDB.open(results_target) as reader:
        written = sum(sizes)
        assert sizes[0] == 1 and all(n >= 3 for n in sizes[1:]), sizes
        assert len(reader.session_cases(session.id)) == written
        assert 9 - written < 3  # what is left waits for a full batch
        assert not reader.session(session.id).complete
        # The end writes what waits at once (FLUSH_LATEST is 10 minutes off).
        recorder.finish(session)
        assert sum(sizes) == 9 and all(n >= 1 for n in sizes)
        assert len(reader.session_cases(session.id)) == 9
        assert reader.session(session.id).complete


def test_a_batch_that_stays_small_is_written_after_flush_latest(
    results_target, tmp_path, monkeypatch
):
    from assay.results import recorder as module

    monkeypatch.setattr(module, "FLUSH_EVERY", 0.0)
    monkeypatch.setattr(module, "FLUSH_CASES", 1000)
    monkeypatch.setattr(module, "FLUSH_LATEST", 0.2)
    recorder = Recorder.open(results_target, tmp_path)
    session = _session()
    recorder.start(session, None)
    sizes = _counting(recorder)
    for i in range(3):
        recorder.case_finished(result(case_id=f"{i:08x}", params={"i": str(i)}))
    # Written while the session goes on (a reader sees them, a killed run keeps them).
    _wait_until(lambda: sum(sizes) == 3, "the cases, before the session's end")
    with ResultsDB.open(results_target) as reader:
        assert len(reader.session_cases(session.id)) == 3
        assert not reader.session(session.id).complete
    recorder.finish(session)
    assert sum(sizes) == 3


class FailingRecordsDB:
    """Injects a fault a real database shows only on a bad day: every write of cases fails."""

    def __init__(self, real: ResultsDB) -> None:
        self.real = real
        self.where = real.where

    def __getattr__(self, name):
        return getattr(self.real, name)

    def record(self, *args):
        raise DatabaseError("results database x: disk I/O error")

    record_new = record


def test_a_database_that_fails_mid_run_is_reported_once_and_left_alone(results_target, tmp_path):
    warnings: list[str] = []
    recorder = Recorder.open(results_target, tmp_path, warn=warnings.append)
    recorder.db = FailingRecordsDB(recorder.db)  # type: ignore[assignment]
    session = _session()
    recorder.start(session, None)
    for i in range(50):
        recorder.case_finished(result(case_id=f"{i:08x}"))
        time.sleep(0.002)
    recorder.finish(session)
    assert len(warnings) == 1
    assert "disk I/O error" in warnings[0] and "journal and report" in warnings[0]
    assert not recorder.active
    with ResultsDB.open(results_target) as reader:
        recorded = reader.session(session.id)
        assert recorded is not None and not recorded.complete  # the next import finishes it


def test_a_database_that_cannot_be_opened_means_a_run_without_recording(tmp_path):
    warnings: list[str] = []
    directory = tmp_path / "a-directory"
    directory.mkdir()
    recorder = Recorder.open(str(directory), tmp_path, warn=warnings.append)
    assert not recorder.active and recorder.expected(["x"]) == {}
    session = _session()
    recorder.start(session, None)
    recorder.case_finished(result())
    recorder.finish(session)
    assert len(warnings) == 1 and str(directory) in warnings[0]


def test_recording_off_warns_nothing(tmp_path):
    warnings: list[str] = []
    recorder = Recorder.open(None, tmp_path, warn=warnings.append)
    recorder.start(_session(), None)
    recorder.case_finished(result())
    recorder.finish(_session())
    assert warnings == [] and not recorder.active


def test_a_resumed_session_keeps_its_first_start(results_target, tmp_path):
    first = Recorder.open(results_target, tmp_path)
    session = _session()
    first.start(session, None)
    first.case_finished(result(status=Status.FAILED))
    first.close()  # killed: never finished
    later = make_session(session.id, T0 + 500)
    second = Recorder.open(results_target, tmp_path)
    second.start(later, None)
    second.case_finished(result())
    second.finish(later)
    with ResultsDB.open(results_target) as reader:
        assert [(p.time, p.status) for p in reader.case_series(KEY)] == [(T0, "passed")]
        assert reader.session(session.id).started == T0


def test_git_state_of_a_repository_and_of_no_repository(tmp_path):
    import subprocess

    assert git_state(tmp_path) == (None, None)
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a"}
    env["GIT_COMMITTER_EMAIL"] = "a@b"
    import os

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        ).stdout.strip()

    git("init", "-q")
    (repo / "test_x.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-qm", "one")
    head = git("rev-parse", "HEAD")
    assert git_state(repo / "test_x.py") == (head, False)
    (repo / "untracked.txt").write_text("")
    assert git_state(repo) == (head, False)  # untracked files do not make it dirty
    (repo / "test_x.py").write_text("x = 2\n")
    assert git_state(repo) == (head, True)


def test_recorder_is_cheap_on_the_event_loop(results_target, tmp_path):
    """case_finished only queues: the event loop is not held while the database writes."""
    recorder = Recorder.open(results_target, tmp_path)
    session = _session()
    recorder.start(session, None)

    async def finish_many() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        for i in range(300):
            recorder.case_finished(result(case_id=f"{i:08x}"))
            await asyncio.sleep(0)
        task.cancel()
        return ticks

    assert asyncio.run(finish_many()) >= 300
    recorder.finish(session)
    with ResultsDB.open(results_target) as reader:
        assert len(reader.session_cases(session.id)) == 300
        assert CaseKey.of(result()) == KEY


def test_an_import_never_overwrites_what_a_live_session_recorded(db, tmp_path):
    from assay.results.db import SessionRecord

    prefix = tmp_path / ".assay"
    sid = "20250101-100000-aaaa"
    db.begin_session(SessionRecord(id=sid, started=T0, git_commit="abc", config_hash="cfg"))
    db.record(sid, T0, [result()])
    db.end_session(sid, T0 + 5)
    write_report(prefix, sid, T0 + 0.5, result())  # a report lacks commit and config hash
    import_sessions(db, prefix, force=True)
    back = db.session(sid)
    assert (back.git_commit, back.config_hash, back.started) == ("abc", "cfg", T0)
    assert back.host == "host"  # what the database lacked is filled in


def test_a_fifo_in_a_session_directory_does_not_block_the_import(tmp_path):
    """A FIFO where command.json should be would block a read forever."""
    import os
    import subprocess
    import sys

    prefix = tmp_path / ".assay"
    directory = write_journal(prefix, "20300103-100000-cccc", result())
    (directory / "command.json").unlink()
    os.mkfifo(directory / "command.json")
    code = (
        "import sys; from pathlib import Path; from assay.results.db import ResultsDB;"
        "from assay.results.db.importer import import_sessions;"
        "db = ResultsDB.open(sys.argv[1]); print(import_sessions(db, Path(sys.argv[2])).imported)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "r.sqlite"), str(prefix)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['20300103-100000-cccc']"


def test_git_state_ignores_variables_that_point_git_elsewhere(tmp_path, monkeypatch):
    import os
    import subprocess

    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b"}
    env |= {"GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}
    heads = []
    for name in ("tests", "other"):
        repo = tmp_path / name
        repo.mkdir()
        for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", name]):
            subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, env=env
        )
        heads.append(head.stdout.strip())
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "other" / ".git"))
    assert git_state(tmp_path / "tests") == (heads[0], False)


# --- a session killed together with its recorder ------------------------------------------


def _recorded_live(db: ResultsDB, sid: str, *results) -> None:
    """What a live session's recorder had written when the process was killed: the session
    and its earlier batches, never its end."""
    from assay.results.db import SessionRecord

    db.begin_session(SessionRecord(id=sid, started=T0, git_commit="abc", config_hash="cfg"))
    db.record_new(sid, T0, list(results))


def test_a_session_killed_with_its_recorder_gets_its_last_batch_from_the_journal(db, tmp_path):
    prefix = tmp_path / ".assay"
    sid = "20250101-100000-aaaa"
    first = result(case_id="00000001", params={"i": "1"})
    last = result(case_id="00000002", params={"i": "2"}, status=Status.FAILED)
    _recorded_live(db, sid, first)
    write_journal(prefix, sid, first, last)  # the journal kept the last batch too
    out = import_sessions(db, prefix)
    assert out.imported == [sid]
    assert sorted(r.case_id for r in db.session_cases(sid)) == ["00000001", "00000002"]
    back = db.session(sid)
    assert back.interrupted == "killed" and not back.complete
    assert back.git_commit == "abc" and back.config_hash == "cfg"  # the live record is kept
    assert back.finished == (prefix / "runs" / sid / "journal.jsonl").stat().st_mtime
    # Recorded as killed: not read again while its journal stays as it is.
    again = import_sessions(db, prefix)
    assert again.imported == [] and again.skipped == 1


def test_a_killed_session_resumed_without_the_database_is_read_again(db, tmp_path):
    prefix = tmp_path / ".assay"
    sid = "20250101-100000-aaaa"
    directory = write_journal(prefix, sid, result(case_id="00000001", params={"i": "1"}))
    assert import_sessions(db, prefix).imported == [sid]
    journal = Journal(directory)  # --resume ran one more case, recording nowhere
    journal.result(result(case_id="00000002", params={"i": "2"}))
    journal.close()
    os.utime(directory / "journal.jsonl", (T0 + 99, T0 + 99))  # a time of its own
    assert import_sessions(db, prefix).imported == [sid]
    assert len(db.session_cases(sid)) == 2


def test_a_live_session_is_left_to_its_own_recorder(db, tmp_path):
    from assay.results.live import hold, is_live

    prefix = tmp_path / ".assay"
    sid = "20250101-100000-aaaa"
    first = result(case_id="00000001", params={"i": "1"})
    _recorded_live(db, sid, first)
    directory = write_journal(prefix, sid, first, result(case_id="00000002", params={"i": "2"}))
    mark = hold(directory)
    assert is_live(directory)
    out = import_sessions(db, prefix)
    assert out.imported == [] and out.skipped == 1
    assert len(db.session_cases(sid)) == 1 and db.session(sid).interrupted is None
    mark.release()
    assert not is_live(directory)
    assert import_sessions(db, prefix).imported == [sid]


def test_a_session_is_live_exactly_while_its_runner_process_lives(tmp_path):
    """The mark is the kernel's: a runner killed with SIGKILL leaves none behind."""
    directory = tmp_path / "runs" / "20250101-100000-aaaa"
    directory.mkdir(parents=True)
    code = (
        "import sys, time; from pathlib import Path; from assay.results.live import hold;"
        "m = hold(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        from assay.results.live import is_live

        assert is_live(directory)
    finally:
        proc.kill()
        proc.wait()
    assert not is_live(directory)


def test_a_link_in_place_of_a_session_directory_is_never_live(tmp_path):
    from assay.results.live import hold, is_live

    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    mark = hold(real)
    try:
        assert is_live(real) and not is_live(link)  # O_NOFOLLOW: the link is not a session
        assert hold(link).fd is None
    finally:
        mark.release()


class SlowDiskEndDB:
    """Injects a disk that stalls at the session's end (a checkpoint's sync on a busy
    disk): ``end_session`` waits until the test lets it go."""

    def __init__(self, real: ResultsDB) -> None:
        self.real = real
        self.where = real.where
        self.entered = threading.Event()
        self.go = threading.Event()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def end_session(self, *args, **kwargs):
        self.entered.set()
        assert self.go.wait(60)
        return self.real.end_session(*args, **kwargs)


def test_the_recorders_end_goes_on_while_the_runner_writes_its_report(results_target, tmp_path):
    """``end`` hands the last batch and the session's end to the recorder's thread and
    returns: the runner writes its report meanwhile; ``finish`` waits for both."""
    recorder = Recorder.open(results_target, tmp_path)
    slow = SlowDiskEndDB(recorder.db)
    recorder.db = slow  # type: ignore[assignment]
    session = _session()
    recorder.start(session, "cfg")
    recorder.case_finished(result())
    session.finished = T0 + 3
    recorder.end(session, 2.0, 0.0)  # returns with the end still to write
    assert slow.entered.wait(60)
    with ResultsDB.open(results_target) as reader:
        assert not reader.session(session.id).complete
        slow.go.set()
        recorder.finish(session)
        done = reader.session(session.id)
        assert done.complete and done.eta_first == 2.0
        assert [p.status for p in reader.case_series(KEY)] == ["passed"]
    assert recorder.db is None  # closed


def _recorded(target: str, session_id: str, count: int) -> bool:
    """Whether ``count`` cases of the session are in the database, looked for up to 120 s
    (a generous bound: only a recorder that never writes them reaches it)."""
    deadline = time.monotonic() + 120
    while True:
        with ResultsDB.open(target) as reader:
            if len(reader.session_cases(session_id)) >= count:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_drain_writes_the_cases_that_wait_for_their_batch_at_once(
    results_target, tmp_path, monkeypatch
):
    """Once the runner's cases have all finished, the last batch goes while the runner
    closes its hosts and journal, not when its time comes (nor with the session's end)."""
    from assay.results import recorder as recording

    # The batch after the first waits an hour here: only drain() can write it sooner.
    monkeypatch.setattr(recording, "FLUSH_EVERY", 3600.0)
    monkeypatch.setattr(recording, "FLUSH_LATEST", 3600.0)
    recorder = Recorder.open(results_target, tmp_path)
    session = _session()
    try:
        recorder.start(session, None)
        recorder.case_finished(result(case_id="00000001", params={"i": "1"}))  # (at once)
        assert _recorded(results_target, session.id, 1)
        recorder.case_finished(result(case_id="00000002", params={"i": "2"}))
        recorder.drain()
        assert _recorded(results_target, session.id, 2)
        with ResultsDB.open(results_target) as reader:
            assert not reader.session(session.id).complete  # (the end is the runner's)
        session.finished = T0 + 3
        recorder.finish(session)
    finally:
        recorder.close()  # (a failure above: the batch's wait ends, its thread with it)
    with ResultsDB.open(results_target) as reader:
        assert reader.session(session.id).complete


def test_the_first_case_is_written_at_once_on_a_machine_up_for_less_than_the_wait(
    results_target, tmp_path, monkeypatch
):
    """time.monotonic counts from the machine's boot: the first batch's times were counted
    from 0, so on a machine up for less than FLUSH_EVERY (or FLUSH_LATEST) the first case
    waited until then, not written at once (the drain test failed so within an hour of
    boot). The times are set beyond this machine's uptime to show it."""
    from assay.results import recorder as recording

    beyond = time.monotonic() + 3600.0
    monkeypatch.setattr(recording, "FLUSH_EVERY", beyond)
    monkeypatch.setattr(recording, "FLUSH_LATEST", beyond)
    recorder = Recorder.open(results_target, tmp_path)
    session = _session()
    try:
        recorder.start(session, None)
        recorder.case_finished(result(case_id="00000001", params={"i": "1"}))
        assert _recorded(results_target, session.id, 1)
    finally:
        recorder.close()


def test_after_end_a_late_case_is_left_out_and_close_closes_once(results_target, tmp_path):
    warnings: list[str] = []
    recorder = Recorder.open(results_target, tmp_path, warn=warnings.append)
    session = _session()
    recorder.start(session, None)
    recorder.case_finished(result(case_id="00000001", params={"i": "1"}))
    session.finished = T0 + 3
    recorder.end(session)
    recorder.case_finished(result(case_id="00000002", params={"i": "2"}))  # too late: ignored
    recorder.close()
    assert recorder.db is None and warnings == []
    with ResultsDB.open(results_target) as reader:
        assert [r.case_id for r in reader.session_cases(session.id)] == ["00000001"]
        assert reader.session(session.id).complete
