"""Following Slurm jobs: one poller per partition, one ``squeue`` per poll.

Every poll asks ``squeue`` about all jobs in flight in one command, at an interval that
starts at ``poll_min``, grows by half after each poll where nothing ended, is capped at
``poll_max`` and drops back to ``poll_min`` when a job is submitted or ends. A failing
query is retried with the same backoff and never aborts the run. The job script records
the command's exit code in a status file next to its output, so the end of a job needs no
``sacct``; ``sacct`` is asked only about jobs that left ``squeue``. A pending reason never
cancels a job, unless the partition sets ``max_pending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.config import Slurm
from assay.durations import format_duration
from assay.schedulers.base import (
    JobOutcome,
    JobSpec,
    JobState,
    read_status,
    recorded_elapsed,
    status_path,
)
from assay.transports.base import CommandResult, Transport

# Slurm's job states, as squeue and sacct print them, and what they mean here.
_TERMINAL = {
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,
    "CANCELLED": JobState.CANCELLED,
    "PREEMPTED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "NODE_FAIL": JobState.NODE_FAIL,
    "BOOT_FAIL": JobState.NODE_FAIL,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "SPECIAL_EXIT": JobState.FAILED,
}
_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "CONFIGURING"}

StateListener = Callable[[JobSpec, str, str | None], None]


def _bad_nodes(lines: str, current: bool) -> dict[str, str]:
    """Nodes of ``NODE|STATE|REASON`` lines (sinfo's compact states when ``current``, else
    accounting's events) that were down, drained, failing or not responding, and why; the
    last line of a node wins (accounting lists its events oldest first)."""
    found: dict[str, str] = {}
    for line in lines.splitlines():
        node, _, rest = line.partition("|")
        state, _, reason = rest.partition("|")
        state = state.strip().lower()
        bad = state.startswith(("down", "drain", "drng", "fail", "not_responding"))
        if (bad or (current and state.endswith("*"))) and node:
            found[node] = "" if reason.strip() in ("", "none") else reason.strip()
    return found


def _applied_limit(seconds: float | None) -> str | None:
    """What Slurm made of a time limit that is not whole minutes (Slurm keeps limits in
    minutes and rounds ``--time`` up: 10 s runs for a minute), for the reason of a job
    that ran out of it; None when Slurm kept it as it was."""
    if seconds is None or seconds <= 0:
        return None
    applied = math.ceil(seconds / 60) * 60
    if applied - seconds < 0.5:  # (whole minutes, to --time's second)
        return None
    return f"Slurm applied {format_duration(applied)}: it counts time limits in whole minutes"


def _state_word(text: str) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``; ``COMPLETED+`` -> ``COMPLETED``."""
    return text.split()[0].rstrip("+") if text.strip() else "UNKNOWN"


@dataclass
class Job:
    id: str
    spec: JobSpec
    future: asyncio.Future[JobOutcome]
    submitted: float
    state: str = "PENDING"
    reason: str | None = None
    pending_since: float = field(default_factory=time.monotonic)
    unseen: int = 0  # polls in a row where squeue did not list it
    lost_ok: bool = False  # followed again on resume: unknown means "run it again"
    # Asked at each poll while the job runs (with its nodes): a pack's, whose cases that
    # ended are handed their outcomes then; True when any was.
    watch: Callable[[str | None], Awaitable[bool]] | None = None


class SlurmQueue:
    """The jobs of one partition in flight, and the poller that follows them."""

    def __init__(
        self,
        settings: Slurm,
        transport: Transport,
        command: Callable[[Sequence[str]], Awaitable[CommandResult]],
        cancel: Callable[[Sequence[str]], Coroutine[Any, Any, None]],
        label: str,
        on_state: StateListener | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport  # where the jobs' status files are
        self._command = command
        self._cancel = cancel
        self.label = label
        self.on_state = on_state
        self.jobs: dict[str, Job] = {}
        self.interval = settings.poll_min
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._cancels: set[asyncio.Task[None]] = set()  # scancels still under way

    def track(self, job: Job) -> None:
        """Follow ``job`` from now on (and poll soon)."""
        self.jobs[job.id] = job
        self.start_polling()

    def start_polling(self) -> None:
        self.interval = self.settings.poll_min
        self._wake.set()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_loop(), name=self.label)

    async def _poll_loop(self) -> None:
        while self._active():
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            if not self._active():
                break
            changed = await self._poll()
            s = self.settings
            self.interval = s.poll_min if changed else min(self.interval * 1.5, s.poll_max)

    def _active(self) -> bool:
        return any(not j.future.done() for j in self.jobs.values())

    async def _poll(self) -> bool:
        """One query about every job in flight; True if any job ended."""
        active = {i: j for i, j in self.jobs.items() if not j.future.done()}
        argv = [
            "squeue",
            *self.settings.command_options,
            "-h",
            "-r",
            "-t",
            "all",
            "-o",
            "%i|%T|%N|%r",  # the reason last: it is text, whatever it holds stays in it
            "-j",
            ",".join(active),
        ]
        result = await self._command(argv)
        if result.code != 0 and "Invalid job id" not in result.stderr:
            return False  # transient: the loop backs off and asks again
        seen: dict[str, tuple[str, str, str]] = {}
        for line in result.stdout.splitlines():
            parts = line.split("|", 3)
            # A job's first line is its answer: a reason holding a newline cannot add one.
            if len(parts) == 4 and parts[0] in active and parts[0] not in seen:
                seen[parts[0]] = (_state_word(parts[1]), parts[3], parts[2])
        ended = False
        missing = []
        finished = []
        watched = []
        for job_id, job in active.items():
            if job_id not in seen:
                job.unseen += 1
                missing.append(job_id)
                continue
            job.unseen = 0
            state, reason, nodes = seen[job_id]
            if state in _TERMINAL:
                finished.append(self._finish(job, state, reason, nodes))
            else:
                self._update(job, state, reason)
                if job.watch is not None and state not in _PENDING:
                    watched.append(job.watch(nodes or None))
        if finished:  # their status files are read side by side
            await asyncio.gather(*finished)
            ended = True
        if watched:  # (a status that cannot be read now is read at the next poll)
            early = await asyncio.gather(*watched, return_exceptions=True)
            ended |= any(e is True for e in early)
        if missing:
            ended |= await self._ask_accounting([active[i] for i in missing])
        ended |= self._check_pending_limits(active)
        return ended

    def _update(self, job: Job, state: str, reason: str | None) -> None:
        """A job that has not ended: tell its state when it changed."""
        if state != job.state or reason != job.reason:
            if state in _PENDING and job.state not in _PENDING:
                job.pending_since = time.monotonic()  # requeued: pending again
            job.state, job.reason = state, reason
            self.notify(job, state, reason if state in _PENDING else None)

    async def _ask_accounting(self, jobs: list[Job]) -> bool:
        """Jobs squeue no longer lists: ask sacct (or scontrol) how they ended."""
        ids = ",".join(j.id for j in jobs)
        result = await self._command(
            [
                "sacct",
                *self.settings.command_options,
                "-X",
                "-n",
                "-P",
                "-o",
                "JobID,State,ExitCode,NodeList",
                "-j",
                ids,
            ]
        )
        ended = False
        lost = []
        known: dict[str, tuple[str, str]] = {}
        if result.code == 0:
            for line in result.stdout.splitlines():
                parts = line.split("|")
                if len(parts) >= 4:
                    known[parts[0]] = (_state_word(parts[1]), parts[3])
        finished = []
        for job in jobs:
            if job.id in known:
                state, nodes = known[job.id]
                if state in _TERMINAL:
                    finished.append(self._finish(job, state, None, nodes))
                    ended = True
                continue
            if job.unseen >= 5:  # neither squeue nor accounting has heard of it for a while
                why = "Slurm no longer knows this job (not in squeue or sacct)"
                state = JobState.LOST if job.lost_ok else JobState.NODE_FAIL
                self.resolve(job, JobOutcome(state, reason=why, job_id=job.id))
                lost.append(job.id)
                ended = True
        if finished:
            await asyncio.gather(*finished)
        if lost:  # in case it is only hidden from us: never leave a job behind
            self._cancel_soon(lost)
        return ended

    def _check_pending_limits(self, active: dict[str, Job]) -> bool:
        limit = self.settings.max_pending
        if limit is None:
            return False
        now = time.monotonic()
        late = [
            j
            for j in active.values()
            if j.state in _PENDING and not j.future.done() and now - j.pending_since > limit
        ]
        for job in late:
            self.resolve(
                job,
                JobOutcome(
                    JobState.CANCELLED,
                    reason=f"pending for more than {limit} "
                    f"({job.reason or 'no reason given'}); max_pending of the partition",
                    job_id=job.id,
                ),
            )
        if late:
            self._cancel_soon([j.id for j in late])
        return bool(late)

    def _cancel_soon(self, ids: list[str]) -> None:
        """scancel in the background; stop() waits for it, so that a run whose last job
        this was does not end (and close the loop) before the job is gone."""
        task = asyncio.get_running_loop().create_task(self._cancel(ids))
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def _finish(self, job: Job, state: str, reason: str | None, nodes: str) -> None:
        kind = _TERMINAL[state]
        exit_code: int | None = None
        signal_: int | None = None
        elapsed: float | None = None
        recorded = await read_status(self.transport, status_path(job.spec), job.id)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            if recorded is not None:
                exit_code = int(recorded["exit_code"])
                elapsed = recorded_elapsed(recorded)
        if kind in (JobState.COMPLETED, JobState.FAILED) and exit_code is None:
            exit_code = 0 if kind == JobState.COMPLETED else None
        if exit_code is not None and exit_code > 128 and kind == JobState.FAILED:
            signal_, exit_code = exit_code - 128, None  # bash reports a signal as 128+N
        if kind in (JobState.COMPLETED, JobState.FAILED):
            kind = JobState.COMPLETED if exit_code == 0 else JobState.FAILED
        failed = nodes or "node unknown"
        if kind == JobState.NODE_FAIL and nodes and ("[" in nodes or "," in nodes):
            failed = await self._failed_nodes(nodes, job.submitted)
        words = {
            JobState.NODE_FAIL: f"node failure ({failed})",
            JobState.OUT_OF_MEMORY: "out of memory",
            JobState.TIMEOUT: _applied_limit(job.spec.time_limit),
            JobState.CANCELLED: f"{state.lower()} by Slurm"
            + (f" ({reason})" if reason and reason != "None" else ""),
        }
        where = nodes if nodes and nodes not in ("None", "(null)") else None  # not placed
        outcome = JobOutcome(kind, exit_code, signal_, words.get(kind), job.id, elapsed, where)
        self.resolve(job, outcome)

    async def _failed_nodes(self, nodes: str, since: float) -> str:
        """Which of a job's ``nodes`` (a node list) failed, each with Slurm's reason (``c2:
        Not responding; the job ran on c[1-2]``): those sinfo shows down, drained, failing
        or not responding now, else those accounting recorded going down since the job was
        submitted at ``since`` (a node may be back by the time the job's end is noticed);
        the whole list when neither names one."""
        options = self.settings.command_options
        now = await self._command(["sinfo", *options, "-h", "-N", "-n", nodes, "-o", "%N|%t|%E"])
        found = _bad_nodes(now.stdout if now.code == 0 else "", current=True)
        began = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since))
        argv = ["sacctmgr", "-n", "-P", "show", "event", f"nodes={nodes}", f"start={began}"]
        # (sacctmgr takes no -M: with command_options it could name another cluster's
        # nodes.) The controller hands the event to accounting after the job's end, now and
        # then after it is noticed: asked again a few times, 3.5 s at most in all.
        for delay in (0.0, 0.5, 1.0, 2.0) if not found and not options else ():
            await asyncio.sleep(delay)
            events = await self._command([*argv, "format=NodeName,State,Reason"])
            found = _bad_nodes(events.stdout if events.code == 0 else "", current=False)
            if found or events.code != 0:
                break
        if not found:
            return nodes
        named = ", ".join(f"{n}: {r}" if r else n for n, r in found.items())
        return f"{named}; the job ran on {nodes}"

    def resolve(self, job: Job, outcome: JobOutcome) -> None:
        if not job.future.done():
            job.future.set_result(outcome)
            job.state = outcome.state.value
            self.notify(job, outcome.state.value, outcome.reason)

    def notify(self, job: Job, state: str, reason: str | None) -> None:
        if self.on_state:
            self.on_state(job.spec, state, reason)

    async def stop(self) -> list[Job]:
        """Stop polling; the jobs still in flight (for the caller to cancel)."""
        active = [j for j in self.jobs.values() if not j.future.done()]
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._cancels:
            await asyncio.gather(*self._cancels, return_exceptions=True)
        return active
