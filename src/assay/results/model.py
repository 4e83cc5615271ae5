"""What a run produces: one :class:`CaseResult` per case, gathered in a :class:`Session`."""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from assay.terminal import storable


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ABORTED = "aborted"


class Failure(msgspec.Struct):
    """Why a case failed: the stage, one line of reason, and optional detail. Both are cut
    (:data:`MAX_REASON`, :data:`MAX_DETAILS` characters): test code may raise an exception
    whose message is a whole output, which would otherwise be printed and stored whole
    (three times in the summary)."""

    stage: str
    reason: str
    details: str | None = None

    def __post_init__(self) -> None:
        # Lone surrogates escaped: no encoder of the journal, report or database takes them.
        self.reason = storable(cut_text(self.reason, MAX_REASON)) or NO_REASON
        if self.details is not None:
            self.details = storable(cut_text(self.details, MAX_DETAILS))


NO_REASON = "(no reason given)"
"""The reason of a failure whose reason was empty (every reader shows its first line)."""

NOT_STARTED = "interrupted before it started"
"""The reason of a case that was still waiting for its turn when the run was interrupted."""

COMPARED_ANYWAY = "outputs (compared anyway)"
"""How the details of a case whose exit code was not accepted start when its outputs were
compared all the same: to show the difference, not to decide the verdict."""

MAX_REASON = 16 * 1024
MAX_DETAILS = 256 * 1024


def cut_text(text: str, cap: int) -> str:
    """``text`` if it is at most ``cap`` characters, else its start and how much is left
    out, ``cap`` characters in all (cutting it again changes nothing)."""
    if len(text) <= cap:
        return text
    keep = cap - 40  # (the note below is at most 40 characters)
    return f"{text[:keep]}... ({len(text) - keep:,} more characters)"


class MetricResult(msgspec.Struct):
    """A measured figure of merit and how it compares with its reference."""

    name: str
    value: float | None
    unit: str | None
    reference: float | None = None
    lower: float | None = None
    upper: float | None = None
    low_bound: float | None = None
    high_bound: float | None = None
    verdict: str = "no reference"  # "pass", "fail", "no reference", "error"
    message: str | None = None
    better: str | None = None  # "higher" or "lower" when the test declares it
    lower_abs: float | None = None
    upper_abs: float | None = None


class GitState(msgspec.Struct):
    """The commit checked out in the tests' repository, and whether tracked files differed
    from it (None: git could not say)."""

    commit: str
    dirty: bool | None = None


SOURCES = "(sources)"
"""The artifact name a case's sources are recorded under (no artifact can have it): one
layer per source, with the tree the store gives it."""


class ArtifactUse(msgspec.Struct):
    """One layer of an artifact a case used: the store version (``name@N``) when the layer
    is a named version, and the tree it had."""

    artifact: str
    layer: int
    ref: str | None
    tree: str


class CaseResult(msgspec.Struct):
    """The outcome of one case (after retries)."""

    name: str
    id: str
    test: str
    variant: str
    params: dict[str, str]
    system: str
    partition: str
    environment: str
    status: Status
    tags: list[str] = msgspec.field(default_factory=list)
    file: str | None = None
    line: int | None = None
    failure: Failure | None = None
    skip_reason: str | None = None
    timings: dict[str, float] = msgspec.field(default_factory=dict)
    metrics: list[MetricResult] = msgspec.field(default_factory=list)
    attempts: int = 0
    earlier_failures: list[Failure] = msgspec.field(default_factory=list)
    exit_code: int | None = None
    job_id: str | None = None
    hosts: str | None = None  # where the job ran, as its scheduler names nodes (Slurm)
    stage_dir: str | None = None
    output_dir: str | None = None
    remote_dir: str | None = None  # HOST:PATH of a stage dir kept on a remote host
    started: float | None = None  # wall clock (epoch seconds)
    finished: float | None = None
    selected: bool = True
    dependencies: list[str] = msgspec.field(default_factory=list)
    comparisons: list[dict[str, Any]] = msgspec.field(default_factory=list)
    scaling: str | None = None  # the parameter whose values make this case's scaling series
    nodes: int | None = None  # nodes the run asked for (as planned until the run stage)
    artifacts: list[ArtifactUse] = msgspec.field(default_factory=list)
    repeat: int = 1  # which repetition of the case (``--repeat``), from 1

    @property
    def duration(self) -> float:
        return sum(self.timings.values())

    @property
    def key(self) -> str:
        """The id, and the repetition after the first: unique within a session."""
        return self.id if self.repeat <= 1 else f"{self.id}-r{self.repeat}"


class Regression(msgspec.Struct):
    """A significant change of a metric's newest values against its history."""

    case: str
    id: str
    metric: str
    kind: str  # "regression", "improvement", or "change" (the better direction is unknown)
    message: str
    value: float  # the level since the change
    before: float  # the level before it
    relative: float
    pvalue: float
    session: str  # the first session of the new level
    commit: str | None
    since: str  # the first session of the level before


class NotJudged(msgspec.Struct):
    """A metric whose newest samples lie outside every earlier value of its level, too few
    (fewer than ``min_size``) for the change-point test to judge: information, never a
    failure (docs/history.md, "Detecting regressions")."""

    case: str
    id: str
    metric: str
    kind: str  # what it would be if it held: "regression", "improvement" or "change"
    message: str
    value: float  # the mean of the newest samples
    samples: int  # how many this session took
    needed: int  # how many a new level needs (min_size)
    side: str  # "below" or "above" every earlier value
    earlier: int  # values in the level compared with
    low: float
    high: float
    level: float  # their mean
    since: str  # the session that level started at


class Problem(msgspec.Struct):
    """A test file or test that could not be loaded or planned."""

    location: str
    message: str
    test: str | None = None

    def __post_init__(self) -> None:
        # A test file's own exception may name a file by a name that is not UTF-8.
        self.location, self.message = storable(self.location), storable(self.message)


class Session(msgspec.Struct):
    """One invocation of ``assay run``."""

    id: str
    started: float
    command: list[str]
    cwd: str
    system: str
    config: str
    hostname: str
    user: str
    version: str
    results: list[CaseResult] = msgspec.field(default_factory=list)
    problems: list[Problem] = msgspec.field(default_factory=list)
    finished: float | None = None
    interrupted: str | None = None  # the signal's name, if the run was interrupted
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    directory: str | None = None
    # The first time-left estimate: seconds after the start it was made, and what it said.
    estimate: tuple[float, float] | None = None
    estimate_recorded: bool = False  # that estimate came from recorded durations alone
    remote: dict[str, Any] = msgspec.field(default_factory=dict)  # per host: what was sent there
    regressions: list[Regression] = msgspec.field(default_factory=list)
    not_judged: list[NotJudged] = msgspec.field(default_factory=list)
    git: GitState | None = None  # of the tests' repository, when they are in one

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        """Every case passed (or was skipped on purpose) and nothing failed to load (and,
        with ``--fail-on-regression``, no metric regressed)."""
        if self.options.get("fail_on_regression") and self.regressed:
            return False
        return not self.problems and not any(
            r.status in (Status.FAILED, Status.ABORTED) for r in self.results
        )

    @property
    def regressed(self) -> list[Regression]:
        """The significant changes for the worse (or of unknown direction)."""
        return [r for r in self.regressions if r.kind != "improvement"]
