"""What the cases run with: a place per partition (its scheduler, builder, launcher and
site), stage and output roots, the store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.hosts import Hosts
from assay.launchers import partition_launcher
from assay.results.journal import Journal
from assay.run.context import Place, RunContext
from assay.run.module_check import ModuleChecks
from assay.schedulers.base import Scheduler
from assay.schedulers.direct import DirectScheduler
from assay.schedulers.registry import SchedulerSetup, make_scheduler
from assay.session.display import JobStates
from assay.session.request import Prepared, Request


def make_context(
    request: Request,
    prepared: Prepared,
    directory: Path,
    hosts: Hosts,
    display: JobStates,
    journal: Journal,
    session_id: str,
) -> RunContext:
    """What the cases run with: a place per partition (its scheduler, builder, launcher and
    site), stage and output roots, the store."""
    places: dict[str, Place] = {}
    local_slots = asyncio.Semaphore(request.max_local or os.cpu_count() or 1)
    builders: dict[int, Scheduler] = {}  # the direct scheduler of each transport, for builds
    for case in prepared.plan.cases:
        part = case.partition
        if part.full_name in places:
            continue
        transport = hosts.of[part.full_name]
        job_files = hosts.job_files(part.full_name)
        scheduler = make_scheduler(
            SchedulerSetup(
                partition=part,
                transport=transport,
                workdir=hosts.jobs_dir(part.full_name),
                job_files=job_files,
                grace=request.grace,
                pack=not request.no_pack,
                session=session_id,
                on_state=_job_states(display, part.full_name),
                on_submit=lambda spec, job_id, packed: journal.job(
                    spec.name.removeprefix("assay-"), job_id, packed
                ),
            )
        )
        if scheduler.runs_builds:
            builder, build_slots = scheduler, None
        else:
            builder = builders.setdefault(
                id(transport), DirectScheduler(transport, request.grace, job_files)
            )
            build_slots = None if transport.remote else local_slots
        places[part.full_name] = Place(
            scheduler=scheduler,
            builder=builder,
            build_slots=build_slots,
            launcher=partition_launcher(part.config),
            site=hosts.site(part.full_name),
        )
    (directory / "stage").mkdir(exist_ok=True)
    (directory / "output").mkdir(exist_ok=True)
    local_builds = builders.get(id(hosts.local)) or DirectScheduler(hosts.local, request.grace)
    return RunContext(
        stage_root=directory / "stage",
        output_root=directory / "output",
        places=places,
        transports=hosts.transports,
        store=hosts.store,
        keep_stage=request.options.keep_stage,
        grace=request.grace,
        module_checks=ModuleChecks(directory / "modules", local_builds, local_slots),
    )


def _job_states(display: JobStates, partition: str) -> Callable[[Any, str, str | None], None]:
    """Where a partition's scheduler tells its jobs' states."""

    def tell(spec: Any, state: str, reason: str | None) -> None:
        display.job_state(partition, spec.name, state, reason, spec.members or (spec.name,))

    return tell
