"""The direct scheduler: a job is a process group on the partition's host, started now.

On this machine the runner supervises the process itself. On a remote host (a transport
that is not local) the job's outputs stay there, so the job compares them itself: its
footer runs the shipped comparison engine, and only the verdict has to come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from assay.schedulers.base import JobOutcome, JobSpec, JobState, Scheduler
from assay.schedulers.jobfiles import JobFiles
from assay.schedulers.jobscript import compare_step
from assay.schedulers.local_exec import Drop, caps_drop, direct_start, job_argv, job_env
from assay.transports.base import Transport


class DirectScheduler(Scheduler):
    """Runs each job script with bash as soon as the runner has a slot for it, as one process
    (:mod:`assay.schedulers.local_exec`)."""

    name = "direct"

    def __init__(
        self, transport: Transport, grace: float = 2.0, job_files: JobFiles | None = None
    ) -> None:
        self.transport = transport
        self.grace = grace
        self.job_files = job_files

    @property
    def takes_staging(self) -> bool:
        return self.transport.remote

    @property
    def runs_here(self) -> bool:
        return not self.transport.remote

    @property
    def compares_in_job(self) -> bool:
        return self.transport.remote and self.job_files is not None

    def footer(self, spec: JobSpec) -> list[str]:
        if spec.compare is None or not self.compares_in_job or self.job_files is None:
            return []
        return [compare_step(self.transport.python, self.job_files.compare(), spec.compare)]

    async def run(self, spec: JobSpec) -> JobOutcome:
        if spec.compare is not None and self.compares_in_job and self.job_files is not None:
            await self.job_files.ship("compare")
        # On a remote host the script's own guard drops the capabilities (this machine's
        # euid and setpriv say nothing about that host's).
        # Here they are dropped in the runner's thread, or (where the kernel refuses that)
        # the case's store inputs are copies: never behind setpriv, which the kernel refuses
        # the same way, silently (links_safe).
        drop = not self.transport.remote and caps_drop(spec.protect_inputs) is Drop.IN_RUNNER
        started = None
        if spec.direct is not None and not self.transport.remote:
            # The script's one program, started without bash: one execve.
            words, variables = spec.direct
            started = direct_start((words, dict(variables)), spec.workdir, drop, wrapper=False)
        env: Mapping[str, str] | None
        executable: str | None
        if started is not None:
            argv, env, executable = started
        else:
            argv, env, executable = job_argv(spec.script, False), job_env(drop), None
        proc = await self.transport.spawn(
            argv,
            cwd=spec.workdir,
            stdout=spec.stdout,
            stderr=spec.stderr,
            env=env,
            time_limit=spec.time_limit,
            staging=spec.staging,
            executable=executable,
            drop_caps=drop,
        )
        try:
            if spec.time_limit is None:
                status = await proc.wait()
            else:
                async with asyncio.timeout(spec.time_limit):
                    status = await proc.wait()
        except TimeoutError:
            status = await proc.terminate(self.grace)
            return JobOutcome(JobState.TIMEOUT, *_split(status), job_id=str(proc.pid))
        except asyncio.CancelledError:
            await proc.terminate(self.grace)
            raise
        finally:
            # Whatever the job left running, in its group or out of it, goes with it.
            await self.transport.end(proc)
        code, sig = _split(status)
        state = JobState.COMPLETED if status == 0 else JobState.FAILED
        return JobOutcome(state, code, sig, job_id=str(proc.pid))

    async def shutdown(self) -> None:
        await self.transport.shutdown(self.grace)


def _split(status: int) -> tuple[int | None, int | None]:
    """(exit code, signal) from a Popen status (negative = killed by that signal)."""
    return (None, -status) if status < 0 else (status, None)
