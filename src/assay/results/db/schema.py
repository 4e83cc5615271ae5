"""The tables of the results database and the versioned migrations between them.

A new database is made by running every migration from version 1, so the path an old
database takes to the present is the one every new database takes too. The version lives
in ``meta`` (``schema_version``); a database newer than this assay knows is refused.

The SQL here is the common part of SQLite and PostgreSQL: ``TEXT``, ``INTEGER``,
``DOUBLE PRECISION`` (SQLite reads it as REAL), no ``AUTOINCREMENT`` or ``SERIAL``,
booleans as 0/1. Times are seconds since the epoch. ``params`` and ``timings`` are JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.results.db.backends import Backend, DatabaseError, Writer

SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Migration:
    """The step from ``version - 1`` to ``version``: statements, then an optional backfill."""

    version: int
    statements: Sequence[str]
    backfill: Callable[[Writer], None] | None = field(default=None)


_V1 = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # One row per session (an `assay run`, or a session directory imported).
    """CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        started DOUBLE PRECISION NOT NULL,
        finished DOUBLE PRECISION,
        user_name TEXT,
        host TEXT,
        command TEXT,
        cwd TEXT,
        system TEXT,
        config TEXT,
        config_hash TEXT,
        git_commit TEXT,
        git_dirty INTEGER,
        assay_version TEXT,
        directory TEXT,
        interrupted TEXT,
        cases_hash TEXT,
        complete INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX sessions_started ON sessions (started)",
    "CREATE INDEX sessions_cases_hash ON sessions (cases_hash, started)",
    # One row per case of a session (per repetition: rep). `series` names the case across
    # sessions (test, params, system:partition, environment, nodes); `at` is the session's
    # start, the order of history.
    """CREATE TABLE cases (
        session_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        rep INTEGER NOT NULL DEFAULT 0,
        series TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        name TEXT NOT NULL,
        test TEXT NOT NULL,
        variant TEXT,
        params TEXT NOT NULL,
        system TEXT NOT NULL,
        part TEXT NOT NULL,
        env TEXT NOT NULL,
        nodes INTEGER,
        status TEXT NOT NULL,
        failure_stage TEXT,
        failure_reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        started DOUBLE PRECISION,
        finished DOUBLE PRECISION,
        duration DOUBLE PRECISION,
        queue_wait DOUBLE PRECISION,
        timings TEXT,
        PRIMARY KEY (session_id, case_id, rep)
    )""",
    "CREATE INDEX cases_series ON cases (series, at)",
    """CREATE TABLE metrics (
        session_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        rep INTEGER NOT NULL DEFAULT 0,
        name TEXT NOT NULL,
        series TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        value DOUBLE PRECISION,
        unit TEXT,
        reference DOUBLE PRECISION,
        lower_rel DOUBLE PRECISION,
        upper_rel DOUBLE PRECISION,
        low_bound DOUBLE PRECISION,
        high_bound DOUBLE PRECISION,
        verdict TEXT,
        PRIMARY KEY (session_id, case_id, rep, name)
    )""",
    "CREATE INDEX metrics_series ON metrics (series, name, at)",
]

_V2 = [
    # The store versions a case used: one row per layer of each artifact (name@N when the
    # layer is a named version, and the tree it had).
    """CREATE TABLE artifacts (
        session_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        rep INTEGER NOT NULL DEFAULT 0,
        artifact TEXT NOT NULL,
        layer INTEGER NOT NULL,
        ref TEXT,
        tree TEXT NOT NULL,
        PRIMARY KEY (session_id, case_id, rep, artifact, layer)
    )""",
    # Verdicts of output comparisons (suites, out.compare).
    """CREATE TABLE comparisons (
        session_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        rep INTEGER NOT NULL DEFAULT 0,
        idx INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        summary TEXT,
        detail TEXT,
        PRIMARY KEY (session_id, case_id, rep, idx)
    )""",
    # Every case ever seen, with what scheduling and --failed need at hand: its last verdict
    # and its recent durations (JSON [[at, duration, run], ...], newest first, of passes).
    """CREATE TABLE series (
        series TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        name TEXT NOT NULL,
        test TEXT NOT NULL,
        params TEXT NOT NULL,
        system TEXT NOT NULL,
        part TEXT NOT NULL,
        env TEXT NOT NULL,
        nodes INTEGER,
        last_at DOUBLE PRECISION,
        last_session TEXT,
        last_status TEXT,
        recent TEXT NOT NULL DEFAULT '[]'
    )""",
    # History reads the newest N runs of a series: ordered by the index, repetitions too.
    "DROP INDEX cases_series",
    "CREATE INDEX cases_series_at ON cases (series, at, rep)",
    "DROP INDEX metrics_series",
    "CREATE INDEX metrics_series_at ON metrics (series, name, at, rep)",
    # Session directories that could not be imported (a damaged report): not tried again
    # unless asked (`assay history --import`).
    """CREATE TABLE import_failures (
        id TEXT PRIMARY KEY,
        directory TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    "ALTER TABLE cases ADD COLUMN run_time DOUBLE PRECISION",
    "ALTER TABLE sessions ADD COLUMN eta_first DOUBLE PRECISION",
    "ALTER TABLE sessions ADD COLUMN eta_made DOUBLE PRECISION",
]


def _backfill_series(writer: Writer) -> None:
    """Version 1 had no series table: derive it from the cases recorded so far."""
    from assay.results.db.records import SeriesUpdate, merge_series

    rows = writer.query(
        "SELECT series, case_id, name, test, params, system, part, env, nodes, at, session_id,"
        " status, duration, queue_wait, timings, rep FROM cases"
    )
    updates = []
    for row in rows:
        duration, queued, timings, rep = row[12], row[13], row[14], row[15]
        work = None if duration is None else max(0.0, duration - (queued or 0.0))
        run = json.loads(timings).get("run") if timings else None
        series, case_id, name, test, params, system, part, env, nodes, at, session, status = row[
            :12
        ]
        updates.append(
            SeriesUpdate(
                series,
                case_id,
                name,
                test,
                params,
                system,
                part,
                env,
                nodes,
                at,
                session,
                status,
                work,
                run,
                rep,
            )
        )
    merge_series(writer, updates)


_V3 = [
    # `assay store why`: the cases that used a version (by name) or a tree.
    "CREATE INDEX artifacts_ref ON artifacts (ref)",
    "CREATE INDEX artifacts_tree ON artifacts (tree)",
]

_V4 = [
    # Why a skipped case was skipped (a partition without the nodes, its command's exit
    # code in skip_exit_codes, a dependency's failure, --exit-first): `assay compare` and
    # `assay history` say it. Cases recorded before have none (NULL); `assay history
    # --import` records it from their session directories' reports.
    "ALTER TABLE cases ADD COLUMN skip_reason TEXT",
]

# Tables with a repetition column (``rep``): cases, and what belongs to one of its runs.
_REP_TABLES = ("metrics", "artifacts", "comparisons", "cases")


def _rep_from_one(writer: Writer) -> None:
    """Version 3: repetitions count from 1, as assay has written them since --repeat.

    The first writer (version 1) wrote 0 and the column's default was 0. A row of 0 whose
    case has a row of 1 in the same session (the session imported again by a later assay)
    is that row's older copy and goes; the others become 1, in the per-case durations too.
    The default becomes 1: PostgreSQL alters it, SQLite rebuilds the tables (it cannot)."""
    for table in _REP_TABLES:
        writer.execute(
            f"DELETE FROM {table} WHERE rep = 0 AND EXISTS (SELECT 1 FROM cases c"  # noqa: S608 - ours
            f" WHERE c.session_id = {table}.session_id AND c.case_id = {table}.case_id"
            " AND c.rep = 1)"
        )
    for table in _REP_TABLES:
        writer.execute(f"UPDATE {table} SET rep = 1 WHERE rep = 0")  # noqa: S608 - ours
    _recent_from_one(writer)
    if writer.dialect == "postgresql":
        for table in _REP_TABLES:
            writer.execute(f"ALTER TABLE {table} ALTER COLUMN rep SET DEFAULT 1")
    else:
        for table in _REP_TABLES:
            _sqlite_rebuild(
                writer, table, "rep INTEGER NOT NULL DEFAULT 0", "rep INTEGER NOT NULL DEFAULT 1"
            )


def _recent_from_one(writer: Writer) -> None:
    """Durations in ``series.recent`` name their run by (session, rep): 0 becomes 1."""
    changed = []
    for series, recent in writer.query("SELECT series, recent FROM series"):
        entries = json.loads(recent)
        if not any(e[4] == 0 for e in entries):
            continue
        kept: dict[tuple[str, int], list[Any]] = {}
        for entry in entries:  # newest first: of two copies of a run, the first is kept
            entry[4] = entry[4] or 1
            kept.setdefault((entry[3], entry[4]), entry)
        changed.append((json.dumps(list(kept.values()), separators=(",", ":")), series))
    writer.executemany("UPDATE series SET recent = ? WHERE series = ?", changed)


def _sqlite_rebuild(writer: Writer, table: str, old: str, new: str) -> None:
    """Change a column's definition in SQLite: a new table with the changed definition, the
    rows copied, the old table dropped, the new one renamed and the indexes made again (the
    procedure of SQLite's ALTER TABLE documentation; in the caller's transaction)."""
    sql = writer.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    text = sql[0][0]
    if old not in text:
        raise DatabaseError(f"results database: table {table} lacks {old!r}: {text}")
    indexes = writer.query(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    )
    temporary = f"{table}_v3"
    body = text.split("(", 1)[1]
    writer.execute(f"CREATE TABLE {temporary} (" + body.replace(old, new))
    writer.execute(f"INSERT INTO {temporary} SELECT * FROM {table}")  # noqa: S608 - ours
    writer.execute(f"DROP TABLE {table}")
    writer.execute(f"ALTER TABLE {temporary} RENAME TO {table}")
    for (index,) in indexes:
        writer.execute(index)


MIGRATIONS = [
    Migration(1, _V1),
    Migration(2, _V2, _backfill_series),
    Migration(3, _V3, _rep_from_one),
    Migration(4, _V4),
]
assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def version_of(backend: Backend) -> int:
    """The schema version of an open database (0: nothing there yet)."""
    if not _has_meta(backend):
        return 0
    rows = backend.query("SELECT value FROM meta WHERE key = ?", ("schema_version",))
    try:
        return int(rows[0][0]) if rows else 0
    except ValueError:
        raise DatabaseError(
            f"results database {backend.where}: schema_version {rows[0][0]!r} is not a number; "
            "this is not an assay results database (or it is damaged)"
        ) from None


# Whether the meta table exists, read from the catalog as a query (the statement's snapshot
# sees what another upgrade committed while this one waited for the write lock);
# to_regclass() reads the backend's catalog cache, which an advisory lock does not refresh.
PG_HAS_META = (
    "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relname = 'meta' AND n.nspname = current_schema()"
)


def _has_meta(backend: Backend) -> bool:
    if backend.dialect == "sqlite":
        rows = backend.query("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'")
    else:
        rows = backend.query(PG_HAS_META)
    return bool(rows)


def upgrade(backend: Backend) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; return the version it had.

    Runs in one write transaction (writers are serialised), so processes opening a new
    database at once make it once. A newer database is refused, untouched.
    """
    found = version_of(backend)
    _refuse_newer(backend, found)
    if found == SCHEMA_VERSION:
        return found

    def work(writer: Writer) -> int:
        now = _version_in(writer)  # another process may have upgraded it meanwhile
        _refuse_newer(backend, now)
        for migration in MIGRATIONS[now:]:
            for statement in migration.statements:
                writer.execute(statement)
            if migration.backfill is not None:
                migration.backfill(writer)
        if now == 0:
            writer.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", ("0",))
        writer.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
        return now

    return backend.write(work)


def _version_in(writer: Writer) -> int:
    if writer.dialect == "sqlite":
        has = writer.query("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'")
    else:
        has = writer.query(PG_HAS_META)
    if not has:
        return 0
    rows = writer.query("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(rows[0][0]) if rows else 0


def _refuse_newer(backend: Backend, found: int) -> None:
    if found > SCHEMA_VERSION:
        from assay._version import __version__

        raise DatabaseError(
            f"results database {backend.where} has schema version {found}, made by a newer "
            f"assay; this assay ({__version__}) knows versions up to {SCHEMA_VERSION} and "
            "leaves it untouched",
            hint="upgrade assay, or point `results` in the config at another database",
        )
