"""The results database as a :class:`~assay.results.series.HistorySource`, and the choice
of history a session is held against: the database when there is one, else the session
directories of its prefix."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from assay.results.changes import Point
from assay.results.db import DatabaseError, ResultsDB
from assay.results.db.backends import as_written
from assay.results.db.types import CaseKey
from assay.results.model import CaseResult
from assay.results.recorder import open_database
from assay.results.series import HistorySource, SessionDirs

# The newest samples of a series that are read (detection's max_points is at most this).
LIMIT = 1000


class DatabaseHistory:
    """History read from a results database: every recorded sample of a case's series (the
    same test, parameters, system, partition, environment and node count), oldest first.

    ``exclude`` and ``until`` mean what they mean for
    :class:`~assay.results.series.SessionDirs`: the session itself is left out, and only
    sessions that started before ``until`` count."""

    def __init__(
        self,
        db: ResultsDB,
        exclude: str | None = None,
        until: float | None = None,
        limit: int = LIMIT,
    ) -> None:
        self.db = db
        self.exclude = exclude
        self.until = until
        self.limit = limit

    def metric_series(self, case: CaseResult, metric: str) -> list[Point]:
        with as_written(self.db.where):  # (values of the types assay wrote, checked here)
            found = self.db.metric_series_of(
                CaseKey.of(case).series,
                metric,
                limit=self.limit,
                exclude=self.exclude,
                until=self.until,
            )
            return [
                Point(p.session, float(p.time), p.commit, float(p.value), p.unit) for p in found
            ]


@contextlib.contextmanager
def open_history(
    target: str | None,
    prefix: Path,
    warn: Callable[[str], None],
    exclude: str | None = None,
    until: float | None = None,
) -> Iterator[HistorySource]:
    """The history to hold a session against: the database at ``target`` (which imports the
    session directories it lacks), else, when there is none (``results = "none"``) or it
    cannot be opened (said with ``warn``), the session directories under ``prefix``."""
    db = None
    if target is not None:
        try:
            db = open_database(target, prefix)
        except DatabaseError as exc:
            warn(f"{exc.message}; history is read from the session directories instead")
    if db is None:
        yield SessionDirs(prefix, exclude=exclude, until=until)
        return
    try:
        yield DatabaseHistory(db, exclude, until)
    finally:
        with contextlib.suppress(Exception):
            db.close()
