"""The results database against real SQLite files and a real PostgreSQL server (each test
runs against both; see ``results_target`` in tests/conftest.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from assay.results.db import CaseKey, DatabaseError, ResultsDB, SessionRecord, cases_hash
from assay.results.db.postgres import redact
from assay.results.db.schema import SCHEMA_VERSION
from assay.results.model import (
    ArtifactUse,
    CaseResult,
    Failure,
    MetricResult,
    Status,
)

T0 = 1_800_000_000.0


def repeated(r: CaseResult, repeat: int) -> CaseResult:
    """``r`` as repetition ``repeat`` of its case (--repeat)."""
    r.repeat = repeat
    return r


def result(
    test: str = "Stream",
    params: dict[str, str] | None = None,
    status: Status = Status.PASSED,
    run: float = 1.0,
    metrics: dict[str, float | None] | None = None,
    nodes: int | None = 1,
    case_id: str = "0000aaaa",
    queued: float | None = None,
    started: float | None = None,
) -> CaseResult:
    params = {"threads": "4"} if params is None else params
    inner = ",".join(f"{k}={v}" for k, v in params.items())
    variant = f"{test}[{inner}]" if params else test
    timings = {"setup": 0.01, "run": run}
    if queued is not None:
        timings["queued"] = queued
    return CaseResult(
        name=f"{variant} @sys:part+gnu",
        id=case_id,
        test=test,
        variant=variant,
        params=params,
        system="sys",
        partition="part",
        environment="gnu",
        status=status,
        failure=None if status == Status.PASSED else Failure("run", f"it {status.value}"),
        timings=timings,
        metrics=[MetricResult(n, v, "GB/s") for n, v in (metrics or {}).items()],
        nodes=nodes,
        started=started,
        attempts=1,
    )


KEY = CaseKey("Stream", {"threads": "4"}, "sys:part", "gnu", 1)


def session(db: ResultsDB, sid: str, at: float, *results: CaseResult, commit: str = "c0") -> None:
    db.begin_session(SessionRecord(id=sid, started=at, git_commit=commit, command=["assay"]))
    db.record(sid, at, list(results))
    db.end_session(sid, at + 10)


@pytest.fixture
def db(results_target: str):
    with ResultsDB.open(results_target) as opened:
        yield opened


def test_a_new_database_is_at_the_current_schema(db):
    assert db.version == SCHEMA_VERSION


def test_metric_series_is_ordered_by_time_with_commits_and_units(db):
    # Recorded out of order: the series still reads oldest first.
    session(db, "s2", T0 + 200, result(metrics={"triad": 12.0}), commit="c2")
    session(db, "s0", T0, result(metrics={"triad": 10.0}), commit="c0")
    session(db, "s1", T0 + 100, result(metrics={"triad": 11.0, "copy": 5.0}), commit="c1")
    points = db.metric_series(KEY, "triad")
    assert [(p.session, p.commit, p.value, p.unit) for p in points] == [
        ("s0", "c0", 10.0, "GB/s"),
        ("s1", "c1", 11.0, "GB/s"),
        ("s2", "c2", 12.0, "GB/s"),
    ]
    assert [p.time for p in points] == [T0, T0 + 100, T0 + 200]
    assert [p.session for p in db.metric_series(KEY, "triad", limit=2)] == ["s1", "s2"]
    assert db.metric_names(KEY) == ["copy", "triad"]


def test_series_are_apart_per_params_partition_environment_and_nodes(db):
    session(
        db,
        "s0",
        T0,
        result(metrics={"triad": 1.0}),
        result(metrics={"triad": 2.0}, nodes=2, case_id="0000bbbb"),
        result(params={"threads": "8"}, metrics={"triad": 3.0}, case_id="0000cccc"),
    )
    assert [p.value for p in db.metric_series(KEY, "triad")] == [1.0]
    two = CaseKey("Stream", {"threads": "4"}, "sys:part", "gnu", 2)
    assert [p.value for p in db.metric_series(two, "triad")] == [2.0]
    other = CaseKey("Stream", {"threads": "4"}, "sys:other", "gnu", 1)
    assert db.metric_series(other, "triad") == []


def test_unmeasured_values_are_left_out_of_a_metric_series(db):
    session(db, "s0", T0, result(metrics={"triad": None}))
    session(db, "s1", T0 + 1, result(metrics={"triad": 4.0}))
    assert [p.value for p in db.metric_series(KEY, "triad")] == [4.0]


def test_case_series_has_each_verdict_and_duration(db):
    session(db, "s0", T0, result(run=1.0))
    session(db, "s1", T0 + 1, result(status=Status.FAILED, run=2.0))
    points = db.case_series(KEY)
    assert [(p.session, p.status) for p in points] == [("s0", "passed"), ("s1", "failed")]
    assert points[0].duration == pytest.approx(1.01)
    assert points[1].duration == pytest.approx(2.01)


def test_the_key_of_a_result_names_its_series(db):
    r = result(metrics={"triad": 7.0})
    session(db, "s0", T0, r)
    assert CaseKey.of(r) == KEY
    assert [p.value for p in db.metric_series(CaseKey.of(r), "triad")] == [7.0]


def test_recording_a_case_again_replaces_it(db):
    """A resumed session records its earlier results again; an import may repeat: no
    duplicate rows, no duplicate durations."""
    db.begin_session(SessionRecord(id="s0", started=T0))
    first = result(status=Status.FAILED, metrics={"triad": 1.0, "copy": 2.0})
    db.record("s0", T0, [first])
    again = result(run=3.0, metrics={"triad": 5.0})
    db.record("s0", T0, [again])
    db.record("s0", T0, [again])
    assert [(p.status, p.duration) for p in db.case_series(KEY)] == [
        ("passed", pytest.approx(3.01))
    ]
    assert [p.value for p in db.metric_series(KEY, "triad")] == [5.0]
    assert db.metric_series(KEY, "copy") == []
    assert db.expected([KEY.series])[KEY.series].samples == 1


def test_expected_is_the_median_of_the_newest_passes_without_queue_wait(db):
    for i, run in enumerate([50.0, 1.0, 2.0, 3.0, 4.0, 100.0]):
        session(db, f"s{i}", T0 + i, result(run=run))
    session(db, "s6", T0 + 6, result(status=Status.FAILED, run=0.5))
    session(db, "s7", T0 + 7, result(run=4.0, queued=30.0))
    found = db.expected([KEY.series])[KEY.series]
    # The five newest passes: 2, 3, 4, 100, 4 (+ setup); the oldest (50) and the failure
    # are not counted, and the 30 s in a batch queue is not work.
    assert found.samples == 5
    assert found.work == pytest.approx(4.01)
    assert found.run == pytest.approx(4.0)
    assert db.expected(["no-such-series"]) == {}


def test_recent_durations_are_the_newest_passes_whatever_order_they_are_recorded_in(db):
    """Sessions recorded out of order (an import of older directories, a resumed session
    recording again), a session's repetitions sharing its start, failures between: the series keeps
    the newest five passes by (start, repetition), newest first, each once."""
    import random

    plan = [(i, rep) for i in range(8) for rep in (1, 2)]
    random.Random(7).shuffle(plan)
    plan += plan[:3]  # recorded again: replaced, never doubled
    passes: dict[tuple[float, int], float] = {}
    for i, rep in plan:
        status = Status.FAILED if (i, rep) == (7, 2) else Status.PASSED
        run = 10.0 * i + rep
        at = T0 + i
        db.begin_session(SessionRecord(id=f"s{i}", started=at))
        db.record(f"s{i}", at, [repeated(result(status=status, run=run), rep)])
        if status is Status.PASSED:
            passes[(at, rep, f"s{i}")] = run  # type: ignore[index]
    newest = sorted(passes, key=lambda k: (k[0], k[1]), reverse=True)
    (recent,) = db.backend.query("SELECT recent FROM series")
    entries = json.loads(recent[0])
    assert [(e[0], e[4]) for e in entries] == [(k[0], k[1]) for k in newest[:5]]
    assert [e[2] for e in entries] == [passes[k] for k in newest[:5]]


def test_recent_durations_of_sessions_recorded_as_they_run_are_stored_as_one_json_text(db):
    """Each session newer than the last (a live run: its entry goes in front and the others
    are kept as written, not decoded and written again): the text is the newest five passes,
    newest first, as msgspec writes the whole list; a failure or a skip leaves it as it was."""
    statuses = [Status.PASSED] * 3 + [Status.FAILED, Status.SKIPPED] + [Status.PASSED] * 4
    expected: list[list[object]] = []
    for i, status in enumerate(statuses):
        at, run = T0 + i + 0.1234567, 1.0 + i / 7
        db.begin_session(SessionRecord(id=f"s{i}", started=at))
        db.record_new(f"s{i}", at, [result(status=status, run=run)])
        if status is Status.PASSED:
            entry = [at, round(0.01 + run, 6), round(run, 6), f"s{i}", 1]
            expected = [entry, *expected][:5]
        (recent,) = db.backend.query("SELECT recent FROM series")
        assert recent[0] == json.dumps(expected, separators=(",", ":")), i


def test_failed_case_ids_are_those_whose_last_verdict_failed(db):
    a = {"case_id": "aaaa0000", "params": {"threads": "1"}}
    b = {"case_id": "bbbb0000", "params": {"threads": "2"}}
    c = {"case_id": "cccc0000", "params": {"threads": "3"}}
    session(db, "s0", T0, result(status=Status.FAILED, **a), result(status=Status.FAILED, **b))
    # A later session reruns a alone (it passes) and skips c: neither hides b's failure.
    session(db, "s1", T0 + 1, result(**a), result(status=Status.SKIPPED, **c))
    session(db, "s2", T0 + 2, result(status=Status.ABORTED, **c))
    assert db.failed_case_ids() == ["bbbb0000", "cccc0000"]
    session(db, "s3", T0 + 3, result(**b))
    session(db, "s4", T0 + 4, result(status=Status.SKIPPED, **c))  # a skip is no verdict
    assert db.failed_case_ids() == ["cccc0000"]


def test_an_older_session_recorded_late_does_not_override_the_last_verdict(db):
    session(db, "new", T0 + 10, result())
    session(db, "old", T0, result(status=Status.FAILED))  # imported afterwards
    assert db.failed_case_ids() == []


def test_previous_session_with_the_same_cases(db):
    a = {"case_id": "aaaa0000", "params": {"threads": "1"}}
    b = {"case_id": "bbbb0000", "params": {"threads": "2"}}
    session(db, "s0", T0, result(**a), result(**b))
    session(db, "s1", T0 + 1, result(**a))  # a rerun of one case
    session(db, "s2", T0 + 2, result(**a), result(**b))
    newest = db.sessions(1)[0]
    assert newest.id == "s2"
    assert newest.cases_hash == cases_hash(["aaaa0000", "bbbb0000"])
    previous = db.previous_with_cases(newest)
    assert previous is not None and previous.id == "s0"
    # No session with the same cases: the newest that shares one.
    previous = db.previous_with_cases(db.session("s1"))
    assert previous is not None and previous.id == "s0"
    assert db.previous_with_cases(db.session("s0")) is None


def test_incomplete_sessions_are_not_complete(db):
    db.begin_session(SessionRecord(id="running", started=T0))
    db.record("running", T0, [result()])
    assert db.known_sessions(["running", "other"]) == {"running": False}
    assert db.sessions(5, complete_only=True) == []


def test_store_versions_and_comparisons_are_recorded(db):
    r = result()
    r.artifacts = [
        ArtifactUse("build", 0, "solver@3", "t" * 64),
        ArtifactUse("build", 1, None, "u" * 64),
    ]
    r.comparisons = [{"ok": False, "summary": "1 file differs", "files": [], "missing": []}]
    session(db, "s0", T0, r)
    assert db.artifacts_of("s0", r.id) == [
        ("build", 0, "solver@3", "t" * 64),
        ("build", 1, None, "u" * 64),
    ]
    assert db.comparisons_of("s0", r.id) == [r.comparisons[0]]


def test_repetitions_are_kept_apart(db):
    db.begin_session(SessionRecord(id="s0", started=T0))
    db.record(
        "s0", T0, [result(metrics={"triad": 1.0}), repeated(result(metrics={"triad": 2.0}), 2)]
    )
    assert [(p.rep, p.value) for p in db.metric_series(KEY, "triad")] == [(1, 1.0), (2, 2.0)]


def test_session_fields_are_kept(db):
    record = SessionRecord(
        id="s0",
        started=T0,
        user="me",
        host="h",
        command=["assay", "run", "x y"],
        cwd="/w",
        system="sys",
        config="assay.toml",
        config_hash="abc",
        git_commit="deadbeef",
        git_dirty=True,
        version="1.2",
        directory="/w/.assay/runs/s0",
    )
    db.begin_session(record)
    db.end_session("s0", T0 + 5, "SIGINT", eta_first=3.0, eta_made=0.5)
    back = db.session("s0")
    assert back is not None
    assert (back.user, back.host, back.command, back.git_dirty) == (
        "me",
        "h",
        ["assay", "run", "x y"],
        True,
    )
    assert (back.finished, back.interrupted, back.eta_first, back.eta_made) == (
        T0 + 5,
        "SIGINT",
        3.0,
        0.5,
    )
    assert back.complete


# --- migrations -------------------------------------------------------------------------

# What version 1 of the schema made (written out here, as an old assay wrote it).
VERSION_1 = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO meta (key, value) VALUES ('schema_version', '1')",
    """CREATE TABLE sessions (id TEXT PRIMARY KEY, started DOUBLE PRECISION NOT NULL,
        finished DOUBLE PRECISION, user_name TEXT, host TEXT, command TEXT, cwd TEXT, system TEXT,
        config TEXT, config_hash TEXT, git_commit TEXT, git_dirty INTEGER, assay_version TEXT,
        directory TEXT, interrupted TEXT, cases_hash TEXT, complete INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX sessions_started ON sessions (started)",
    "CREATE INDEX sessions_cases_hash ON sessions (cases_hash, started)",
    """CREATE TABLE cases (session_id TEXT NOT NULL, case_id TEXT NOT NULL,
        rep INTEGER NOT NULL DEFAULT 0, series TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
        name TEXT NOT NULL, test TEXT NOT NULL, variant TEXT, params TEXT NOT NULL,
        system TEXT NOT NULL, part TEXT NOT NULL, env TEXT NOT NULL, nodes INTEGER,
        status TEXT NOT NULL, failure_stage TEXT, failure_reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0, started DOUBLE PRECISION, finished DOUBLE PRECISION,
        duration DOUBLE PRECISION, queue_wait DOUBLE PRECISION, timings TEXT,
        PRIMARY KEY (session_id, case_id, rep))""",
    "CREATE INDEX cases_series ON cases (series, at)",
    """CREATE TABLE metrics (session_id TEXT NOT NULL, case_id TEXT NOT NULL,
        rep INTEGER NOT NULL DEFAULT 0, name TEXT NOT NULL, series TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL, value DOUBLE PRECISION, unit TEXT,
        reference DOUBLE PRECISION, lower_rel DOUBLE PRECISION, upper_rel DOUBLE PRECISION,
        low_bound DOUBLE PRECISION, high_bound DOUBLE PRECISION, verdict TEXT,
        PRIMARY KEY (session_id, case_id, rep, name))""",
    "CREATE INDEX metrics_series ON metrics (series, name, at)",
]


def _v1_rows(series: str) -> list[str]:
    params = '{"threads":"4"}'
    rows = []
    for i, (status, run) in enumerate([("passed", 2.0), ("failed", 9.0), ("passed", 4.0)]):
        at = T0 + i
        rows += [
            f"INSERT INTO sessions (id, started, finished, git_commit, complete, command)"
            f" VALUES ('old{i}', {at}, {at + 1}, 'c{i}', 1, '[\"assay\"]')",
            f"INSERT INTO cases (session_id, case_id, rep, series, at, name, test, variant, params,"
            f" system, part, env, nodes, status, attempts, duration, timings) VALUES ('old{i}',"
            f" '0000aaaa', 0, '{series}', {at}, 'Stream[threads=4] @sys:part+gnu', 'Stream',"
            f" 'Stream[threads=4]', '{params}', 'sys', 'part', 'gnu', 1, '{status}', 1, {run},"
            f" '{{\"run\":{run}}}')",
            "INSERT INTO metrics (session_id, case_id, rep, name, series, at, value, unit,"
            f" verdict) VALUES ('old{i}', '0000aaaa', 0, 'triad', '{series}', {at}, {10 + i},"
            " 'GB/s', 'pass')",
        ]
    return rows


def _execute_script(target: str, statements: list[str]) -> None:
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
    else:
        with sqlite3.connect(target) as conn:
            for statement in statements:
                conn.execute(statement)


def test_a_version_1_database_is_upgraded_in_place(results_target):
    _execute_script(results_target, VERSION_1 + _v1_rows(KEY.series))
    with ResultsDB.open(results_target) as db:
        assert db.version == SCHEMA_VERSION
        # Nothing recorded before is lost...
        assert [(p.session, p.value, p.commit) for p in db.metric_series(KEY, "triad")] == [
            ("old0", 10.0, "c0"),
            ("old1", 11.0, "c1"),
            ("old2", 12.0, "c2"),
        ]
        # ...what version 2 derives is there (durations of passes, the last verdict)...
        found = db.expected([KEY.series])[KEY.series]
        assert (found.samples, found.work, found.run) == (2, 3.0, 3.0)
        assert db.failed_case_ids() == []
        # ...and it takes new sessions with the new columns.
        r = result(metrics={"triad": 13.0})
        r.artifacts = [ArtifactUse("build", 0, "b@1", "t" * 64)]
        session(db, "new", T0 + 10, r)
        assert db.metric_series(KEY, "triad")[-1].value == 13.0
    with ResultsDB.open(results_target) as db:  # opening again changes nothing
        assert db.version == SCHEMA_VERSION
        assert len(db.case_series(KEY)) == 4


def test_a_newer_database_is_refused_and_left_untouched(results_target):
    with ResultsDB.open(results_target) as db:
        session(db, "s0", T0, result())
        db.backend.write(
            lambda w: w.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION + 1),),
            )
        )
    with pytest.raises(DatabaseError) as caught:
        ResultsDB.open(results_target)
    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 1}, made by a newer assay" in message
    assert f"knows versions up to {SCHEMA_VERSION}" in message
    assert "upgrade assay" in message
    from assay.results.db.backends import connect
    from assay.results.db.schema import version_of

    backend = connect(results_target)
    try:
        assert version_of(backend) == SCHEMA_VERSION + 1
        assert backend.query("SELECT COUNT(*) FROM cases")[0][0] == 1
    finally:
        backend.close()


def test_something_that_is_not_a_results_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', 'banana')")
    with pytest.raises(DatabaseError, match="not an assay results database"):
        ResultsDB.open(path)


def test_a_file_that_is_not_sqlite_is_refused_clearly(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError, match=f"results database {path} is damaged .file is not a"):
        ResultsDB.open(path)


def test_a_server_that_cannot_be_reached_is_named_without_its_password():
    with pytest.raises(DatabaseError) as caught:
        ResultsDB.open("postgresql://me:sekrit@127.0.0.1:1/nothing")
    assert "sekrit" not in str(caught.value)
    assert "postgresql://me:***@127.0.0.1:1/nothing" in str(caught.value)
    assert "cannot connect" in str(caught.value)


def test_a_password_given_in_the_query_is_never_shown():
    with pytest.raises(DatabaseError) as caught:
        ResultsDB.open("postgresql://me@127.0.0.1:1/nothing?password=sekrit")
    assert "sekrit" not in str(caught.value) and "password=***" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgres://u:p%40ss@h:5/db?x=1", "postgres://u:***@h:5/db?x=1"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),  # an unescaped @ in it
        # libpq also takes the password as a parameter of the query
        ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
        (
            "postgresql://h/db?sslmode=require&password=s3&x=1",
            "postgresql://h/db?sslmode=require&password=***&x=1",
        ),
        ("postgresql:///db?PASSWORD=s3cret", "postgresql:///db?PASSWORD=***"),
        ("postgresql://u:p@h1,h2/db?password=q", "postgresql://u:***@h1,h2/db?password=***"),
    ],
)
def test_passwords_are_redacted(url, shown):
    assert redact(url) == shown


def test_sqlite_database_is_in_wal_mode(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsDB.open(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_params_are_stored_as_canonical_json(db):
    session(db, "s0", T0, result(params={"b": "2", "a": "1"}))
    rows = db.backend.query("SELECT params FROM cases")
    assert json.loads(rows[0][0]) == {"a": "1", "b": "2"}
    assert rows[0][0] == '{"a":"1","b":"2"}'


def test_database_in_a_directory_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseError, match="cannot open"):
        ResultsDB.open(Path(blocker) / "sub" / "results.sqlite")


def test_the_series_hash_is_pinned():
    """Recorded history is found again only while the hash of a case's key never changes."""
    import hashlib

    from assay.results.db.records import series_of

    params = {"b": 'q"\n\u00fc\u2028', "a": "1"}
    text = json.dumps(
        ["Stream", sorted(params.items()), "sys:part", "gnu", 2],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    expected = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    assert series_of("Stream", params, "sys", "part", "gnu", 2) == expected
    assert KEY.series == "c7127093dc1cfd2f47b2658cf89f16d3"


def test_case_keys_are_equal_and_hashable_by_value():
    again = CaseKey("Stream", {"threads": "4"}, "sys:part", "gnu", 1)
    assert again == KEY and {KEY: 1}[again] == 1
    assert CaseKey("Stream", {"threads": "4"}, "sys:part", "gnu", 2) != KEY


def test_a_password_quoted_alone_in_a_server_message_is_hidden():
    from assay.results.db.postgres import _pg_message

    url = "postgresql://me:s%40cret@db/r"
    message = _pg_message(ValueError('bad value "s@cret" and s%40cret in ' + url), url)
    assert "cret" not in message
    assert "postgresql://me:***@db/r" in message


def test_processes_that_open_a_new_database_at_once_make_its_schema_once(results_target):
    """Several openers of a database that has no schema yet (two `assay run`s starting
    together): each waits for whichever makes the schema, none fails."""
    import threading

    openers = 6
    barrier = threading.Barrier(openers)
    errors: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            with ResultsDB.open(results_target) as opened:
                assert opened.version == SCHEMA_VERSION
        except BaseException as exc:  # collected: asserted below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(openers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_an_older_session_recorded_late_keeps_the_newest_identity(db):
    newer = result(case_id="new00000", nodes=None)
    newer.name = "Stream[threads=4] renamed"
    session(db, "new", T0 + 10, newer)
    older = result(case_id="old00000", status=Status.FAILED, nodes=None)
    second = result(case_id="old00000", run=2.0, nodes=None)  # (the same batch, older too)
    db.begin_session(SessionRecord(id="old", started=T0))
    db.record("old", T0, [older, repeated(second, 2)])
    (row,) = db.backend.query(
        "SELECT case_id, name, test, params, system, part, env, nodes, last_session,"
        " last_status FROM series"
    )
    assert row == (
        "new00000",
        "Stream[threads=4] renamed",
        "Stream",
        '{"threads":"4"}',
        "sys",
        "part",
        "gnu",
        None,
        "new",
        "passed",
    )
    # and a newer session after both takes over
    session(db, "newest", T0 + 20, result(case_id="c3000000", nodes=None))
    assert db.backend.query("SELECT case_id, name, last_session FROM series") == [
        ("c3000000", "Stream[threads=4] @sys:part+gnu", "newest")
    ]
