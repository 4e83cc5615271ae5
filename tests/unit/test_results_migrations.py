"""Schema migrations after version 2, on databases made by the code of the time: real SQLite
files and a real PostgreSQL server (see ``results_target`` in tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from assay.results.db import CaseKey, ResultsDB
from assay.results.db.backends import Writer, connect
from assay.results.db.schema import MIGRATIONS, SCHEMA_VERSION

T0 = 1_800_000_000.0
KEY = CaseKey("Stream", {"threads": "4"}, "sys:part", "gnu", 1)
PARAMS = '{"threads":"4"}'


def _make_version_2(target: str) -> None:
    """A database as assay made it at schema version 2 (its migrations, its meta row)."""
    backend = connect(target)

    def work(w: Writer) -> None:
        for migration in MIGRATIONS[:2]:
            for statement in migration.statements:
                w.execute(statement)
            if migration.backfill is not None:
                migration.backfill(w)
        w.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")

    try:
        backend.write(work)
    finally:
        backend.close()


def _execute(target: str, statements: list[str]) -> None:
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
    else:
        with sqlite3.connect(target) as conn:
            for statement in statements:
                conn.execute(statement)


def _case(session: str, rep: int | None, at: float, run: float) -> list[str]:
    """A passed case of ``session`` with one metric; ``rep`` None: the column's default."""
    col, val = ("rep, ", f"{rep}, ") if rep is not None else ("", "")
    return [
        f"INSERT INTO sessions (id, started, finished, complete, command) VALUES ('{session}',"
        f" {at}, {at + 1}, 1, '[\"assay\"]') ON CONFLICT (id) DO NOTHING",
        f"INSERT INTO cases (session_id, case_id, {col}series, at, name, test, variant, params,"
        f" system, part, env, nodes, status, attempts, duration, timings, run_time) VALUES"
        f" ('{session}', '0000aaaa', {val}'{KEY.series}', {at}, 'Stream[threads=4] @sys:part+gnu',"
        f" 'Stream', 'Stream[threads=4]', '{PARAMS}', 'sys', 'part', 'gnu', 1, 'passed', 1,"
        f" {run}, '{{\"run\":{run}}}', {run})",
        f"INSERT INTO metrics (session_id, case_id, {col}name, series, at, value, unit, verdict)"
        f" VALUES ('{session}', '0000aaaa', {val}'triad', '{KEY.series}', {at}, {run * 10},"
        " 'GB/s', 'pass')",
        f"INSERT INTO artifacts (session_id, case_id, {col}artifact, layer, ref, tree) VALUES"
        f" ('{session}', '0000aaaa', {val}'build', 0, 'solver@{int(run)}', '{'t' * 64}')",
    ]


def test_rep_counts_from_one_after_upgrading_a_version_2_database(results_target):
    _make_version_2(results_target)
    recent = [[T0 + 1, 2.0, 2.0, "old1", 0], [T0, 1.0, 1.0, "old0", 0]]
    _execute(
        results_target,
        # old0: written by the first writer (rep 0); old1: rep 0, then imported again by a
        # later assay (rep 1), so both rows are there; old2: from the column's default.
        _case("old0", 0, T0, 1.0)
        + _case("old1", 0, T0 + 1, 2.0)
        + _case("old1", 1, T0 + 1, 2.0)
        + _case("old2", None, T0 + 2, 3.0)
        + [
            "INSERT INTO series (series, case_id, name, test, params, system, part, env, nodes,"
            " last_at, last_session, last_status, recent) VALUES"
            f" ('{KEY.series}', '0000aaaa', 'Stream[threads=4] @sys:part+gnu', 'Stream',"
            f" '{PARAMS}', 'sys', 'part', 'gnu', 1, {T0 + 1}, 'old1', 'passed',"
            f" '{json.dumps(recent)}')"
        ],
    )
    with ResultsDB.open(results_target) as db:
        assert db.version == SCHEMA_VERSION >= 3
        # every row counts from 1; the duplicate of old1 is gone, nothing else is
        assert [(r.session, r.rep) for r in db.runs(KEY.series)] == [
            ("old0", 1),
            ("old1", 1),
            ("old2", 1),
        ]
        assert [(p.session, p.rep, p.value) for p in db.metric_series(KEY, "triad")] == [
            ("old0", 1, 10.0),
            ("old1", 1, 20.0),
            ("old2", 1, 30.0),
        ]
        assert db.artifacts_of("old1", "0000aaaa") == [("build", 0, "solver@2", "t" * 64)]
        # the durations scheduling reads name the repetition as the cases do
        entries = json.loads(
            db.backend.query("SELECT recent FROM series WHERE series = ?", (KEY.series,))[0][0]
        )
        assert [(e[3], e[4]) for e in entries] == [("old1", 1), ("old0", 1)]
    # a row written without a repetition is the first one
    _execute(results_target, _case("new", None, T0 + 3, 4.0))
    with ResultsDB.open(results_target) as db:
        assert db.version == SCHEMA_VERSION
        assert [(r.session, r.rep) for r in db.runs(KEY.series)][-1] == ("new", 1)
        assert db.artifacts_of("new", "0000aaaa") == [("build", 0, "solver@4", "t" * 64)]
        for table in ("cases", "metrics", "artifacts"):
            rows = db.backend.query(f"SELECT rep FROM {table} WHERE session_id = 'new'")
            assert rows == [(1,)], table


def test_indexes_survive_the_rep_migration(tmp_path):
    target = str(tmp_path / "results.sqlite")
    _make_version_2(target)
    with sqlite3.connect(target) as conn:
        before = sorted(
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        )
    ResultsDB.open(target).close()
    with sqlite3.connect(target) as conn:
        after = sorted(
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        )
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM cases WHERE series = 'x' ORDER BY at"
        ).fetchall()
    assert set(before) < set(after)
    assert {"artifacts_ref", "artifacts_tree"} <= set(after)
    assert "cases_series_at" in str(plan)


def _tables_in_the_file_alone(path: Path, scratch: Path) -> set[str]:
    """The tables a copy of the database file has without its WAL: what is in the file
    itself, not only in its log."""
    shutil.copyfile(path, scratch)
    alone = sqlite3.connect(scratch)
    try:
        return {r[0] for r in alone.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        alone.close()


def test_what_making_or_upgrading_a_database_wrote_is_in_its_file_once_open(tmp_path):
    # The checkpoint at a session's end (which the user waits for) then copies only the
    # session's own pages: the new schema went into the file while the first cases ran.
    path = tmp_path / "results.sqlite"
    db = ResultsDB.open(path)  # new: the whole schema written
    try:
        assert {"meta", "sessions", "cases", "metrics"} <= _tables_in_the_file_alone(
            path, tmp_path / "copy.sqlite"
        )
    finally:
        db.close()
    upgraded = tmp_path / "old.sqlite"
    _make_version_2(str(upgraded))
    db = ResultsDB.open(upgraded)
    try:
        assert db.version == SCHEMA_VERSION
        copy = tmp_path / "copy2.sqlite"
        _tables_in_the_file_alone(upgraded, copy)
        alone = sqlite3.connect(copy)
        try:
            row = alone.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            alone.close()
        assert row == (str(SCHEMA_VERSION),)
    finally:
        db.close()
