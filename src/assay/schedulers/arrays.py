"""Job arrays: cases that need the same resources and time, submitted together as one
array job (one ``sbatch``), each array task running one case's own job script.

Each task is followed like any job (``JOBID_TASK`` in ``squeue``), so a case's outcome is
known when its task ends, not when the whole array does. ``%`` in ``--array`` keeps Slurm
from running more tasks at once than the partition's ``max_jobs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath

from assay import shell
from assay.schedulers.base import JobOutcome, JobResources, JobSpec
from assay.schedulers.batching import Collector, Waiting, fail_all
from assay.schedulers.jobscript import compose
from assay.transports.base import Transport, write_text

SubmitArray = Callable[[JobSpec, list[Waiting]], Awaitable[None]]


class Arrays(Collector):
    """Collects run stages that are not packed; several alike ones become one array job."""

    def __init__(
        self,
        transport: Transport,
        workdir: PurePosixPath,
        run_single: Callable[[JobSpec], Awaitable[JobOutcome]],
        submit_array: SubmitArray,
        header: Callable[[JobSpec], list[str]],
        max_parallel: int,
    ) -> None:
        super().__init__("arrays")
        self.transport = transport
        self.workdir = workdir
        self._run_single = run_single
        self._submit_array = submit_array
        self._header = header
        self.max_parallel = max(1, max_parallel)
        self._count = 0
        self.arrays = 0

    def dispatch(self, batch: list[Waiting]) -> list[list[Waiting]]:
        groups: dict[tuple[JobResources, float | None], list[Waiting]] = {}
        for waiting in batch:
            key = (waiting.spec.resources, waiting.spec.time_limit)
            groups.setdefault(key, []).append(waiting)
        return list(groups.values())

    async def submit(self, group: list[Waiting]) -> None:
        # Under a directory with a backslash Slurm expands no file name pattern, so the
        # tasks could not have an output file each (%a): such cases go one by one.
        if len(group) == 1 or "\\" in str(self.workdir):
            await asyncio.gather(*(self._single(w) for w in group))
            return
        self._count += 1
        self.arrays += 1
        folder = self.workdir / f"array-{self._count:04d}"
        first = group[0].spec
        spec = JobSpec(
            name=f"assay-array-{self._count:04d}",
            script=folder / "array.sh",
            workdir=folder,
            stdout=folder / "task-%a.out",
            stderr=folder / "task-%a.err",
            time_limit=first.time_limit,
            resources=first.resources,
            output_pattern=True,
        )
        try:
            script = self._script(spec, group)
            await self.transport.mkdir(folder)
            await write_text(self.transport, spec.script, script)
            await self._submit_array(spec, group)
        except BaseException as exc:
            fail_all(group, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise

    def _script(self, spec: JobSpec, group: list[Waiting]) -> str:
        branches = []
        for index, waiting in enumerate(group):
            s = waiting.spec
            branches.append(
                f"    {index}) exec /bin/bash {shell.quote(s.script)} "
                f"> {shell.quote(s.stdout)} 2> {shell.quote(s.stderr)} ;;"
            )
        throttle = f"%{self.max_parallel}" if self.max_parallel < len(group) else ""
        return compose(
            [
                "#!/bin/bash",
                *self._header(spec),
                f"#SBATCH --array=0-{len(group) - 1}{throttle}",
                f"# assay array of {len(group)} case(s): task N runs case N's own job script",
                'case "$SLURM_ARRAY_TASK_ID" in',
                *branches,
                "esac",
                'echo "assay: no case for array task $SLURM_ARRAY_TASK_ID" >&2',
                "exit 98",
            ]
        )

    async def _single(self, waiting: Waiting) -> None:
        """A case that shares its array with no other: a job of its own."""
        try:
            outcome = await self._run_single(waiting.spec)
        except BaseException as exc:
            fail_all([waiting], exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not waiting.future.done():
            waiting.future.set_result(outcome)
