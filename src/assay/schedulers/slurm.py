"""The Slurm scheduler: jobs submitted with sbatch and followed by one poller per partition.

Each poll asks ``squeue`` about every job in flight in one command, at an interval that
starts at ``poll_min``, grows by half after every poll where nothing changed, is capped at
``poll_max``, and drops back to ``poll_min`` when a job is submitted or finishes. A failing
query is retried with the same backoff and never aborts the run. The job script records the
command's exit code in a status file next to its output, so the end of a job needs no
``sacct`` query; ``sacct`` (or ``scontrol``) is asked only about jobs that left ``squeue``.
A pending reason never cancels a job, unless the partition sets ``max_pending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assay.config import PartitionRef, Slurm
from assay.durations import format_duration, parse_duration, slurm_time
from assay.schedulers.base import JobOutcome, JobSpec, JobState, Scheduler
from assay.schedulers.packing import Packer, member_outcome, packable
from assay.transports.local import CommandResult, LocalTransport

STATUS_SUFFIX = ".status"

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
_RUNNING = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "RESIZING", "STAGE_OUT"}

StateListener = Callable[[JobSpec, str, str | None], None]


def _state_word(text: str) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``; ``COMPLETED+`` -> ``COMPLETED``."""
    return text.split()[0].rstrip("+") if text.strip() else "UNKNOWN"


@dataclass
class _Job:
    id: str
    spec: JobSpec
    future: asyncio.Future[JobOutcome]
    submitted: float
    state: str = "PENDING"
    reason: str | None = None
    pending_since: float = field(default_factory=time.monotonic)
    unseen: int = 0  # polls in a row where squeue did not list it
    lost_ok: bool = False  # followed again on resume: unknown means "run it again"


class SlurmScheduler(Scheduler):
    """Runs job scripts as Slurm batch jobs on one Slurm partition."""

    name = "slurm"
    compares_in_job = True

    def __init__(
        self,
        partition: PartitionRef,
        transport: LocalTransport,
        grace: float = 2.0,
        on_state: StateListener | None = None,
        on_submit: Callable[[JobSpec, str, bool], None] | None = None,
        workdir: Path | None = None,
        pack: bool = True,
    ) -> None:
        self.partition = partition
        self.settings: Slurm = partition.config.slurm
        self.transport = transport
        self.grace = grace
        self.on_state = on_state
        self.on_submit = on_submit
        self.workdir = workdir
        self._jobs: dict[str, _Job] = {}
        self._slots = asyncio.Semaphore(partition.max_jobs)
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self.queries = 0  # scheduler commands run (for benchmarks and tests)
        self.interval = self.settings.poll_min
        self.query_errors = 0
        self.pack_case_limit = parse_duration(self.settings.pack_case_limit)
        self.packer: Packer | None = None
        if pack and self.settings.pack and workdir is not None:
            res = partition.config.resources
            self.packer = Packer(
                workdir / "packs",
                self._run_single,
                pack_time=parse_duration(self.settings.pack_time),
                cpus_per_node=partition.cpus_per_node,
                nodes=res.nodes,
                python=self.settings.python,
                grace=grace,
                header=self.header,
            )

    # -- the job script -------------------------------------------------------------------

    def header(self, spec: JobSpec) -> list[str]:
        s, r = self.settings, spec.resources
        options: list[tuple[str, object]] = [
            ("job-name", spec.name),
            ("output", spec.stdout),
            ("error", spec.stderr),
            ("chdir", spec.workdir),
            ("nodes", r.nodes),
            ("ntasks", r.tasks),
        ]
        for key, value in (
            ("partition", s.partition),
            ("account", s.account),
            ("qos", s.qos),
            ("constraint", s.constraint),
            ("gres", s.gres),
            ("reservation", s.reservation),
            ("ntasks-per-node", r.tasks_per_node),
            ("cpus-per-task", r.cpus_per_task),
            ("gpus-per-node", r.gpus_per_node or None),
        ):
            if value is not None:
                options.append((key, value))
        if spec.time_limit is not None:
            options.append(("time", slurm_time(spec.time_limit)))
        lines = [f"#SBATCH --{k}={shlex.quote(str(v))}" for k, v in options]
        if r.exclusive:
            lines.append("#SBATCH --exclusive")
        lines.append("#SBATCH --requeue" if s.requeue else "#SBATCH --no-requeue")
        lines += [f"#SBATCH {shlex.quote(o)}" for o in s.options]
        return lines

    def footer(self, spec: JobSpec) -> list[str]:
        status = shlex.quote(str(spec.stdout) + STATUS_SUFFIX)
        lines = []
        if spec.compare is not None and self.workdir is not None:
            engine = self._ship_compare()
            spec_file, verdict = (shlex.quote(str(p)) for p in spec.compare)
            python = shlex.quote(self.settings.python)
            lines.append(
                f'[ "$assay_status" -eq 0 ] && {python} -I {shlex.quote(str(engine))} '
                f"{spec_file} -o {verdict} >/dev/null 2>&1"
            )
        lines.append(
            f'printf \'{{"exit_code": %d, "host": "%s"}}\\n\' "$assay_status" "$(hostname)"'
            f" > {status}"
        )
        return lines

    def _ship_compare(self) -> Path:
        """The comparison engine, copied once where jobs can run it without assay."""
        assert self.workdir is not None
        target = self.workdir / "compare.py"
        if not target.exists():
            import shutil

            self.workdir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(__file__).resolve().parent.parent / "compare.py", target)
        return target

    def case_slots(self, max_jobs: int) -> int:
        return self.settings.max_queued

    # -- running --------------------------------------------------------------------------

    async def run(self, spec: JobSpec) -> JobOutcome:
        if self.packer is not None and packable(spec, self.pack_case_limit, True):
            return await self.packer.run(spec)
        return await self._run_single(spec)

    async def _run_single(self, spec: JobSpec, members: list[JobSpec] | None = None) -> JobOutcome:
        """Submit one job (a case's, or a pack's for ``members``) and wait for its end."""
        async with self._slots:
            job = await self._submit(spec)
            if self.on_submit:
                for member in members if members is not None else [spec]:
                    self.on_submit(member, job.id, members is not None)
            try:
                return await asyncio.shield(job.future)
            except asyncio.CancelledError:
                await self._cancel([job.id])
                raise

    async def _submit(self, spec: JobSpec) -> _Job:
        Path(str(spec.stdout) + STATUS_SUFFIX).unlink(missing_ok=True)
        argv = ["sbatch", "--parsable", *self.settings.command_options, str(spec.script)]
        delay = self.settings.poll_min
        while True:
            result = await self._command(argv)
            if result.code == 0 and result.stdout.strip():
                break
            if not _transient(result):
                raise SubmitError(f"sbatch refused the job of {spec.name}: {_first_line(result)}")
            await asyncio.sleep(delay)  # the controller is busy or restarting: try again
            delay = min(delay * 2, self.settings.poll_max)
        job_id = result.stdout.strip().split(";")[0]
        loop = asyncio.get_running_loop()
        job = _Job(job_id, spec, loop.create_future(), time.time())
        self._jobs[job_id] = job
        self._notify(job, "PENDING", None)
        self.interval = self.settings.poll_min
        self._wake.set()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_loop(), name=f"poll {self.partition}")
        return job

    async def attach(self, spec: JobSpec, job_id: str, packed: bool) -> JobOutcome:
        """Follow a job submitted by an earlier runner (``--resume``): a case's own job, or
        the pack it was in (followed once, however many of its cases wait for it)."""
        job = self._jobs.get(job_id)
        if job is None:
            loop = asyncio.get_running_loop()
            watched = spec
            if packed:  # the pack job itself: its own status file does not exist
                folder = spec.workdir
                watched = JobSpec(
                    f"assay-pack-{job_id}",
                    folder / "pack.sh",
                    folder,
                    folder / "pack.out",
                    folder / "pack.err",
                )
            job = _Job(job_id, watched, loop.create_future(), time.time(), state="UNKNOWN")
            job.lost_ok = True
            self._jobs[job_id] = job
            self._wake.set()
            if self._poller is None or self._poller.done():
                self._poller = asyncio.create_task(self._poll_loop(), name=f"poll {self.partition}")
        try:
            outcome = await asyncio.shield(job.future)
        except asyncio.CancelledError:
            await self._cancel([job.id])
            raise
        if packed and outcome.state != JobState.LOST:
            return member_outcome(spec, outcome)
        return outcome

    async def _command(self, argv: Sequence[str]) -> CommandResult:
        self.queries += 1
        return await self.transport.run(argv, timeout=max(60.0, self.settings.poll_max * 3))

    # -- the poller -----------------------------------------------------------------------

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
        return any(not j.future.done() for j in self._jobs.values())

    async def _poll(self) -> bool:
        """One query about every job in flight; True if any job ended."""
        active = {i: j for i, j in self._jobs.items() if not j.future.done()}
        argv = [
            "squeue",
            *self.settings.command_options,
            "-h",
            "-t",
            "all",
            "-o",
            "%i|%T|%r|%N",
            "-j",
            ",".join(active),
        ]
        result = await self._command(argv)
        if result.code != 0 and "Invalid job id" not in result.stderr:
            self.query_errors += 1
            return False  # transient: the loop backs off and asks again
        seen: dict[str, tuple[str, str, str]] = {}
        for line in result.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 4:
                seen[parts[0]] = (_state_word(parts[1]), parts[2], parts[3])
        ended = False
        missing = []
        for job_id, job in active.items():
            if job_id not in seen:
                job.unseen += 1
                missing.append(job_id)
                continue
            job.unseen = 0
            state, reason, nodes = seen[job_id]
            ended |= self._update(job, state, reason, nodes)
        if missing:
            ended |= await self._ask_accounting([active[i] for i in missing])
        ended |= self._check_pending_limits(active)
        return ended

    def _update(self, job: _Job, state: str, reason: str | None, nodes: str) -> bool:
        if state in _TERMINAL:
            self._finish(job, state, reason, nodes)
            return True
        if state != job.state or reason != job.reason:
            if state in _PENDING and job.state not in _PENDING:
                job.pending_since = time.monotonic()  # requeued: pending again
            job.state, job.reason = state, reason
            self._notify(job, state, reason if state in _PENDING else None)
        return False

    async def _ask_accounting(self, jobs: list[_Job]) -> bool:
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
                "JobIDRaw,State,ExitCode,NodeList",
                "-j",
                ids,
            ]
        )
        ended = False
        known: dict[str, tuple[str, str]] = {}
        if result.code == 0:
            for line in result.stdout.splitlines():
                parts = line.split("|")
                if len(parts) >= 4:
                    known[parts[0]] = (_state_word(parts[1]), parts[3])
        for job in jobs:
            if job.id in known:
                state, nodes = known[job.id]
                if state in _TERMINAL:
                    self._finish(job, state, None, nodes)
                    ended = True
                continue
            if job.unseen >= 5:  # neither squeue nor accounting has heard of it for a while
                why = "Slurm no longer knows this job (not in squeue or sacct)"
                state = JobState.LOST if job.lost_ok else JobState.NODE_FAIL
                self._resolve(job, JobOutcome(state, reason=why, job_id=job.id))
                ended = True
        return ended

    def _check_pending_limits(self, active: dict[str, _Job]) -> bool:
        limit = self.settings.max_pending
        if limit is None:
            return False
        seconds = parse_duration(limit)
        now = time.monotonic()
        late = [
            j
            for j in active.values()
            if j.state in _PENDING and not j.future.done() and now - j.pending_since > seconds
        ]
        for job in late:
            self._resolve(
                job,
                JobOutcome(
                    JobState.CANCELLED,
                    reason=f"pending for more than {format_duration(seconds)} "
                    f"({job.reason or 'no reason given'}); max_pending of the partition",
                    job_id=job.id,
                ),
            )
        if late:
            asyncio.get_running_loop().create_task(self._cancel([j.id for j in late]))
        return bool(late)

    def _finish(self, job: _Job, state: str, reason: str | None, nodes: str) -> None:
        kind = _TERMINAL[state]
        exit_code: int | None = None
        signal_: int | None = None
        status_file = Path(str(job.spec.stdout) + STATUS_SUFFIX)
        with contextlib.suppress(OSError, ValueError, KeyError):
            recorded = json.loads(status_file.read_text())
            exit_code = int(recorded["exit_code"])
        if kind in (JobState.COMPLETED, JobState.FAILED) and exit_code is None:
            exit_code = 0 if kind == JobState.COMPLETED else None
        if exit_code is not None and exit_code > 128 and kind == JobState.FAILED:
            signal_, exit_code = exit_code - 128, None  # bash reports a signal as 128+N
        if kind in (JobState.COMPLETED, JobState.FAILED):
            kind = JobState.COMPLETED if exit_code == 0 else JobState.FAILED
        words = {
            JobState.NODE_FAIL: f"node failure ({nodes or 'node unknown'})",
            JobState.OUT_OF_MEMORY: "out of memory",
            JobState.CANCELLED: f"{state.lower()} by Slurm"
            + (f" ({reason})" if reason and reason != "None" else ""),
        }
        self._resolve(
            job, JobOutcome(kind, exit_code, signal_, reason=words.get(kind), job_id=job.id)
        )

    def _resolve(self, job: _Job, outcome: JobOutcome) -> None:
        if not job.future.done():
            job.future.set_result(outcome)
            job.state = outcome.state.value
            self._notify(job, outcome.state.value, outcome.reason)

    def _notify(self, job: _Job, state: str, reason: str | None) -> None:
        if self.on_state:
            self.on_state(job.spec, state, reason)

    # -- stopping -------------------------------------------------------------------------

    async def _cancel(self, ids: Sequence[str]) -> None:
        if ids:
            await self._command(["scancel", *self.settings.command_options, *ids])

    async def shutdown(self) -> None:
        active = [j for j in self._jobs.values() if not j.future.done()]
        await self._cancel([j.id for j in active])
        for job in active:
            self._resolve(job, JobOutcome(JobState.CANCELLED, reason="cancelled by assay"))
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller


class SubmitError(Exception):
    """sbatch refused a job for a reason that trying again will not fix."""


_TRANSIENT_WORDS = (
    "timed out",
    "connection refused",
    "try again",
    "temporarily",
    "busy",
    "slurm_receive_msg",
    "socket",
    "unable to contact",
    "communication",
)


def _transient(result: CommandResult) -> bool:
    """A failure that asking again may fix (the controller is busy or restarting)."""
    if result.code == 124:  # no answer in time
        return True
    text = (result.stderr + result.stdout).lower()
    return any(word in text for word in _TRANSIENT_WORDS)


def _first_line(result: CommandResult) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[0] if text else f"exit code {result.code}"
