"""The results database: every session, case, metric, store version and comparison verdict.

An SQLite file in the prefix by default (``.assay/results.sqlite``), or a PostgreSQL
database a team shares (``results = "postgresql://..."`` in a system of the config); the
same schema and the same code for both (see :mod:`assay.results.db.backends`).

Query API (plain data, for history, comparisons and change-point detection)::

    db = ResultsDB.open(".assay/results.sqlite")       # or a postgresql:// URL
    key = CaseKey("Stream", {"threads": "4"}, "cluster:cpu", "gnu", nodes=1)
    db.metric_series(key, "triad")  # -> [MetricPoint(session, time, commit, value, unit, rep)]
    db.case_series(key)             # -> [CasePoint(session, time, status, duration, rep)]
    db.metric_series_of(key.series, "triad")   # the same, by the series' name

Both are ordered oldest first (by the session's start, then repetition); ``limit=N`` keeps
the newest N. ``CaseKey.of(result)`` is the key of a :class:`CaseResult`. The reads live in
:mod:`~assay.results.db.series_reads` (by series) and :mod:`~assay.results.db.session_reads`
(by session); this module opens, writes and closes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from assay.digests import blake2b
from assay.results.db import records
from assay.results.db.backends import Backend, DatabaseError, Writer, connect
from assay.results.db.schema import SCHEMA_VERSION, upgrade, version_of
from assay.results.db.series_reads import SeriesReads
from assay.results.db.session_reads import SessionReads
from assay.results.db.types import (
    SESSION_COLUMNS,
    CaseKey,
    CasePoint,
    Expected,
    MetricPoint,
    MetricRow,
    MetricValue,
    Run,
    SeriesInfo,
    SessionRecord,
    session_row,
)
from assay.results.live import KILLED
from assay.results.model import CaseResult

__all__ = [
    "SCHEMA_VERSION",
    "CaseKey",
    "CasePoint",
    "DatabaseError",
    "Expected",
    "MetricPoint",
    "MetricRow",
    "MetricValue",
    "ResultsDB",
    "Run",
    "SeriesInfo",
    "SessionRecord",
    "redact",
]


def __getattr__(name: str) -> object:
    """``redact`` from :mod:`.postgres`, imported when asked for: an SQLite run (most) does
    not import PostgreSQL's backend (and ``random`` with it) for nothing."""
    if name == "redact":
        from assay.results.db.postgres import redact

        return redact
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def cases_hash(case_ids: Iterable[str]) -> str:
    """Which cases a session ran, as one value: sessions that ran the same cases share it."""
    text = "\n".join(sorted(set(case_ids)))
    return blake2b(text.encode(), digest_size=16).hexdigest()


class ResultsDB(SeriesReads, SessionReads):
    """One open results database (SQLite file or PostgreSQL), at the current schema."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def open(cls, target: str | Path) -> ResultsDB:
        """Open (creating or upgrading in place) the database at ``target``: a file path or a
        ``postgresql://`` URL. A database made by a newer assay is refused."""
        backend = connect(target, make=True)
        try:
            if upgrade(backend) != SCHEMA_VERSION:
                # What the upgrade wrote (an older database's new tables: a new SQLite
                # file is made whole before it has its name, see fresh.py) goes from the
                # log into the file now, while the first cases run, and not with the
                # session's own log (folded in at its end within the API, where the user
                # waits; in the program, by the next recording session: see
                # SqliteBackend.close).
                backend.checkpoint()
        except BaseException:
            backend.close()
            raise
        return cls(backend)

    @property
    def where(self) -> str:
        return self.backend.where

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return version_of(self.backend)

    # -- writing ---------------------------------------------------------------------------

    def begin_session(self, session: SessionRecord, keep_existing: bool = False) -> None:
        """Record a session. Recorded again, its fields are replaced by those given (unless
        ``keep_existing``: then only the ones it lacks are filled in, as an import does, so
        that what a live session recorded, such as its commit, is never lost)."""
        columns = [c.strip() for c in SESSION_COLUMNS.split(",")[1:]]
        if keep_existing:
            updates = ", ".join(
                f"{c} = COALESCE(sessions.{c}, excluded.{c})" for c in columns if c != "complete"
            )
        else:
            updates = ", ".join(f"{c} = COALESCE(excluded.{c}, sessions.{c})" for c in columns)
        sql = (
            f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({', '.join('?' * 19)})"  # noqa: S608
            f" ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        row = session_row(session)
        self.backend.write(lambda w: w.execute(sql, row))

    def record(self, session_id: str, at: float, results: Sequence[CaseResult]) -> None:
        """Write finished cases ((result, repetition) pairs) of a session in one transaction;
        ``at`` is the session's start."""
        items = [records.case_rows(session_id, at, r) for r in results]
        self.backend.write(lambda w: records.write_cases(w, items))

    def record_new(self, session_id: str, at: float, results: Sequence[CaseResult]) -> None:
        """:meth:`record` for cases known not to be recorded yet (a live session's first
        write of each): nothing to replace, so nothing is looked for."""
        items = [records.case_rows(session_id, at, r) for r in results]
        self.backend.write(lambda w: records.write_cases(w, items, replace=False))

    def write_rows(self, items: Sequence[records.CaseRows]) -> None:
        """Write rows made beforehand with :func:`records.case_rows`."""
        self.backend.write(lambda w: records.write_cases(w, items))

    def end_session(
        self,
        session_id: str,
        finished: float | None,
        interrupted: str | None = None,
        eta_first: float | None = None,
        eta_made: float | None = None,
    ) -> None:
        """Mark a session complete: when it ended, why if interrupted, and which cases ran."""

        def work(w: Writer) -> None:
            ids = [
                r[0]
                for r in w.query("SELECT case_id FROM cases WHERE session_id = ?", (session_id,))
            ]
            w.execute(
                "UPDATE sessions SET finished = ?, interrupted = ?, eta_first = ?, eta_made = ?,"
                " cases_hash = ?, complete = 1 WHERE id = ?",
                (finished, interrupted, eta_first, eta_made, cases_hash(ids), session_id),
            )

        self.backend.write(work)

    def mark_killed(self, session_id: str, at: float | None) -> None:
        """Record a session as killed (not complete) at ``at``: when its journal last changed."""
        self.backend.write(
            lambda w: w.execute(
                "UPDATE sessions SET interrupted = ?, finished = ?, complete = 0 WHERE id = ?",
                (KILLED, at, session_id),
            )
        )
