"""The schedulers a partition's ``scheduler`` setting can name, and how each is made.

The session asks the registry for a partition's scheduler; nothing above it compares
scheduler names. What differs between schedulers and matters to the pipeline is a
capability of the scheduler (:attr:`~assay.schedulers.base.Scheduler.runs_builds`,
:attr:`~assay.schedulers.base.Scheduler.compares_in_job`), not its name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import msgspec

from assay.config import PartitionRef
from assay.schedulers.base import JobSpec, Scheduler
from assay.schedulers.direct import DirectScheduler
from assay.schedulers.jobfiles import JobFiles
from assay.transports.base import Transport

StateListener = Callable[[JobSpec, str, str | None], None]
SubmitListener = Callable[[JobSpec, str, bool], None]


class SchedulerSetup(msgspec.Struct, frozen=True):
    """Everything a scheduler is made with."""

    partition: PartitionRef
    transport: Transport
    workdir: PurePosixPath
    """The partition's own job directory on the transport's host (packs, arrays)."""
    job_files: JobFiles
    """The files shipped into jobs, shared by the partitions on one host."""
    grace: float = 2.0
    pack: bool = True
    session: str = ""
    on_state: StateListener | None = None
    on_submit: SubmitListener | None = None


def _direct(setup: SchedulerSetup) -> Scheduler:
    return DirectScheduler(setup.transport, setup.grace, setup.job_files)


def _slurm(setup: SchedulerSetup) -> Scheduler:
    from assay.schedulers.slurm import SlurmScheduler  # lazy: start-up time (8 ms)

    return SlurmScheduler(
        setup.partition,
        setup.transport,
        setup.grace,
        on_state=setup.on_state,
        on_submit=setup.on_submit,
        workdir=setup.workdir,
        pack=setup.pack,
        session=setup.session,
        job_files=setup.job_files,
    )


SCHEDULERS: dict[str, Callable[[SchedulerSetup], Scheduler]] = {
    "direct": _direct,
    "slurm": _slurm,
}
"""Each scheduler's maker, by the name the config's ``scheduler`` setting gives."""


SIZED_BY_HISTORY = frozenset({"slurm"})
"""The schedulers whose jobs are sized by recorded run times (packs of batch jobs): a run
on them reads its history before its first case starts. Unknown ones are taken to."""


def sizes_jobs_by_history(scheduler: str) -> bool:
    """Whether the scheduler the config names sizes its jobs by recorded run times."""
    return scheduler in SIZED_BY_HISTORY or scheduler not in SCHEDULERS


def make_scheduler(setup: SchedulerSetup) -> Scheduler:
    """The scheduler the partition's config names, over the partition's transport."""
    return SCHEDULERS[setup.partition.config.scheduler](setup)
