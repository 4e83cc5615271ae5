"""Packing many short cases into one batch job.

Cases whose declared time limit is at most the partition's ``pack_case_limit`` and that
need one node and no GPUs are not submitted one by one: run stages that arrive within a short window
are grouped by their resources, split into packs whose estimated duration fits
``pack_time`` (and spread over the partition's nodes), and each pack becomes one job. A
case is estimated at its recorded run time (results database), else its declared limit;
the packs are balanced by longest-first bin packing, and each pack runs its cases longest
first. In the job, the pack runner (``packrun.py``, shipped by
:mod:`assay.schedulers.jobfiles`) runs the cases with the allocation's concurrency and
writes one status file per case, so each case is then checked, reported, retried and
recorded on its own, exactly like a case that had a job of its own.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import signal
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any

from assay import shell
from assay.schedulers.base import (
    JobOutcome,
    JobResources,
    JobSpec,
    JobState,
    read_status,
    recorded_elapsed,
    status_path,
)
from assay.schedulers.batching import Collector, Waiting, fail_all
from assay.schedulers.jobfiles import JobFiles
from assay.schedulers.jobscript import compose
from assay.transports.base import Transport, write_text

PACK_MARGIN = 60.0  # seconds added to a pack's time limit for starting and stopping


class Packer(Collector):
    """Collects packable run stages and submits them as pack jobs."""

    def __init__(
        self,
        transport: Transport,
        workdir: PurePosixPath,
        submit: Callable[[JobSpec, list[JobSpec]], Awaitable[JobOutcome]],
        *,
        pack_time: float,
        cpus_per_node: int,
        nodes: int,
        python: str,
        grace: float,
        header: Callable[[JobSpec], list[str]],
        job_files: JobFiles | None = None,
    ) -> None:
        super().__init__("packer")
        self.transport = transport
        self.workdir = workdir
        self._submit_job = submit
        self.pack_time = pack_time
        self.cpus_per_node = max(1, cpus_per_node)
        self.nodes = max(1, nodes)
        self.python = python
        self.grace = grace
        self._header = header
        self.job_files = job_files or JobFiles(workdir, transport)
        self._count = 0
        self.packs = 0
        self._running: dict[str, list[Waiting]] = {}  # the cases of each pack under way

    def dispatch(self, batch: list[Waiting]) -> list[list[Waiting]]:
        groups: dict[tuple[int, int, int], list[Waiting]] = {}
        for m in batch:
            r = m.spec.resources
            groups.setdefault((r.tasks, r.cpus_per_task or 1, r.gpus_per_node or 0), []).append(m)
        return [pack for group in groups.values() for pack in self._split(group)]

    def _split(self, members: list[Waiting]) -> list[list[Waiting]]:
        per_case = self._cpus(members[0].spec.resources)
        slots = max(1, self.cpus_per_node // per_case)
        total = sum(estimate(m.spec) for m in members)
        by_time = math.ceil(total / slots / self.pack_time) if total else 1
        by_nodes = min(self.nodes, math.ceil(len(members) / 8))
        count = max(1, min(len(members), max(by_time, by_nodes)))
        return balance(members, count)

    @staticmethod
    def _cpus(r: JobResources) -> int:
        return max(1, r.tasks) * max(1, r.cpus_per_task or 1)

    async def submit(self, members: list[Waiting]) -> None:
        self._count += 1
        self.packs += 1
        name = f"pack-{self._count:04d}"
        folder = self.workdir / name
        per_case = self._cpus(members[0].spec.resources)
        cpus = min(self.cpus_per_node, per_case * len(members))
        slots = max(1, cpus // per_case)
        # The pack runner starts cases in manifest order: longest expected first.
        members = sorted(members, key=lambda m: -estimate(m.spec))
        manifest = {
            "slots": slots,
            "grace": self.grace,
            "cases": [
                {
                    "id": m.spec.name,
                    "script": str(m.spec.script),
                    "workdir": str(m.spec.workdir),
                    "stdout": str(m.spec.stdout),
                    "stderr": str(m.spec.stderr),
                    "status": str(status_path(m.spec)),
                    "time_limit": m.spec.time_limit,
                }
                for m in members
            ],
        }
        limits = [m.spec.time_limit or 0.0 for m in members]
        pack_limit = sum(limits) / slots + max(limits) + PACK_MARGIN
        spec = JobSpec(
            name=f"assay-{name}",
            script=folder / "pack.sh",
            workdir=folder,
            stdout=folder / "pack.out",
            stderr=folder / "pack.err",
            time_limit=pack_limit,
            resources=JobResources(nodes=1, tasks=1, cpus_per_task=cpus),
            members=tuple(m.spec.name for m in members),
        )
        runner = [self.python, "-I", self.job_files.packrun(), folder / "manifest.json"]
        try:
            lines = [
                "#!/bin/bash",
                *self._header(spec),
                f"# assay pack of {len(members)} case(s), {slots} at a time",
                f"exec {shell.join(runner)}",
            ]
            script = compose(lines)
            await self.job_files.ship("packrun")
            await self.transport.mkdir(folder)
            listed = json.dumps(manifest, indent=1)
            await asyncio.gather(
                *(self.transport.remove(status_path(m.spec)) for m in members),
                write_text(self.transport, folder / "manifest.json", listed),
                write_text(self.transport, spec.script, script),
            )
            self._running[spec.name] = members
            outcome = await self._submit_job(spec, [m.spec for m in members])
        except BaseException as exc:  # cancelled, or sbatch refused: every member learns it
            fail_all(members, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            self._running.pop(spec.name, None)
        outcomes = await asyncio.gather(
            *(member_outcome(self.transport, m.spec, outcome) for m in members)
        )
        for m, ended in zip(members, outcomes, strict=True):
            if not m.future.done():
                m.future.set_result(ended)

    async def ended_early(self, pack: str, job_id: str, nodes: str | None) -> bool:
        """While pack ``pack`` (job ``job_id``, on ``nodes``) runs: hand each of its cases
        that ended by itself (its status file is there) its outcome now, so that its checks,
        its verdict and the cases that depend on it do not wait for the pack's last case.
        Returns whether any was. A case stopped by a signal the pack's end may have sent
        (scancel, a failing node) waits for the pack's end, which says which it was."""
        members = [m for m in self._running.get(pack, ()) if not m.future.done()]
        if not members:
            return False
        statuses = await asyncio.gather(
            *(read_status(self.transport, status_path(m.spec), job_id) for m in members)
        )
        running = JobOutcome(JobState.COMPLETED, job_id=job_id, nodes=nodes)
        told = False
        for member, status in zip(members, statuses, strict=True):
            if status is None or status.get("state") not in ("COMPLETED", "FAILED", "TIMEOUT"):
                continue
            if status.get("state") != "TIMEOUT" and status.get("signal") in _ENDING:
                continue
            if not member.future.done():
                member.future.set_result(outcome_of_member(member.spec, running, status))
                told = True
        return told


def estimate(spec: JobSpec) -> float:
    """What a packed case is expected to take: its recorded run time, else its limit."""
    if spec.expected is not None:
        return spec.expected
    return spec.time_limit or 0.0


def balance(members: list[Waiting], count: int) -> list[list[Waiting]]:
    """``count`` packs of about equal expected work: longest-processing-time-first bin
    packing (each case, longest first, into the pack with the least work so far)."""
    packs: list[list[Waiting]] = [[] for _ in range(count)]
    loads = [(0.0, i) for i in range(count)]  # a heap of (work, pack)
    for m in sorted(members, key=lambda m: -estimate(m.spec)):
        load, i = heapq.heappop(loads)
        packs[i].append(m)
        heapq.heappush(loads, (load + estimate(m.spec), i))
    return [p for p in packs if p]


async def member_outcome(transport: Transport, spec: JobSpec, pack: JobOutcome) -> JobOutcome:
    """How one packed case ended: its status file, or what happened to its pack."""
    status = await read_status(transport, status_path(spec), pack.job_id)
    return outcome_of_member(spec, pack, status)


_ENDING = (signal.SIGTERM.value, signal.SIGKILL.value)
"""The signals Slurm ends an allocation's processes with (a SIGSEGV stays the case's own)."""


def outcome_of_member(spec: JobSpec, pack: JobOutcome, status: dict[str, Any] | None) -> JobOutcome:
    """How one packed case ended, from its ``status`` (None: it has none)."""
    job_id = f"{pack.job_id}+{spec.name}" if pack.job_id else None
    if status is None or "state" not in status:
        if pack.state == JobState.TIMEOUT:
            reason = "its pack ran out of time before this case finished"
            return JobOutcome(JobState.CANCELLED, reason=reason, job_id=job_id, nodes=pack.nodes)
        kind = pack.state if pack.state != JobState.COMPLETED else JobState.NODE_FAIL
        why = pack.reason or f"its pack ended {pack.state.value} without running this case"
        return JobOutcome(kind, reason=why, job_id=job_id, nodes=pack.nodes)
    state = status["state"]
    if state == "TIMEOUT":
        return JobOutcome(JobState.TIMEOUT, job_id=job_id, nodes=pack.nodes)
    if state == "CANCELLED":
        reason = status.get("reason") or "its pack was stopped"
        if pack.state == JobState.NODE_FAIL:
            return JobOutcome(
                JobState.NODE_FAIL, reason=pack.reason, job_id=job_id, nodes=pack.nodes
            )
        return JobOutcome(JobState.CANCELLED, reason=reason, job_id=job_id, nodes=pack.nodes)
    signal_ = status.get("signal")
    code = status.get("exit_code")
    if signal_ in _ENDING and pack.state in (JobState.CANCELLED, JobState.NODE_FAIL):
        # scancel (or a failing node) signals every process of the allocation, the case's
        # too, before the pack runner can mark it: the pack's fate is the case's, not a
        # signal its program got from nowhere.
        why = pack.reason or f"its pack ended {pack.state.value}"
        return JobOutcome(
            pack.state,
            code,
            signal_,
            reason=f"{why}; the case was killed by signal {signal_}",
            job_id=job_id,
            elapsed=recorded_elapsed(status),
            nodes=pack.nodes,
        )
    ended = JobState.COMPLETED if code == 0 and signal_ is None else JobState.FAILED
    return JobOutcome(
        ended, code, signal_, job_id=job_id, elapsed=recorded_elapsed(status), nodes=pack.nodes
    )


def packable(spec: JobSpec, case_limit: float, enabled: bool) -> bool:
    """Short, single-node, shareable, without GPUs: goes into a pack. (A pack's cases run
    side by side in one allocation, where nothing would give each its own GPUs; a job of
    its own gets them bound by Slurm.)"""
    r = spec.resources
    return (
        enabled
        and spec.time_limit is not None
        and spec.time_limit <= case_limit
        and r.nodes == 1
        and not r.exclusive
        and not r.gpus_per_node
    )
