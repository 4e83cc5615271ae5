"""session.run as the CLI calls it: what it costs beyond the cases themselves."""

from __future__ import annotations

import json
from pathlib import Path

from assay import session
from assay.results import model
from assay.ui import RerunHint, make_display


def _true_test(directory: Path, name: str, count: int = 1) -> None:
    """``directory/test_<name>.py``: a test ``name`` of ``count`` cases running ``true``."""
    param = f"    i = assay.parameter(range({count}))\n" if count > 1 else ""
    (directory / f"test_{name.lower()}.py").write_text(
        f"import assay\n\n\nclass {name}(assay.Test):\n{param}    command = 'true'\n"
    )


def test_a_finished_run_never_formats_its_session(tmp_path, monkeypatch):
    # asyncio.run formats the repr of the task it drives when it restores the SIGINT
    # handler; a task whose result is the session would format every case result.
    _true_test(tmp_path, "Few", 3)
    formatted: list[str] = []
    real = model.Session.__repr__

    def counted(self: model.Session) -> str:
        formatted.append(self.id)
        return real(self)

    monkeypatch.setattr(model.Session, "__repr__", counted)
    monkeypatch.chdir(tmp_path)
    request = session.Request(paths=[str(tmp_path)], prefix=str(tmp_path / ".assay"))
    assert session.run(request, make_display(plain=True), RerunHint()) == 0
    assert formatted == []


def test_a_run_puts_what_start_up_made_out_of_the_collectors_sight(tmp_path, monkeypatch):
    import gc

    _true_test(tmp_path, "One")
    monkeypatch.chdir(tmp_path)
    gc.unfreeze()
    try:
        request = session.Request(paths=[str(tmp_path)], prefix=str(tmp_path / ".assay"))
        assert session.run(request, make_display(plain=True), RerunHint()) == 0
        # The test class and the plan among them: full collections skip them.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def _recorded(prefix, session_id):
    from assay.results.db import ResultsDB

    with ResultsDB.open(prefix / "results.sqlite") as db:
        record = db.session(session_id)
        return record, db.session_cases(session_id)


def _database_opened_once(monkeypatch, ready, within: float) -> list[bool]:
    """Make Recorder.open wait until ``ready()`` (at most ``within`` seconds) before it
    opens: what the run must have done without the database. Returns the list it notes,
    for each open, whether ``ready()`` held then."""
    import time

    from assay.results import recorder

    real_open = recorder.Recorder.open.__func__  # type: ignore[attr-defined]
    waited: list[bool] = []

    def open_once_ready(cls, *args, **kwargs):
        deadline = time.monotonic() + within
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        waited.append(ready())
        return real_open(cls, *args, **kwargs)

    monkeypatch.setattr(recorder.Recorder, "open", classmethod(open_once_ready))
    return waited


def _run_recorded_in_full(tmp_path, prefix, waited: list[bool]) -> None:
    """Run the session in ``tmp_path``; the database's open waited as injected, and it
    holds the session, complete, and its passed case all the same."""
    request = session.Request(paths=[str(tmp_path)], prefix=str(prefix))
    assert session.run(request, make_display(plain=True), RerunHint()) == 0
    assert waited == [True]
    session_id = (prefix / "latest").resolve().name
    record, cases = _recorded(prefix, session_id)
    assert record is not None and record.complete
    assert [c.status for c in cases] == ["passed"]


def test_the_cases_of_a_first_session_do_not_wait_while_its_database_is_made(tmp_path, monkeypatch):
    # No results database yet and no session before this one: no history to plan with, so
    # the cases start while the database is made (its schema costs syncs). Injected: making
    # it waits until the case has finished (its result is in the journal), which never
    # happens if the cases wait for it; the result then waits for the database.
    _true_test(tmp_path, "One")
    prefix = tmp_path / ".assay"
    journal = prefix / "latest" / "journal.jsonl"

    def finished() -> bool:
        return journal.exists() and b'"t":"result"' in journal.read_bytes()

    waited = _database_opened_once(monkeypatch, finished, within=15)
    monkeypatch.chdir(tmp_path)
    _run_recorded_in_full(tmp_path, prefix, waited)


def test_a_first_session_with_nothing_to_judge_reports_while_its_database_is_made(
    tmp_path, monkeypatch
):
    # No metric, no --html: nothing is held against history (a first session has none),
    # so its report.json and summary need not wait while the database is made; the
    # process still ends only once it is made and holds the session. Injected: making it
    # waits until the summary is written (summary.txt), which never happens if the
    # summary waits for the database.
    _true_test(tmp_path, "One")
    prefix = tmp_path / ".assay"

    def summarized() -> bool:
        latest = prefix / "latest"
        return (latest / "summary.txt").exists() and (latest / "report.json").exists()

    waited = _database_opened_once(monkeypatch, summarized, within=10)
    monkeypatch.chdir(tmp_path)
    _run_recorded_in_full(tmp_path, prefix, waited)
    report = json.loads((prefix / "latest" / "report.json").read_text())
    assert report["summary"]["passed"] == 1 and report["session"]["finished"] is not None


class FaultInjectingDisplay:
    """The plain display, whose summary fails (a bug of a display, say)."""

    def __init__(self) -> None:
        self.plain = make_display(plain=True)

    def __getattr__(self, name):
        return getattr(self.plain, name)

    def finish(self, *args, **kwargs):
        raise RuntimeError("injected: the summary failed")


def test_a_summary_that_fails_still_leaves_the_session_recorded(tmp_path, monkeypatch):
    # The summary of a session with nothing to judge is shown before its recording ends
    # (see above): the recording ends all the same, the display's error then raised.
    import pytest

    _true_test(tmp_path, "One")
    prefix = tmp_path / ".assay"
    monkeypatch.chdir(tmp_path)
    request = session.Request(paths=[str(tmp_path)], prefix=str(prefix))
    for _ in range(2):  # a first session (its database made meanwhile), then a second
        with pytest.raises(RuntimeError, match="injected"):
            session.run(request, FaultInjectingDisplay(), RerunHint())
        record, cases = _recorded(prefix, (prefix / "latest").resolve().name)
        assert record is not None and record.complete
        assert [c.status for c in cases] == ["passed"]


def test_a_session_with_history_plans_with_it_before_its_cases_start(tmp_path, monkeypatch):
    # An existing database is opened before the cases start (its recorded durations order
    # them); the second session is recorded beside the first. (Two cases: a lone one has
    # no order to choose, see test_lone_history.)
    from assay.results import recorder

    _true_test(tmp_path, "One", 2)
    monkeypatch.chdir(tmp_path)
    prefix = tmp_path / ".assay"
    request = session.Request(paths=[str(tmp_path)], prefix=str(prefix))
    assert session.run(request, make_display(plain=True), RerunHint()) == 0
    first = (prefix / "latest").resolve().name
    asked: list[int] = []
    real_expected = recorder.Recorder.expected

    def expected(self, series):
        asked.append(len(series))
        return real_expected(self, series)

    monkeypatch.setattr(recorder.Recorder, "expected", expected)
    assert session.run(request, make_display(plain=True), RerunHint()) == 0
    second = (prefix / "latest").resolve().name
    assert asked == [2] and second != first
    for session_id in (first, second):
        record, cases = _recorded(prefix, session_id)
        assert record is not None and record.complete and len(cases) == 2


def test_a_session_that_starts_no_process_still_records_its_commit_and_itself(
    tmp_path, monkeypatch
):
    # Git is asked and a first database made once the first process starts; a session
    # whose cases start none (a hook fails before the run stage) gets both at its end.
    import subprocess

    (tmp_path / "test_none.py").write_text(
        "import assay\n\n\nclass NoProcess(assay.Test):\n    command = 'true'\n\n"
        "    @assay.before('run')\n    def refuse(self):\n        raise RuntimeError('no')\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "test_none.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "tests"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    monkeypatch.chdir(tmp_path)
    prefix = tmp_path / ".assay"
    request = session.Request(paths=[str(tmp_path)], prefix=str(prefix))
    assert session.run(request, make_display(plain=True), RerunHint()) == 1
    record, cases = _recorded(prefix, (prefix / "latest").resolve().name)
    assert record is not None and record.complete
    assert record.git_commit == head.strip()
    assert [c.status for c in cases] == ["failed"]
    report = json.loads((prefix / "latest" / "report.json").read_text())
    assert report["session"]["git"]["commit"] == head.strip()


def test_the_batch_that_waits_is_written_while_the_last_cases_run(tmp_path, monkeypatch):
    # Once no case waits for a slot (no more cases left than run at once), what waits for
    # its batch is written while the last cases run, not with them at drain(): the batch
    # the session's end waits for holds only them. Here a batch waits an hour (FLUSH_EVERY,
    # FLUSH_LATEST): at drain(), every case finished, the database must already hold all
    # but the last two (six cases, two at once), which only that early write can do.
    import time

    from assay.results import recorder
    from assay.results.db import ResultsDB

    _true_test(tmp_path, "Six", 6)
    monkeypatch.chdir(tmp_path)
    prefix = tmp_path / ".assay"
    request = session.Request(paths=[str(tmp_path)], prefix=str(prefix), max_jobs=2)
    assert session.run(request, make_display(plain=True), RerunHint()) == 0  # (the database)
    monkeypatch.setattr(recorder, "FLUSH_EVERY", 3600.0)
    monkeypatch.setattr(recorder, "FLUSH_LATEST", 3600.0)
    held: list[int] = []
    real_drain = recorder.Recorder.drain

    def drain(self: recorder.Recorder) -> None:
        deadline = time.monotonic() + 10  # (the early batch is written in its thread)
        while True:
            with ResultsDB.open(prefix / "results.sqlite") as db:
                count = len(db.session_cases(self._session_id))
            if count >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        held.append(count)
        real_drain(self)

    monkeypatch.setattr(recorder.Recorder, "drain", drain)
    assert session.run(request, make_display(plain=True), RerunHint()) == 0
    assert len(held) == 1 and held[0] >= 4, held
    record, cases = _recorded(prefix, (prefix / "latest").resolve().name)
    assert record is not None and record.complete and len(cases) == 6
