"""The Slurm scheduler: jobs submitted with sbatch and followed by one poller per partition.

Each poll asks ``squeue`` about every job in flight in one command, at an interval that
starts at ``poll_min``, grows by half after every poll where nothing changed, is capped at
``poll_max``, and drops back to ``poll_min`` when a job is submitted or finishes. A failing
query is retried with the same backoff and never aborts the run. The job script records the
command's exit code in a status file next to its output, so the end of a job needs no
``sacct`` query; ``sacct`` (or ``scontrol``) is asked only about jobs that left ``squeue``.
A pending reason never cancels a job, unless the partition sets ``max_pending``.

The job script holds, as ``#SBATCH`` lines, only the partition's settings (checked when
the config is read) and the job's resources; the job's name, directory and output files go
to sbatch as arguments, where no parser but sbatch's option reader sees them. Every job is
named with a tag that is unique to one submission (the job's name, the session and a
random part): when sbatch fails in a way that leaves unknown whether the job was made (no
answer in time, a lost connection), the tag is looked up before trying again, and a job
found is followed instead of submitting a second one.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

from assay import shell
from assay.config import PartitionRef, Slurm
from assay.durations import format_duration, slurm_time
from assay.schedulers.arrays import Arrays
from assay.schedulers.base import (
    JobOutcome,
    JobSpec,
    JobState,
    Scheduler,
    SchedulerError,
    status_path,
)
from assay.schedulers.batching import Waiting
from assay.schedulers.gpus import slurm_gpu_options
from assay.schedulers.jobfiles import JobFiles
from assay.schedulers.jobscript import ScriptError, compare_step, directive, sbatch_word
from assay.schedulers.packing import Packer, member_outcome, packable
from assay.schedulers.slurm_queue import Job, SlurmQueue, StateListener
from assay.transports.base import UNKNOWN, CommandResult, Transport


class SlurmScheduler(Scheduler):
    """Runs job scripts as Slurm batch jobs on one Slurm partition."""

    name = "slurm"
    submit_patience = 600.0
    """Seconds a submission keeps being retried while the controller does not answer."""

    def __init__(
        self,
        partition: PartitionRef,
        transport: Transport,
        grace: float = 2.0,
        on_state: StateListener | None = None,
        on_submit: Callable[[JobSpec, str, bool], None] | None = None,
        workdir: PurePosixPath | None = None,
        pack: bool = True,
        session: str = "",
        job_files: JobFiles | None = None,
    ) -> None:
        self.partition = partition
        self.session = session
        self.settings: Slurm = partition.config.slurm
        self._table = f"systems.{partition.system}.partitions.{partition.name}.slurm"
        self.transport = transport
        self.grace = grace
        self.on_state = on_state
        self.on_submit = on_submit
        self.workdir = workdir
        if job_files is None and workdir is not None:
            job_files = JobFiles(workdir, transport)
        self.job_files = job_files
        self._slots = asyncio.Semaphore(partition.max_jobs)
        self.adopted = 0  # jobs found after an unclear sbatch failure, not submitted again
        self._unsure: list[str] = []  # tags of submissions stopped half way
        self.queue = SlurmQueue(
            self.settings,
            transport,
            self._command,
            self._cancel,
            f"poll {partition.full_name}",
            on_state,
        )
        self.pack_case_limit = self.settings.pack_case_limit
        self.packer: Packer | None = None
        if pack and self.settings.pack and workdir is not None and job_files is not None:
            res = partition.config.resources
            self.packer = Packer(
                transport,
                workdir / "packs",
                self._run_single,
                pack_time=self.settings.pack_time,
                cpus_per_node=partition.cpus_per_node,
                nodes=res.nodes,
                python=self.settings.python,
                grace=grace,
                header=self.directives,
                job_files=job_files,
            )
        self.arrays: Arrays | None = None
        if self.settings.arrays and workdir is not None:
            self.arrays = Arrays(
                transport,
                workdir / "arrays",
                self._run_single,
                self._run_array,
                self.directives,
                partition.max_jobs,
            )

    @property
    def compares_in_job(self) -> bool:
        return True

    @property
    def runs_builds(self) -> bool:
        return self.settings.build == "job"

    # -- the job script -------------------------------------------------------------------

    def directives(self, spec: JobSpec) -> list[str]:
        """The ``#SBATCH`` lines of a job: the partition's settings and the job's resources
        (packs and arrays add their own after these). Its name, directory and output files
        are sbatch arguments instead (:meth:`job_options`)."""
        s, r = self.settings, spec.resources
        lines = [directive("nodes", r.nodes), directive("ntasks", r.tasks)]
        gpus = slurm_gpu_options(r.gpus_per_node, s.gpu_request, s.gres)
        for key, value in (
            ("partition", s.partition),
            ("account", s.account),
            ("qos", s.qos),
            ("constraint", s.constraint),
            ("gres", gpus.get("gres")),
            ("reservation", s.reservation),
        ):
            if value is not None:
                lines.append(directive(key, value, what=f"[{self._table}] {key}"))
        for key, number in (
            ("ntasks-per-node", r.tasks_per_node),
            ("cpus-per-task", r.cpus_per_task),
            ("gpus-per-node", gpus.get("gpus-per-node")),
        ):
            if number is not None:
                lines.append(directive(key, number))
        if spec.time_limit is not None:
            lines.append(directive("time", slurm_time(spec.time_limit)))
        if r.exclusive:
            lines.append(directive("exclusive"))
        lines.append(directive("requeue" if s.requeue else "no-requeue"))
        what = f"[{self._table}] options"
        lines += [f"#SBATCH {sbatch_word(o, what)}" for o in s.options]
        return lines

    def job_options(self, spec: JobSpec) -> list[str]:
        """sbatch arguments for what the job script does not hold: the job's directory and
        output files (paths hold whatever the file system allows)."""
        return [
            f"--chdir={spec.workdir}",
            f"--output={slurm_filename(spec.stdout, spec.output_pattern)}",
            f"--error={slurm_filename(spec.stderr, spec.output_pattern)}",
        ]

    def header(self, spec: JobSpec) -> list[str]:
        # After every #SBATCH line (sbatch stops reading them at the first command): the
        # footer turns this into the run time measured on the node, free of queue time.
        submitted = shell.join(["sbatch", *self.job_options(spec), spec.script])
        return [
            *self.directives(spec),
            f"# submitted as: {submitted} (with a --job-name of its own)",
            "assay_started=$EPOCHREALTIME",
        ]

    def footer(self, spec: JobSpec) -> list[str]:
        status = shell.quote(status_path(spec))
        lines = []
        if spec.compare is not None and self.job_files is not None:
            lines.append(compare_step(self.settings.python, self.job_files.compare(), spec.compare))
        # The job that writes it, as the poller names it (an array task: ARRAY_TASK).
        lines.append(
            "assay_job=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID:-}}"
        )
        # Written under a fresh name (mktemp: O_EXCL, a random part) and renamed over the
        # status (-T: never into a directory there): the test ran in this directory just
        # before, and a link it left at the status's name is replaced, not written
        # through (``> status`` truncated the file it points to, ~/.bashrc say).
        fresh = shell.quote(f"{status_path(spec)}.XXXXXX")
        lines.append(
            f"assay_tmp=$(mktemp -- {fresh}) && "
            f'printf \'{{"exit_code": %d, "job": "%s", "host": "%s", "started": "%s", '
            f'"ended": "%s"}}\\n\' "$assay_status" "${{assay_job:-${{SLURM_JOB_ID:-}}}}" '
            f'"$(hostname)" "$assay_started" "$EPOCHREALTIME" > "$assay_tmp" && '
            f'mv -fT -- "$assay_tmp" {status}'
        )
        return lines

    def case_slots(self, max_jobs: int) -> int:
        return self.settings.max_queued

    # -- running --------------------------------------------------------------------------

    async def run(self, spec: JobSpec) -> JobOutcome:
        if spec.compare is not None and self.job_files is not None:
            await self.job_files.ship("compare")
        if self.packer is not None and packable(spec, self.pack_case_limit, True):
            return await self.packer.run(spec)
        if self.arrays is not None:
            return await self.arrays.run(spec)
        return await self._run_single(spec)

    async def _run_array(self, spec: JobSpec, members: list[Waiting]) -> None:
        """Submit an array job whose task N is member N, and follow each task as a job."""
        async with self._slots:
            master = await self._submit(spec, track=False)
            jobs = []
            for index, member in enumerate(members):
                job = Job(f"{master}_{index}", member.spec, member.future, time.time())
                self.queue.jobs[job.id] = job
                jobs.append(job)
                if self.on_submit:
                    self.on_submit(member.spec, job.id, False)
                self.queue.notify(job, "PENDING", None)
            self.queue.start_polling()
            try:
                await asyncio.gather(*(asyncio.shield(j.future) for j in jobs))
            except asyncio.CancelledError:
                await self._cancel([master])
                raise

    async def _run_single(self, spec: JobSpec, members: list[JobSpec] | None = None) -> JobOutcome:
        """Submit one job (a case's, or a pack's for ``members``) and wait for its end."""
        async with self._slots:
            job = await self._submit(spec)
            if members is not None and self.packer is not None:
                job.watch = functools.partial(self.packer.ended_early, spec.name, job.id)
            if self.on_submit:
                for member in members if members is not None else [spec]:
                    self.on_submit(member, job.id, members is not None)
            try:
                return await asyncio.shield(job.future)
            except asyncio.CancelledError:
                await self._cancel([job.id])
                raise

    async def _submit(self, spec: JobSpec, track: bool = True) -> Any:
        # The job's output files go too: slurmstepd opens them following links, and a
        # build that ran in this directory may have left one there to a file of the
        # user's, which it would truncate. (Side by side: one round trip to a remote host.)
        removed = await asyncio.gather(
            self.transport.remove(status_path(spec)),
            self.transport.remove(spec.stdout),
            self.transport.remove(spec.stderr),
            return_exceptions=True,
        )
        if isinstance(removed[0], BaseException):  # (an old status: taken for this job's)
            raise removed[0]
        tag = self.tag(spec)
        argv = [
            "sbatch",
            "--parsable",
            *self.settings.command_options,
            f"--job-name={tag}",
            *self.job_options(spec),
            str(spec.script),
        ]
        try:
            job_id = await self._sbatch(argv, tag)
        except asyncio.CancelledError:
            # sbatch was stopped half way: the job may exist, and nobody would cancel it.
            self._unsure.append(tag)
            raise
        if not track:  # an array: its tasks are followed, not the array itself
            return job_id
        loop = asyncio.get_running_loop()
        job = Job(job_id, spec, loop.create_future(), time.time())
        self.queue.jobs[job_id] = job
        self.queue.notify(job, "PENDING", None)
        self.queue.start_polling()
        return job

    def tag(self, spec: JobSpec) -> str:
        """The job name of one submission: the job's own name, the session, and a random
        part (no two submissions share it, not even retries of one case)."""
        return ".".join(p for p in (spec.name, self.session, os.urandom(4).hex()) if p)

    async def _sbatch(self, argv: list[str], tag: str) -> str:
        """Submit once: the job's id. An answer that leaves unknown whether the job was
        made (a timeout, a lost connection) is followed by a look for the job's ``tag``
        before sbatch runs again, so that one case never becomes two jobs."""
        delay = self.settings.poll_min
        give_up = time.monotonic() + self.submit_patience
        while True:
            result = await self._command(argv)
            job_id = parsable_job_id(result.stdout) if result.code == 0 else ""
            if job_id:
                return job_id
            if result.code != 0 and not _transient(result):
                raise SubmitError(
                    f"sbatch refused the job: {_first_line(result)} (the partition's settings "
                    f"are [{self._table}] in the config)"
                )
            while True:  # did the job get made? ask until the controller answers
                if time.monotonic() >= give_up:
                    raise SubmitError(
                        f"sbatch could not reach the Slurm controller for "
                        f"{format_duration(self.submit_patience)}: {_first_line(result)}"
                    )
                await asyncio.sleep(delay)  # the controller is busy or restarting
                delay = min(delay * 2, self.settings.poll_max)
                found = await self.find_tagged(tag)
                if found is not None:
                    break
            if found:
                self.adopted += 1
                await self._cancel(found[1:])  # made more than once: keep one
                return found[0]

    async def find_tagged(self, tag: str) -> list[str] | None:
        """The ids of this user's jobs named ``tag`` (oldest first), or None when squeue
        does not answer. A job array is its array job's id."""
        result = await self._command(
            [
                "squeue",
                *self.settings.command_options,
                f"--user={self.transport.uid}",
                "-h",
                "-t",
                "all",
                f"--name={tag}",
                "-o",
                "%F|%j",  # the job name last: whatever it holds cannot move the id
            ]
        )
        if result.code != 0:
            return None
        ids = []
        for line in result.stdout.splitlines():
            job_id, bar, name = line.partition("|")
            if bar and name == tag and job_id.isdigit() and job_id not in ids:
                ids.append(job_id)
        return sorted(ids, key=int)

    async def attach(self, spec: JobSpec, job_id: str, packed: bool) -> JobOutcome:
        """Follow a job submitted by an earlier runner (``--resume``): a case's own job, or
        the pack it was in (followed once, however many of its cases wait for it)."""
        job = self.queue.jobs.get(job_id)
        if job is None:
            loop = asyncio.get_running_loop()
            watched = spec
            if packed:  # the pack job itself: its own status file does not exist
                folder = PurePosixPath(spec.workdir)
                watched = JobSpec(
                    f"assay-pack-{job_id}",
                    folder / "pack.sh",
                    folder,
                    folder / "pack.out",
                    folder / "pack.err",
                )
            job = Job(job_id, watched, loop.create_future(), time.time(), state="UNKNOWN")
            job.lost_ok = True
            self.queue.jobs[job_id] = job
            self.queue.start_polling()
        try:
            outcome = await asyncio.shield(job.future)
        except asyncio.CancelledError:
            await self._cancel([job.id])
            raise
        if packed and outcome.state != JobState.LOST:
            return await member_outcome(self.transport, spec, outcome)
        return outcome

    async def _command(self, argv: Sequence[str]) -> CommandResult:
        return await self.transport.run(argv, timeout=max(60.0, self.settings.poll_max * 3))

    # -- stopping -------------------------------------------------------------------------

    async def _cancel(self, ids: Sequence[str]) -> None:
        if ids:
            await self._command(["scancel", *self.settings.command_options, *ids])

    async def shutdown(self) -> None:
        active = await self.queue.stop()
        await self._cancel([j.id for j in active])
        for tag in self._unsure:  # a job whose sbatch was stopped may exist all the same
            await self._command(
                [
                    "scancel",
                    *self.settings.command_options,
                    f"--user={self.transport.uid}",
                    f"--name={tag}",
                ]
            )
        for job in active:
            self.queue.resolve(job, JobOutcome(JobState.CANCELLED, reason="cancelled by assay"))


class SubmitError(SchedulerError):
    """sbatch refused a job for a reason that trying again will not fix."""


def slurm_filename(path: PurePosixPath, pattern: bool = False) -> str:
    """``path`` as sbatch's ``--output`` takes it. Slurm expands ``%`` patterns (``%j``,
    ``%x``...) in it, so a ``%`` of the path is written ``%%``, unless the path holds a
    backslash: that turns every pattern off, and ``\\\\`` stands for one backslash (Slurm
    22.05, src/slurmd/common/fname.c). With ``pattern`` the file name is a pattern on
    purpose; its directory is still literal."""
    text = str(path)
    if "\\" in text:
        if pattern:
            raise ScriptError(f"{path}: a file name pattern cannot be used under a backslash")
        return text.replace("\\", "\\\\")
    if pattern:
        return os.path.join(str(path.parent).replace("%", "%%"), path.name)
    return text.replace("%", "%%")


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
    if result.code == UNKNOWN:  # no answer in time, or the connection was lost
        return True
    text = (result.stderr + result.stdout).lower()
    return any(word in text for word in _TRANSIENT_WORDS)


def parsable_job_id(stdout: str) -> str:
    """The job id in ``sbatch --parsable``'s answer (``ID`` or ``ID;CLUSTER``), or "" when
    there is none or it is not clear which it is. A site's sbatch wrapper may print lines of
    its own around it: the id is the one line that is only digits (with its ``;CLUSTER``);
    no such line, or more than one (a wrapper's bare count after the id), and "" has the
    job looked for by its name."""
    found = ""
    for line in stdout.splitlines():
        job_id = line.strip().split(";")[0]
        if job_id.isascii() and job_id.isdigit():
            if found:
                return ""  # which is the id? the job's name says
            found = job_id
    return found


def _first_line(result: CommandResult) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[0] if text else f"exit code {result.code}"
