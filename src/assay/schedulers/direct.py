"""The direct scheduler: a job is a process group on the partition's host, started now."""

from __future__ import annotations

import asyncio

from assay.schedulers.base import JobOutcome, JobSpec, JobState, Scheduler
from assay.schedulers.local_exec import drops_caps, job_argv, job_env
from assay.transports.local import LocalTransport


class DirectScheduler(Scheduler):
    """Runs each job script with bash as soon as the runner has a slot for it, as one process
    (:mod:`assay.schedulers.local_exec`)."""

    name = "direct"

    def __init__(self, transport: LocalTransport, grace: float = 2.0) -> None:
        self.transport = transport
        self.grace = grace

    async def run(self, spec: JobSpec) -> JobOutcome:
        drop = drops_caps(spec.protect_inputs)
        proc = self.transport.spawn(
            job_argv(spec.script, drop),
            cwd=spec.workdir,
            stdout=spec.stdout,
            stderr=spec.stderr,
            env=job_env(drop),
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
            self.transport.end(proc)
        code, sig = _split(status)
        state = JobState.COMPLETED if status == 0 else JobState.FAILED
        return JobOutcome(state, code, sig, job_id=str(proc.pid))

    async def shutdown(self) -> None:
        await self.transport.shutdown(self.grace)


def _split(status: int) -> tuple[int | None, int | None]:
    """(exit code, signal) from a Popen status (negative = killed by that signal)."""
    return (None, -status) if status < 0 else (status, None)
