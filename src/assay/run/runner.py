"""The event loop that drives cases: slots per partition, dependencies, retries, interrupts.

Every case is one asyncio task. A task waits for its dependencies, takes a
slot on its partition (and the global slot under the serial policy), and runs
the pipeline; nothing polls. Cancelling :meth:`Runner.run` stops every job,
marks unfinished cases aborted and returns what was obtained.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from assay.define.test import DependencyInfo
from assay.plan import Case
from assay.results.journal import Journal, Recovered
from assay.results.model import CaseResult, Failure, Status
from assay.run.describe import new_result
from assay.run.pipeline import Execution, RunContext, case_dirname


class Events(Protocol):
    """What the runner tells the user interface as cases move."""

    def case_started(self, case: Case, attempt: int) -> None: ...

    def case_stage(self, case: Case, stage: str) -> None:
        """A case's attempt begins one of its stages (setup, build, run, ... cleanup)."""

    def case_retrying(self, result: CaseResult, attempt: int) -> None: ...

    def case_finished(self, result: CaseResult) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """How to run: retries, serial policy, stage dirs, grace period on interrupt."""

    max_retries: int = 0
    serial: bool = False
    keep_stage: bool = False


def _max_jobs(cases: list[Case], partition: str) -> int:
    return next(c.partition.max_jobs for c in cases if c.partition.full_name == partition)


class Runner:
    """Runs the cases of a plan and collects one result per case."""

    def __init__(
        self,
        cases: list[Case],
        ctx: RunContext,
        options: RunOptions,
        events: Events,
        journal: Journal | None = None,
        recovered: Recovered | None = None,
    ) -> None:
        self.cases = cases
        self.ctx = ctx
        self.options = options
        self.events = events
        self.results: dict[int, CaseResult] = {}
        self._done = {id(c): asyncio.Event() for c in cases}
        self._waiting_dependents = {id(c): len(c.dependents) for c in cases}
        self._slots = {
            name: asyncio.Semaphore(scheduler.case_slots(_max_jobs(cases, name)))
            for name, scheduler in ctx.schedulers.items()
        }
        self._serial = asyncio.Semaphore(1)
        self._running: dict[int, Execution] = {}
        self.journal = journal
        self.recovered = recovered or Recovered()

    async def run(self) -> list[CaseResult]:
        """Run every case; on cancellation, stop jobs and return what was obtained."""
        tasks = [asyncio.create_task(self._drive(c), name=c.name) for c in self.cases]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for scheduler in set(self.ctx.schedulers.values()):
                await scheduler.shutdown()
            await self.ctx.local.shutdown(self.ctx.grace)
        for case in self.cases:
            if id(case) not in self.results:
                self.results[id(case)] = new_result(case, Status.ABORTED)
                self.results[id(case)].failure = Failure("setup", "interrupted before it started")
        return [self.results[id(c)] for c in self.cases]

    async def _drive(self, case: Case) -> None:
        earlier = self.recovered.results.get(case.key)
        if earlier is not None:  # finished before the runner was stopped: keep it
            self._finish(case, earlier, record=False)
            self.events.case_finished(earlier)
            return
        try:
            if case.after is not None:  # samples of one case never overlap
                await self._done[id(case.after)].wait()
            for dep in case.deps:
                await self._done[id(dep)].wait()
            failed = [d for d in case.deps if self.results[id(d)].status != Status.PASSED]
            if failed:
                names = ", ".join(d.name for d in failed)
                result = new_result(case, Status.SKIPPED, f"dependency failed: {names}")
            elif case.skip:
                result = new_result(case, Status.SKIPPED, case.skip)
            else:
                result = await self._attempts(case)
        except asyncio.CancelledError:
            execution = self._running.pop(id(case), None)
            if execution is not None:
                result = execution.result
                result.status = Status.ABORTED
                if result.failure is None:  # interrupted between stages
                    result.failure = Failure("cleanup", "interrupted")
                self._finish(case, result)
                await self._announce(result)
            raise
        self._finish(case, result)
        await self._announce(result)

    async def _announce(self, result: CaseResult) -> None:
        """Show a finished case's verdict once its result is on disk (a power cut after the
        user saw it must not lose it)."""
        try:
            if self.journal is not None:
                await self.journal.sync()
        finally:
            self.events.case_finished(result)

    async def _attempts(self, case: Case) -> CaseResult:
        earlier: list[Failure] = []
        attempt = 1
        while True:
            async with self._slot(case):
                self.events.case_started(case, attempt)
                attach = self.recovered.jobs.get(case.key) if attempt == 1 else None
                execution = Execution(
                    case,
                    self.ctx,
                    attempt,
                    self._dependency_info(case),
                    attach,
                    on_stage=functools.partial(self.events.case_stage, case),
                )
                self._running[id(case)] = execution
                result = await execution.execute()
                del self._running[id(case)]
            if result.status != Status.FAILED or attempt > self.options.max_retries:
                break
            assert result.failure is not None
            earlier.append(result.failure)
            attempt += 1
            self.events.case_retrying(result, attempt)
        result.earlier_failures = earlier
        return result

    @contextlib.asynccontextmanager
    async def _slot(self, case: Case) -> AsyncIterator[None]:
        async with self._slots[case.partition.full_name]:
            if self.options.serial:
                async with self._serial:
                    yield
            else:
                yield

    def _finish(self, case: Case, result: CaseResult, record: bool = True) -> None:
        self.results[id(case)] = result
        self._done[id(case)].set()
        if record and self.journal is not None:
            self.journal.result(result)
        # A passed dependency keeps its stage dir until its last dependent is done.
        for dep in case.deps:
            self._waiting_dependents[id(dep)] -= 1
            dep_result = self.results[id(dep)]
            if (
                self._waiting_dependents[id(dep)] == 0
                and dep_result.status == Status.PASSED
                and not self.options.keep_stage
                and dep_result.stage_dir
            ):
                shutil.rmtree(dep_result.stage_dir, ignore_errors=True)
                dep_result.stage_dir = None

    def _dependency_info(self, case: Case) -> list[DependencyInfo]:
        out = []
        for dep in case.deps:
            result = self.results[id(dep)]
            out.append(
                DependencyInfo(
                    test=dep.test.__name__,
                    name=dep.name,
                    params=dep.variant.params,
                    stage_dir=self.ctx.stage_root / case_dirname(dep),
                    output_dir=Path(result.output_dir or self.ctx.output_root / case_dirname(dep)),
                    metrics={m.name: m.value for m in result.metrics if m.value is not None},
                )
            )
        return out
