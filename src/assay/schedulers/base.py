"""What every scheduler offers: run a job script to its end, and stop everything on shutdown.

A scheduler reaches its host only through its :class:`~assay.transports.base.Transport`:
commands (``sbatch``, ``squeue``), processes and files (job scripts, status files) all go
through it, so the same scheduler runs on this machine and behind an SSH connection.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, ClassVar

import msgspec

from assay.files import open_job_file
from assay.transports.base import Staging, Transport, read_text

STATUS_SUFFIX = ".status"
"""Appended to a job's stdout path: the file where the job records how it ended."""


def status_path(spec: JobSpec) -> PurePosixPath:
    """Where ``spec``'s job records how it ended."""
    return PurePosixPath(str(spec.stdout) + STATUS_SUFFIX)


async def read_status(
    transport: Transport, path: PurePosixPath, job_id: str | None
) -> dict[str, Any] | None:
    """A job's status file on the transport's host, unless it is missing, unreadable, or
    written by another job than ``job_id`` (a job Slurm gave up on, still running on a node
    that went away, writes where the next attempt's job writes its own).

    On this machine it is read only when it is a regular file, never through a link at
    its name: the job writes it in a directory the job can write, and this process may
    have privileges the job lacked (a remote host's is read as the job's user)."""
    if transport.remote:
        return parse_status(await read_text(transport, path), job_id)
    return parse_status(local_status_text(path), job_id)


STATUS_BYTES = 1 << 16
"""Bytes of a status file read at most (a few fields of JSON; more is no status)."""


def local_status_text(path: PurePosixPath) -> str | None:
    """The text of a local status file, or None (missing, unreadable, a symbolic link,
    a FIFO or anything but a regular file, in a stage dir a job swapped for a link, or
    larger than :data:`STATUS_BYTES`)."""
    try:
        with open_job_file(str(path)) as fh:
            data = fh.read(STATUS_BYTES + 1)
    except OSError:
        return None
    return None if len(data) > STATUS_BYTES else data.decode(errors="replace")


def parse_status(text: str | None, job_id: str | None) -> dict[str, Any] | None:
    """The status a status file's text records (see :func:`read_status`)."""
    if text is None:
        return None
    import json  # (here: no run needs it before its first case)

    try:
        status = json.loads(text)
    except ValueError:
        return None
    if not isinstance(status, dict):
        return None
    writer = status.get("job")
    if writer and job_id and str(writer) != job_id:
        return None
    return status


def recorded_elapsed(status: Mapping[str, object]) -> float | None:
    """Seconds between a status file's ``started`` and ``ended``: numbers (the pack runner)
    or ``$EPOCHREALTIME`` text, with a comma where the locale says so (a job script)."""
    try:
        started, ended = (float(str(status[k]).replace(",", ".")) for k in ("started", "ended"))
    except (KeyError, ValueError):
        return None  # not recorded, or bash older than 5.0 (no $EPOCHREALTIME)
    return ended - started if ended >= started else None


class JobState(enum.StrEnum):
    """How a job ended."""

    COMPLETED = "COMPLETED"  # exit code 0
    FAILED = "FAILED"  # nonzero exit code or killed by a signal
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    NODE_FAIL = "NODE_FAIL"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    LOST = "LOST"  # the scheduler no longer knows the job (it must be run again)


class JobResources(msgspec.Struct, frozen=True):
    """What a job asks for."""

    nodes: int = 1
    tasks: int = 1
    tasks_per_node: int | None = None
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    exclusive: bool = False


@dataclass(frozen=True)
class JobSpec:
    """One job: a script to run in a directory, with its outputs going to files. The paths
    are the paths on the scheduler's host."""

    name: str
    script: PurePosixPath
    workdir: PurePosixPath
    stdout: PurePosixPath
    stderr: PurePosixPath
    time_limit: float | None = None
    resources: JobResources = JobResources()  # noqa: RUF009 - frozen: one default for all
    # Seconds the run is expected to take, from the results database (None: never seen).
    expected: float | None = None
    # A comparison to run inside the job, where the outputs are: (spec file, verdict file).
    compare: tuple[PurePosixPath, PurePosixPath] | None = None
    # The file names of stdout and stderr are the scheduler's file name patterns on
    # purpose (a job array's ``task-%a.out``); every other character of a path is literal.
    output_pattern: bool = False
    # The job sees read-only links into the artifact store: run as root, it must not keep
    # the capabilities that override file modes (a local job drops them as it starts).
    protect_inputs: bool = False
    # A pack's jobs: the names of the cases' own specs it runs (their states are the pack's).
    members: tuple[str, ...] = ()
    # The case's files for ``workdir``, written by the request that starts the job (only
    # for a scheduler that ``takes_staging``).
    staging: Staging | None = field(default=None, compare=False)
    # What the script does when that is only to set variables and run one program: (argv,
    # variables). A local job may start that program itself, without bash.
    direct: tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None = None


class SchedulerError(Exception):
    """A job could not be run, for a reason the message gives (with where to fix it); the
    case fails with it as its reason."""


class JobOutcome(msgspec.Struct, frozen=True):
    """How a job ended: state, exit code (or the signal that killed it), and why."""

    state: JobState
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    job_id: str | None = None
    elapsed: float | None = None
    """Seconds the script ran, measured where it ran (not counting time in a queue)."""
    nodes: str | None = None
    """Where it ran, as the scheduler names nodes (Slurm's node list: ``c1``, ``c[1-2]``);
    None where the scheduler does not say (this machine)."""


class Scheduler(abc.ABC):
    """Runs job scripts on a partition's resources, on the host its transport reaches."""

    name: ClassVar[str]
    transport: Transport

    @property
    def compares_in_job(self) -> bool:
        """Whether comparisons of outputs run inside the job, where the outputs are (a batch
        job on a cluster, a process on a remote host): the job's footer runs them."""
        return False

    @property
    def takes_staging(self) -> bool:
        """Whether :meth:`run` writes a spec's ``staging`` into its workdir as it starts the
        job (one request to a remote host, not two)."""
        return False

    @property
    def runs_here(self) -> bool:
        """Whether jobs run as processes of this machine that the runner starts and waits
        for (no batch system, no remote host): a case's small inputs may then be copied
        into its stage dir instead of staged from the store."""
        return False

    @property
    def runs_builds(self) -> bool:
        """Whether build jobs go to this scheduler too; if not, builds run directly on the
        partition's host (this machine, or the SSH host)."""
        return False

    def header(self, spec: JobSpec) -> list[str]:
        """Lines for the top of the job script: directives (e.g. ``#SBATCH``), then any
        commands that must run first."""
        return []

    def footer(self, spec: JobSpec) -> list[str]:
        """Lines run after the command with its exit code in ``$assay_status`` (e.g. to
        record it where the submitting side can read it)."""
        return []

    def case_slots(self, max_jobs: int) -> int:
        """How many cases of a partition may be in flight at once (queued or running)."""
        return max_jobs

    @abc.abstractmethod
    async def run(self, spec: JobSpec) -> JobOutcome:
        """Run ``spec`` to its end. Cancelling the call stops the job."""

    async def attach(self, spec: JobSpec, job_id: str, packed: bool) -> JobOutcome:
        """Follow a job an earlier runner submitted (``--resume``); LOST if it cannot."""
        return JobOutcome(JobState.LOST, reason=f"{self.name} jobs cannot be followed again")

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """Stop every job still running (used on interrupt and on errors)."""
