"""The plain values the results database hands out (and the rows of a session)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from assay.results.db.records import series_of
from assay.results.model import CaseResult


class CaseKey(msgspec.Struct, frozen=True):
    """A case across sessions: test, parameter values, ``system:partition``, environment and
    node count. Two sessions' results belong to the same series when their keys are equal."""

    test: str
    params: Mapping[str, str]
    partition: str  # "system:partition"
    environment: str
    nodes: int | None = None

    @classmethod
    def of(cls, result: CaseResult) -> CaseKey:
        return cls(
            result.test,
            dict(result.params),
            f"{result.system}:{result.partition}",
            result.environment,
            result.nodes,
        )

    def __hash__(self) -> int:  # usable as a dict key, though params is a mapping
        return hash(self.series)

    @property
    def series(self) -> str:
        system, _, partition = self.partition.partition(":")
        return series_of(self.test, self.params, system, partition, self.environment, self.nodes)


class ArtifactUseRow(msgspec.Struct, frozen=True, gc=False):
    """A case that used a store version: one layer of one of its artifacts."""

    session: str
    started: float | None  # the session's start
    git_commit: str | None
    complete: bool
    case_id: str
    rep: int
    name: str | None  # the case's name (None: its case row is missing)
    status: str | None
    artifact: str
    layer: int
    ref: str | None  # name@N (None: a layer with no name, such as a dep: layer)
    tree: str


class MetricPoint(msgspec.Struct, frozen=True, gc=False):
    """One recorded value of a metric."""

    session: str
    time: float  # when the case started (else its session), seconds since the epoch
    commit: str | None  # git commit of the tests' repository, when it was one
    value: float
    unit: str | None
    rep: int = 0  # the repetition within its session (--repeat)


class CasePoint(msgspec.Struct, frozen=True, gc=False):
    """One recorded verdict of a case."""

    session: str
    time: float
    status: str  # passed, failed, skipped, aborted
    duration: float | None  # seconds, every stage (and any batch queue wait) included
    rep: int = 0


class Expected(msgspec.Struct, frozen=True, gc=False):
    """What history says a case takes: the median of its recent passes."""

    work: float  # seconds it keeps a slot busy (batch queue wait left out)
    run: float | None  # seconds of its run stage (what a pack plans with)
    samples: int


class SessionRecord(msgspec.Struct):
    """A session as the database keeps it."""

    id: str
    started: float
    finished: float | None = None
    user: str | None = None
    host: str | None = None
    command: list[str] = msgspec.field(default_factory=list)
    cwd: str | None = None
    system: str | None = None
    config: str | None = None
    config_hash: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    version: str | None = None
    directory: str | None = None
    interrupted: str | None = None
    complete: bool = False
    eta_first: float | None = None
    eta_made: float | None = None
    cases_hash: str | None = None


SESSION_COLUMNS = (
    "id, started, finished, user_name, host, command, cwd, system, config, config_hash,"
    " git_commit, git_dirty, assay_version, directory, interrupted, complete, eta_first,"
    " eta_made, cases_hash"
)


def session_row(s: SessionRecord) -> tuple[Any, ...]:
    dirty = None if s.git_dirty is None else int(s.git_dirty)
    return (
        s.id,
        s.started,
        s.finished,
        s.user,
        s.host,
        json.dumps(s.command),
        s.cwd,
        s.system,
        s.config,
        s.config_hash,
        s.git_commit,
        dirty,
        s.version,
        s.directory,
        s.interrupted,
        int(s.complete),
        s.eta_first,
        s.eta_made,
        s.cases_hash,
    )


def session_of(row: Sequence[Any]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        started=row[1],
        finished=row[2],
        user=row[3],
        host=row[4],
        command=json.loads(row[5]) if row[5] else [],
        cwd=row[6],
        system=row[7],
        config=row[8],
        config_hash=row[9],
        git_commit=row[10],
        git_dirty=None if row[11] is None else bool(row[11]),
        version=row[12],
        directory=row[13],
        interrupted=row[14],
        complete=bool(row[15]),
        eta_first=row[16],
        eta_made=row[17],
        cases_hash=row[18],
    )


class SeriesInfo(msgspec.Struct, frozen=True):
    """One case as the catalogue knows it."""

    series: str
    case_id: str
    name: str
    test: str
    params: dict[str, str]
    system: str
    partition: str
    environment: str
    nodes: int | None
    last_at: float | None
    last_status: str | None


NOT_RECORDED = "reason not recorded: assay history --import reads it from the session's report"
"""Why a case was skipped, when it was recorded before the database kept skip reasons
(schema version 4)."""

RUN_COLUMNS = (
    "c.session_id, c.at, COALESCE(c.started, c.at), c.status, c.duration, c.rep,"
    " c.failure_stage, c.failure_reason, c.case_id, c.name, c.series, c.skip_reason"
)


class Run(msgspec.Struct, frozen=True, gc=False):
    """One recorded run of a case."""

    session: str
    at: float  # its session's start: the order of history
    time: float  # when the case started (else at)
    status: str
    duration: float | None
    rep: int
    failure_stage: str | None
    failure_reason: str | None
    case_id: str
    name: str
    series: str
    skip_reason: str | None  # (None: not skipped, or skipped before schema version 4)
    commit: str | None


class MetricRow(msgspec.Struct, frozen=True, gc=False):
    """One metric value of one case of a session, as stored."""

    case_id: str
    rep: int
    name: str
    value: float | None
    unit: str | None


class MetricValue(msgspec.Struct, frozen=True, gc=False):
    """One metric value of one run."""

    session: str
    rep: int
    value: float | None
    unit: str | None
    verdict: str | None
    name: str = ""
