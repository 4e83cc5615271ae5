"""What the cases of a session share, and where each partition's cases go."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from msgspec import field

from assay.launchers import Launcher
from assay.plan import Case
from assay.run.artifacts import SessionStore
from assay.run.bucket_inputs import BucketInputs
from assay.run.module_check import ModuleChecks
from assay.run.sites import Site
from assay.run.spares import SpareFiles
from assay.schedulers.base import Scheduler
from assay.transports.base import Transport

if TYPE_CHECKING:
    from assay.run.ahead import StageAhead


class StageFailed(Exception):
    """Ends a case at the current stage with a one-line reason."""

    def __init__(self, reason: str, details: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class StageSkipped(Exception):
    """Ends a case at the current stage as skipped (not failed), with the reason: its
    command said so by its exit code (``skip_exit_codes``, see :mod:`assay.run.skipping`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Place(msgspec.Struct):
    """Where one partition's cases go: its scheduler, what runs its builds, its launcher."""

    scheduler: Scheduler
    builder: Scheduler
    """The partition's scheduler when it runs builds (``runs_builds``), else a direct
    scheduler on the partition's host."""
    build_slots: asyncio.Semaphore | None
    """Bounds the builds running at once on this machine (None: the partition's slots do)."""
    launcher: Launcher
    site: Site
    """Where the cases' files are: this machine, or the partition's remote host."""

    @property
    def transport(self) -> Transport:
        return self.scheduler.transport


class RunContext(msgspec.Struct):
    """What every case of a session shares."""

    stage_root: Path
    output_root: Path
    places: Mapping[str, Place]
    transports: Sequence[Transport]
    store: SessionStore
    keep_stage: bool = False
    grace: float = 2.0
    module_checks: ModuleChecks | None = None  # None: every environment's modules load
    # Recorded run-stage seconds by case key (results database), for packing.
    expected_run: Mapping[str, float] = field(default_factory=dict)
    bucket: BucketInputs = field(default_factory=BucketInputs)  # partitions' store_remote
    # Passed cases' empty stdout and stderr files, for later local cases (run/spares.py).
    spares: SpareFiles = field(default_factory=SpareFiles)
    # The (device, inode) of the stage root and of each directory above it, found when the
    # first source is staged (run/stage_setup.py): a source that is one of them holds the
    # session. The root is there for the whole session: looked at once, not once a case.
    stage_ancestors: frozenset[tuple[int, int]] | None = None
    # The next suite case's stage dir, made while a case runs (run/ahead.py; one at a time).
    ahead: StageAhead | None = None


_UNSAFE_NAME = re.compile(r"[^\w.-]")


def case_dirname(case: Case) -> str:
    # One path component whatever the test's name holds (a class made with type() may
    # have a "/" in it); the name only helps a reader, the id keeps it unique.
    return f"{_UNSAFE_NAME.sub('_', case.test.__name__)}-{case.key}"
