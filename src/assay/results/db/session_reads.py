"""Reads of sessions: which are recorded, their cases, metrics, store versions and
comparison verdicts, and the catalogue of every case (the methods of
:class:`~assay.results.db.ResultsDB` that read by session)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from assay.results.db.backends import Backend
from assay.results.db.records import chunks, in_list
from assay.results.db.types import (
    RUN_COLUMNS,
    SESSION_COLUMNS,
    ArtifactUseRow,
    MetricRow,
    Run,
    SeriesInfo,
    SessionRecord,
    session_of,
)


class SessionReads:
    """What the results database says of sessions and their cases."""

    backend: Backend

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
