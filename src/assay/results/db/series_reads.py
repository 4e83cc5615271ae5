"""Reads of one case's history across sessions: metric and run-time series, verdicts and
durations, what scheduling expects (the methods of :class:`~assay.results.db.ResultsDB`
that read by series)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from assay.results.db import records
from assay.results.db.backends import Backend
from assay.results.db.records import chunks, in_list
from assay.results.db.types import (
    RUN_COLUMNS,
    CaseKey,
    CasePoint,
    Expected,
    MetricPoint,
    MetricValue,
    Run,
)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class SeriesReads:
    """What the results database says of a case (a series) across sessions."""

    backend: Backend

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
        return self._points(sql, params, "m", until, limit)

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
        return self._points(sql, [series], "c", until, limit)

    def _points(
        self,
        sql: str,
        params: list[Any],
        table: Literal["m", "c"],
        until: float | None,
        limit: int | None,
    ) -> list[MetricPoint]:
        """The tail of a series read: rows of ``table`` (the alias of metrics or cases) of
        sessions that started before ``until``, the newest ``limit``, as points oldest
        first."""
        if until is not None:
            sql += f" AND {table}.at < ?"
            params.append(float(until))
        sql += f" ORDER BY {table}.at DESC, {table}.rep DESC"
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
