"""Where a metric's history comes from: the :class:`HistorySource` protocol, and its
implementation over the session directories a prefix already holds.

A series is every value one case's metric had, oldest first, one :class:`Point` per sample
(a session run with ``--repeat`` gives several points of one session). Its key is the
case's test and parameter values, system, partition, environment and node count, and the
metric: the results database names it ``CaseKey.series``; here, the case id (a hash of
its name: test, parameters, system, partition, environment) and the node count. The
results database's implementation is :class:`assay.results.db.source.DatabaseHistory`.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeGuard

from assay.results.changes import Point
from assay.results.model import CaseResult


class HistorySource(Protocol):
    """Earlier values of metrics."""

    def metric_series(self, case: CaseResult, metric: str) -> list[Point]:
        """The values ``metric`` of ``case`` had in earlier sessions, oldest first."""
        ...


class SessionDirs:
    """History read from ``PREFIX/runs/*/report.json`` (the newest ``limit`` sessions).

    Reports that cannot be read (a session killed before it wrote one, a damaged file)
    are left out. The history of session ``exclude`` is what came before it: not its own
    report (from an earlier attempt of ``--resume``), and only sessions that started before
    ``until`` (its start), so that an old session's report shows the history it had.
    Sessions are ordered by their start time: two started in one second have ids that do
    not sort by time.
    """

    def __init__(
        self,
        prefix: Path,
        exclude: str | None = None,
        until: float | None = None,
        limit: int = 200,
    ) -> None:
        self.prefix = prefix
        self.exclude = exclude
        self.until = until
        self.limit = limit
        self._index: dict[tuple[str, str], list[tuple[int | None, Point]]] | None = None
        self.sessions: list[str] = []  # the sessions read, oldest first

    def metric_series(self, case: CaseResult, metric: str) -> list[Point]:
        if self._index is None:
            self._index = self._load()
        # A report from before node counts were recorded has none: it counts for any.
        return [
            point
            for nodes, point in self._index.get((case.id, metric), ())
            if nodes is None or case.nodes is None or nodes == case.nodes
        ]

    def _load(self) -> dict[tuple[str, str], list[tuple[int | None, Point]]]:
        index: dict[tuple[str, str], list[tuple[int | None, Point]]] = {}
        for session_id, when, data in self._reports():
            self.sessions.append(session_id)
            info = data.get("session")
            commit = _commit(info) if isinstance(info, dict) else None
            for case in data.get("cases") or ():
                if not isinstance(case, dict) or not isinstance(case.get("id"), str):
                    continue
                nodes = case.get("nodes")
                nodes = nodes if isinstance(nodes, int) and not isinstance(nodes, bool) else None
                for m in case.get("metrics") or ():
                    value = m.get("value") if isinstance(m, dict) else None
                    if _number(value):
                        unit = m.get("unit") if isinstance(m.get("unit"), str) else None
                        point = Point(session_id, when, commit, float(value), unit)
                        key = (case["id"], str(m.get("name")))
                        index.setdefault(key, []).append((nodes, point))
        return index

    def _reports(self) -> list[tuple[str, float | None, dict[str, Any]]]:
        runs = self.prefix / "runs"
        try:
            names = sorted(n for n in os.listdir(runs) if not n.startswith("."))
        except OSError:
            return []
        found = []
        for name in names[-self.limit :] if self.limit else []:
            if name == self.exclude:
                continue
            try:
                data = json.loads((runs / name / "report.json").read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
                continue
            info = data.get("session")
            when = _epoch(info.get("started")) if isinstance(info, dict) else None
            if self.until is not None and (when is None or when >= self.until):
                continue
            found.append((name, when, data))
        found.sort(key=lambda f: (f[1] if f[1] is not None else -math.inf, f[0]))
        return found


def _number(value: Any) -> TypeGuard[float]:
    """A value a run can have produced: a finite number (json reads NaN and Infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _commit(info: dict[str, Any]) -> str | None:
    """The tests' git commit, where the session recorded one."""
    git = info.get("git")
    commit = git.get("commit") if isinstance(git, dict) else info.get("commit")
    return commit if isinstance(commit, str) and commit else None
