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
the newest N. ``CaseKey.of(result)`` is the key of a :class:`CaseResult`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from assay.results.db import records
from assay.results.db.backends import Backend, DatabaseError, Writer, connect, redact
from assay.results.db.records import chunks, in_list
from assay.results.db.schema import SCHEMA_VERSION, upgrade, version_of
from assay.results.db.types import (
    RUN_COLUMNS,
    SESSION_COLUMNS,
    ArtifactUseRow,
    CaseKey,
    CasePoint,
    Expected,
    MetricPoint,
    MetricRow,
    MetricValue,
    Run,
    SeriesInfo,
    SessionRecord,
    session_of,
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


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def cases_hash(case_ids: Iterable[str]) -> str:
    """Which cases a session ran, as one value: sessions that ran the same cases share it."""
    text = "\n".join(sorted(set(case_ids)))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class ResultsDB:
    """One open results database (SQLite file or PostgreSQL), at the current schema."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def open(cls, target: str | Path) -> ResultsDB:
        """Open (creating or upgrading in place) the database at ``target``: a file path or a
        ``postgresql://`` URL. A database made by a newer assay is refused."""
        backend = connect(target)
        try:
            if upgrade(backend) != SCHEMA_VERSION:
                # What the upgrade wrote (a new database: its whole schema) goes from the
                # log into the file now, while the first cases run, and not in the
                # checkpoint at the session's end, which the user waits for.
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

    # -- the query API ---------------------------------------------------------------------

    def metric_series(
        self, key: CaseKey, metric: str, *, limit: int | None = None
    ) -> list[MetricPoint]:
        """Every recorded value of ``metric`` for the case ``key``, oldest first (the newest
        ``limit`` only, if given). Values that could not be measured are left out."""
        return self.metric_series_of(key.series, metric, limit=limit)

    def metric_series_of(
        self,
        series: str,
        metric: str,
        *,
        limit: int | None = None,
        exclude: str | None = None,
        until: float | None = None,
    ) -> list[MetricPoint]:
        """:meth:`metric_series` by the series' name (``CaseKey.series``); without the
        session ``exclude``, and only of sessions that started before ``until``."""
        sql = (
            "SELECT m.session_id, COALESCE(c.started, m.at), s.git_commit, m.value, m.unit, m.rep"
            " FROM metrics m"
            " JOIN cases c ON c.session_id = m.session_id AND c.case_id = m.case_id"
            " AND c.rep = m.rep"
            " LEFT JOIN sessions s ON s.id = m.session_id"
            " WHERE m.series = ? AND m.name = ? AND m.value IS NOT NULL"
        )
        params: list[Any] = [series, metric]
        if exclude is not None:
            sql += " AND m.session_id <> ?"
            params.append(exclude)
        if until is not None:
            sql += " AND m.at < ?"
            params.append(float(until))
        sql += " ORDER BY m.at DESC, m.rep DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = self.backend.query(sql, params)
        return [MetricPoint(*row) for row in reversed(rows)]

    def run_time_series(
        self, series: str, *, limit: int | None = None, until: float | None = None
    ) -> list[MetricPoint]:
        """The run stage's seconds of a series' passed runs (unit ``s``), oldest first (the
        newest ``limit``), only of sessions that started before ``until``: a run time's
        history, read as a metric's."""
        sql = (
            "SELECT c.session_id, COALESCE(c.started, c.at), s.git_commit, c.run_time, 's',"
            " c.rep FROM cases c LEFT JOIN sessions s ON s.id = c.session_id"
            " WHERE c.series = ? AND c.status = 'passed' AND c.run_time IS NOT NULL"
        )
        params: list[Any] = [series]
        if until is not None:
            sql += " AND c.at < ?"
            params.append(float(until))
        sql += " ORDER BY c.at DESC, c.rep DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = self.backend.query(sql, params)
        return [MetricPoint(*row) for row in reversed(rows)]

    def session_run_times(self, session_id: str) -> list[tuple[str, int, float]]:
        """(case id, repetition, seconds of the run stage) of a session's passed cases."""
        rows = self.backend.query(
            "SELECT case_id, rep, run_time FROM cases WHERE session_id = ?"
            " AND status = 'passed' AND run_time IS NOT NULL ORDER BY case_id, rep",
            (session_id,),
        )
        return [(str(c), int(r), float(t)) for c, r, t in rows]

    def case_series(self, key: CaseKey, *, limit: int | None = None) -> list[CasePoint]:
        """Every recorded verdict and duration of the case ``key``, oldest first."""
        return [
            CasePoint(r.session, r.time, r.status, r.duration, r.rep)
            for r in self.runs(key.series, limit)
        ]

    def metric_names(self, key: CaseKey) -> list[str]:
        """The metrics ever recorded for ``key``."""
        rows = self.backend.query(
            "SELECT DISTINCT name FROM metrics WHERE series = ? ORDER BY name", (key.series,)
        )
        return [r[0] for r in rows]

    # -- reads for scheduling, --failed, history and compare -------------------------------

    def expected(self, series: Sequence[str]) -> dict[str, Expected]:
        """For each series with recorded passes: the median of its recent ones."""
        out: dict[str, Expected] = {}
        names = sorted(set(series))
        for part in chunks(names):
            marks, params = in_list(part)
            rows = self.backend.query(
                f"SELECT series, recent FROM series WHERE series IN ({marks})",  # noqa: S608
                params,
            )
            for name, recent in rows:
                entries = records.decode_recent(recent)
                if not entries:
                    continue
                runs = [e[2] for e in entries if e[2] is not None]
                out[name] = Expected(
                    _median([e[1] for e in entries]),
                    _median(runs) if runs else None,
                    len(entries),
                )
        return out

    def failed_case_ids(self) -> list[str]:
        """Ids of the cases whose last verdict was a failure (or an abort), in name order."""
        rows = self.backend.query(
            "SELECT case_id FROM series WHERE last_status IN ('failed', 'aborted') ORDER BY name"
        )
        return list(dict.fromkeys(r[0] for r in rows))

    def known_sessions(self, ids: Sequence[str]) -> dict[str, bool]:
        """Which of ``ids`` are recorded, and whether each is complete."""
        return {k: v[0] for k, v in self.session_states(ids).items()}

    def session_states(
        self, ids: Sequence[str]
    ) -> dict[str, tuple[bool, str | None, float | None]]:
        """Which of ``ids`` are recorded: whether each is complete, why it was interrupted
        and when it finished."""
        found: dict[str, tuple[bool, str | None, float | None]] = {}
        for part in chunks(list(ids)):
            marks, params = in_list(part)
            rows = self.backend.query(
                f"SELECT id, complete, interrupted, finished FROM sessions WHERE id IN ({marks})",  # noqa: S608
                params,
            )
            found.update((r[0], (bool(r[1]), r[2], r[3])) for r in rows)
        return found

    def session(self, session_id: str) -> SessionRecord | None:
        rows = self.backend.query(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?",  # noqa: S608
            (session_id,),
        )
        return session_of(rows[0]) if rows else None

    def sessions(self, limit: int = 20, complete_only: bool = False) -> list[SessionRecord]:
        """The newest sessions, newest first."""
        where = " WHERE complete = 1" if complete_only else ""
        rows = self.backend.query(
            f"SELECT {SESSION_COLUMNS} FROM sessions{where} ORDER BY started DESC, id DESC"  # noqa: S608
            " LIMIT ?",
            (limit,),
        )
        return [session_of(r) for r in rows]

    def find_sessions(self, prefix: str) -> list[str]:
        """Ids of the sessions whose id starts with ``prefix`` (at most a few)."""
        # substr, not a range or LIKE: no collation, no wildcard, the same in both databases
        rows = self.backend.query(
            "SELECT id FROM sessions WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 10",
            (len(prefix), prefix),
        )
        return [r[0] for r in rows]

    def previous_with_cases(self, session: SessionRecord) -> SessionRecord | None:
        """The newest complete session before ``session`` that ran the same cases, else the
        newest before it that shares any case with it."""
        rows = self.backend.query(
            f"SELECT {SESSION_COLUMNS} FROM sessions"  # noqa: S608
            " WHERE cases_hash = ? AND complete = 1 AND id <> ? AND started <= ?"
            " ORDER BY started DESC, id DESC LIMIT 1",
            (session.cases_hash, session.id, session.started),
        )
        if rows:
            return session_of(rows[0])
        rows = self.backend.query(
            f"SELECT {SESSION_COLUMNS} FROM sessions s"  # noqa: S608
            " WHERE s.complete = 1 AND s.id <> ? AND s.started <= ? AND EXISTS ("
            "   SELECT 1 FROM cases a JOIN cases b ON b.case_id = a.case_id"
            "   WHERE a.session_id = ? AND b.session_id = s.id)"
            " ORDER BY s.started DESC, s.id DESC LIMIT 1",
            (session.id, session.started, session.id),
        )
        return session_of(rows[0]) if rows else None

    def catalogue(self) -> list[SeriesInfo]:
        """Every case ever recorded (one entry per series), in name order."""
        rows = self.backend.query(
            "SELECT series, case_id, name, test, params, system, part, env, nodes, last_at,"
            " last_status FROM series ORDER BY name, series"
        )
        return [
            SeriesInfo(
                r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8], r[9], r[10]
            )
            for r in rows
        ]

    def runs(self, series: str, limit: int | None = None) -> list[Run]:
        """A series' recorded runs, oldest first (the newest ``limit``)."""
        sql = (
            f"SELECT {RUN_COLUMNS}, s.git_commit FROM cases c"  # noqa: S608
            " LEFT JOIN sessions s ON s.id = c.session_id"
            " WHERE c.series = ? ORDER BY c.at DESC, c.rep DESC"
        )
        params: list[Any] = [series]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [Run(*row) for row in reversed(self.backend.query(sql, params))]

    def recent_runs(self, series: Sequence[str], limit: int) -> dict[str, list[Run]]:
        """The newest ``limit`` runs of each series, oldest first. PostgreSQL answers all
        series in one query (a round trip each would cost more than the work); SQLite,
        in-process, one index range each."""
        if self.backend.dialect != "postgresql":
            return {name: self.runs(name, limit) for name in series}
        rows = self.backend.query(
            f"SELECT {RUN_COLUMNS}, s.git_commit FROM unnest(?::text[]) AS k(series)"  # noqa: S608
            " CROSS JOIN LATERAL (SELECT * FROM cases c WHERE c.series = k.series"
            " ORDER BY c.at DESC, c.rep DESC LIMIT ?) c"
            " LEFT JOIN sessions s ON s.id = c.session_id",
            (list(series), int(limit)),
        )
        out: dict[str, list[Run]] = {name: [] for name in series}
        for row in rows:
            run = Run(*row)
            out[run.series].append(run)
        for runs in out.values():
            runs.sort(key=lambda r: (r.at, r.rep))
        return out

    def run_metrics(self, runs: Sequence[Run]) -> dict[tuple[str, str, int], list[MetricValue]]:
        """The metrics of the given runs, by (session, case id, repetition), in name order."""
        found: dict[tuple[str, str, int], list[MetricValue]] = {}
        pairs = sorted({(r.session, r.case_id) for r in runs})
        if self.backend.dialect == "postgresql":
            rows = self.backend.query(
                "SELECT m.session_id, m.case_id, m.rep, m.name, m.value, m.unit, m.verdict"
                " FROM unnest(?::text[], ?::text[]) AS k(session_id, case_id)"
                " JOIN metrics m ON m.session_id = k.session_id AND m.case_id = k.case_id",
                ([p[0] for p in pairs], [p[1] for p in pairs]),
            )
        else:
            rows = []
            by_case: dict[str, list[str]] = {}
            for session, case_id in pairs:
                by_case.setdefault(case_id, []).append(session)
            for case_id, sessions in by_case.items():
                for part in chunks(sessions):
                    marks, params = in_list(part)
                    rows += self.backend.query(
                        "SELECT session_id, case_id, rep, name, value, unit, verdict"  # noqa: S608
                        f" FROM metrics WHERE session_id IN ({marks}) AND case_id = ?",
                        [*params, case_id],
                    )
        for session, case_id, rep, name, value, unit, verdict in sorted(rows, key=lambda r: r[3]):
            found.setdefault((session, case_id, rep), []).append(
                MetricValue(session, rep, value, unit, verdict, name)
            )
        return found

    def session_cases(self, session_id: str) -> list[Run]:
        """The cases of one session, in name order."""
        rows = self.backend.query(
            f"SELECT {RUN_COLUMNS}, NULL FROM cases c"  # noqa: S608
            " WHERE c.session_id = ? ORDER BY c.name, c.rep",
            (session_id,),
        )
        return [Run(*row) for row in rows]

    def session_metrics(self, session_id: str) -> list[MetricRow]:
        """Every metric value of a session."""
        rows = self.backend.query(
            "SELECT case_id, rep, name, value, unit FROM metrics WHERE session_id = ?"
            " ORDER BY case_id, rep, name",
            (session_id,),
        )
        return [MetricRow(*r) for r in rows]

    def artifacts_of(self, session_id: str, case_id: str) -> list[tuple[str, int, str | None, str]]:
        """(artifact, layer, name@N or None, tree) a case of a session used."""
        rows = self.backend.query(
            "SELECT artifact, layer, ref, tree FROM artifacts WHERE session_id = ? AND case_id = ?"
            " ORDER BY artifact, layer",
            (session_id, case_id),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def artifact_uses(self, refs: Sequence[str], trees: Sequence[str]) -> list[ArtifactUseRow]:
        """Every recorded use of a store version named one of ``refs`` or of a tree among
        ``trees``, oldest session first."""
        found: list[ArtifactUseRow] = []
        for column, values in (("ref", refs), ("tree", trees)):
            for part in chunks(sorted(set(values))):
                marks, params = in_list(part)
                rows = self.backend.query(
                    "SELECT a.session_id, s.started, s.git_commit, s.complete, a.case_id, a.rep,"  # noqa: S608 - ours
                    " c.name, c.status, a.artifact, a.layer, a.ref, a.tree FROM artifacts a"
                    " LEFT JOIN sessions s ON s.id = a.session_id"
                    " LEFT JOIN cases c ON c.session_id = a.session_id"
                    " AND c.case_id = a.case_id AND c.rep = a.rep"
                    f" WHERE a.{column} IN ({marks})",
                    params,
                )
                found += [ArtifactUseRow(r[0], r[1], r[2], bool(r[3]), *r[4:]) for r in rows]
        unique = {(u.session, u.case_id, u.rep, u.artifact, u.layer): u for u in found}
        return sorted(
            unique.values(),
            key=lambda u: (u.started or 0.0, u.session, u.name or "", u.rep, u.artifact, u.layer),
        )

    def recorded_trees(self, prefix: str) -> list[str]:
        """The trees recorded cases used whose hash starts with ``prefix``."""
        rows = self.backend.query(
            "SELECT DISTINCT tree FROM artifacts WHERE substr(tree, 1, ?) = ? ORDER BY tree",
            (len(prefix), prefix),
        )
        return [r[0] for r in rows]

    def comparisons_of(self, session_id: str, case_id: str) -> list[dict[str, Any]]:
        rows = self.backend.query(
            "SELECT detail FROM comparisons WHERE session_id = ? AND case_id = ? ORDER BY idx",
            (session_id, case_id),
        )
        return [json.loads(r[0]) for r in rows]
