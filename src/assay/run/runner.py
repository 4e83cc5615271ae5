"""The event loop that drives cases: slots per partition, dependencies, retries, interrupts.

A case waits for its dependencies (counted down as they finish), then for a
slot on its partition (and the global caps: --serial, --max-cases) in a queue
of :mod:`assay.run.dispatch`; only once it has them does it get its asyncio
task, which runs the pipeline (and its retries); nothing polls. Slots go to the
waiting case with the longest expected work first (see :mod:`assay.run.priority`).
Cancelling :meth:`Runner.run` stops every job, marks unfinished cases aborted and
returns what was obtained.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path, PurePath
from typing import Protocol

import msgspec

from assay.define.test import DependencyInfo
from assay.plan import Case
from assay.results.journal import Journal, Recovered
from assay.results.model import NOT_STARTED, CaseResult, Failure, Status
from assay.run.context import RunContext, case_dirname
from assay.run.describe import new_result
from assay.run.dispatch import Dispatch
from assay.run.eta import Estimator
from assay.run.pipeline import Execution
from assay.run.sites import Site


class Recording(Protocol):
    """Where finished cases are recorded besides the journal (the results database)."""

    def case_finished(self, result: CaseResult) -> None: ...

    def last_running(self) -> None:
        """No case waits for a slot any more: the ones running are the last."""


class Events(Protocol):
    """What the runner tells the user interface as cases move."""

    def case_started(self, case: Case, attempt: int) -> None: ...

    def case_stage(self, case: Case, stage: str) -> None:
        """A case's attempt begins one of its stages (setup, build, run, ... cleanup)."""

    def case_retrying(self, result: CaseResult, attempt: int) -> None: ...

    def case_finished(self, result: CaseResult) -> None: ...


class RunOptions(msgspec.Struct, frozen=True):
    """How to run: retries, serial policy, stage dirs, a cap on the cases that run at once
    across partitions, and whether the first failure stops the session (``exit_first``;
    with ``cancel_running`` it also cancels the cases running then)."""

    max_retries: int = 0
    serial: bool = False
    keep_stage: bool = False
    max_cases: int | None = None
    exit_first: bool = False
    cancel_running: bool = False


# The one queue of a --serial run's cases (see Runner._make_dispatch).
_ONE = "(serial)"


def _max_jobs(cases: list[Case], partition: str) -> int:
    return next(c.partition.max_jobs for c in cases if c.partition.full_name == partition)


class _Hold:
    """An attempt's hold on its pool's slots: given back as its job ended
    (``released_early``: see :meth:`Runner._early_release`), or when the attempt ends."""

    __slots__ = ("pool", "released_early")

    def __init__(self, pool: str) -> None:
        self.pool = pool
        self.released_early = False


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
        priority: dict[str, float] | None = None,
        recorded: dict[str, float] | None = None,
        recorder: Recording | None = None,
    ) -> None:
        """``priority``: by case key (one per repetition), higher starts first (see
        :mod:`assay.run.priority`); ``recorded``: expected seconds by case key from history,
        for the time-left estimate."""
        self.cases = cases
        self.ctx = ctx
        self.options = options
        self.events = events
        self.results: dict[int, CaseResult] = {}
        self._waiting_dependents = {id(c): len(c.dependents) for c in cases}
        self.slot_counts = {
            name: place.scheduler.case_slots(_max_jobs(cases, name))
            for name, place in ctx.places.items()
        }
        # (see _make_dispatch)
        self._serial_only = options.serial and all(
            n >= 1 for n in [*self.slot_counts.values(), options.max_cases or 1]
        )
        self.priority = priority or {}
        self._running: dict[int, Execution] = {}
        # id(dependency) -> the remote sites its stage dir was shipped to, by id
        self._shipped: dict[int, dict[int, Site]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}  # by id(case): those not ended yet
        self._unmet: dict[int, int] = {}  # by id(case): what it still waits for
        self._waiting_on: dict[int, list[Case]] = {}  # id(case) -> the cases waiting for it
        self._started = False  # (cases become ready as others finish: see run)
        self._dispatch: Dispatch[Case] = self._make_dispatch()
        # Cases whose job has ended and whose slots went to the next case, by pool (see
        # _early_release), at most as many as the pool's slots.
        self._check_limit = (
            {_ONE: 1} if self._serial_only else {n: max(1, c) for n, c in self.slot_counts.items()}
        )
        self._checking = dict.fromkeys(self._check_limit, 0)
        self._early = self._early_pools()
        self._all_done: asyncio.Future[None] | None = None
        self._stopped_by: str | None = None  # the case whose failure stopped the session
        self._cancelled: set[int] = set()  # cases cancelled because of that failure
        self.journal = journal
        self.recorder = recorder
        self.recovered = recovered or Recovered()
        if options.serial:
            pools = [(c.key, "serial") for c in cases]
            counts = {"serial": 1}
        elif options.max_cases and options.max_cases < sum(self.slot_counts.values()):
            # --max-cases caps every partition's cases together: one pool of that size.
            pools = [(c.key, "all") for c in cases]
            counts = {"all": options.max_cases}
        else:
            pools = [(c.key, c.partition.full_name) for c in cases]
            counts = self.slot_counts
        self.eta = Estimator(pools, recorded or {}, counts, self.priority)
        # Once no more cases are left than can run at once, none waits for a slot (as far
        # as slots go: a dependent may still wait for its dependency): the recorder writes
        # what waits for its batch while they run (see Recorder.last_running).
        self._last_running_at = sum(counts.values())

    @property
    def one_at_a_time(self) -> bool:
        """Whether no two cases run at once (``--serial``, or a single slot)."""
        caps = [sum(self.slot_counts.values())]
        if self.options.max_cases:
            caps.append(self.options.max_cases)
        return self.options.serial or min(caps) <= 1

    async def run(self) -> list[CaseResult]:
        """Run every case; on cancellation, stop jobs and return what was obtained."""
        self._all_done = asyncio.get_running_loop().create_future()
        # What each case waits for (its dependencies, the repetition before it), counted
        # down as those finish: a case becomes ready at zero (see _finish).
        unmet = self._unmet
        for case in self.cases:
            n = len(case.deps)
            for dep in case.deps:
                self._waiting_on.setdefault(id(dep), []).append(case)
            if case.after is not None:  # samples of one case never overlap
                n += 1
                self._waiting_on.setdefault(id(case.after), []).append(case)
            unmet[id(case)] = n
        # Cases finished before the runner was stopped (a resumed session) keep their
        # results, whatever they waited for; then every case that waits for nothing more
        # is ready, in the plan's order.
        recovered = self.recovered.results
        if recovered:
            for case in self.cases:
                earlier = recovered.get(case.key)
                if earlier is not None:
                    self.eta.case_kept(case.key)  # (not left to run: not in the estimate)
                    self._finish(case, earlier, record=False)
                    self.events.case_finished(earlier)
        self.eta.note_first()  # (after those: before, it counted them as left to run)
        self._started = True
        for case in self.cases:
            if unmet[id(case)] == 0 and id(case) not in self.results:
                self._ready(case)
        self._check_done()
        try:
            await self._all_done
        except asyncio.CancelledError:
            self._dispatch.close()
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._dispatch.close()
            for place in self.ctx.places.values():
                await place.scheduler.shutdown()
            for transport in self.ctx.transports:
                await transport.shutdown(self.ctx.grace)
        for case in self.cases:
            if id(case) not in self.results:
                self.results[id(case)] = new_result(case, Status.ABORTED)
                self.results[id(case)].failure = Failure("setup", NOT_STARTED)
        return [self.results[id(c)] for c in self.cases]

    def _make_dispatch(self) -> Dispatch[Case]:
        """The queues of cases waiting for slots (see :mod:`assay.run.dispatch`). Under
        --serial the one global slot is all a case needs: a partition's slots (and
        --max-cases's) can never be short while no other case runs, and taking them too
        would cost their bookkeeping per case (none has fewer than one slot: such a
        partition's cases would never start, and still never do)."""
        if self._serial_only:
            return Dispatch({_ONE: 1}, [], self._begin)
        shared = []
        if self.options.max_cases:
            shared.append(self.options.max_cases)
        if self.options.serial:
            shared.append(1)
        return Dispatch(dict(self.slot_counts), shared, self._begin)

    def _pool(self, case: Case) -> str:
        """The queue ``case`` waits in for its slots."""
        return _ONE if self._serial_only else case.partition.full_name

    def _ready(self, case: Case) -> None:
        """``case`` waits for nothing more: it takes its slots, or settles at once (a skip,
        a failed dependency) without any."""
        if self._dispatch.closed:
            return
        if case.deps:
            failed = [d for d in case.deps if self.results[id(d)].status != Status.PASSED]
            if failed:
                names = ", ".join(d.name for d in failed)
                result = new_result(case, Status.SKIPPED, f"dependency failed: {names}")
                self._spawn(case, self._drive(case, result))
                return
        if case.skip:
            self._spawn(case, self._drive(case, new_result(case, Status.SKIPPED, case.skip)))
            return
        self._dispatch.ready(self._pool(case), case, self.priority.get(case.key, 0.0))

    def _begin(self, case: Case) -> None:
        """``case`` has its slots: its task starts (its first attempt)."""
        self._spawn(case, self._drive(case))

    def _spawn(self, case: Case, coro: Coroutine[None, None, None]) -> None:
        self._tasks[id(case)] = asyncio.create_task(coro, name=case.name)

    def _check_done(self) -> None:
        """The run is done once every case has its result and no task is left."""
        done = self._all_done
        if not self._tasks and len(self.results) == len(self.cases) and done and not done.done():
            done.set_result(None)

    async def _drive(self, case: Case, result: CaseResult | None = None) -> None:
        """A case's task: its attempts (the first one's slots taken), or ``result`` (a
        case settled without running), then its result recorded and announced."""
        try:
            await self._settle(case, result)
        except Exception as exc:  # a bug of assay's: the run ends with the first one
            done = self._all_done
            if done is None or done.done():
                raise  # (a later one, or during a stop: the task's own, as gather left it)
            done.set_exception(exc)
        finally:
            del self._tasks[id(case)]
            self._check_done()

    async def _settle(self, case: Case, result: CaseResult | None) -> None:
        try:
            if result is None:
                result = await self._attempts(case)
        except asyncio.CancelledError:
            execution = self._running.pop(id(case), None)
            stopped = id(case) in self._cancelled
            if execution is not None:
                result = execution.result
                result.status = Status.ABORTED
                if stopped:
                    stage = result.failure.stage if result.failure else "cleanup"
                    result.failure = Failure(stage, f"cancelled: {self._stop_reason()}")
                elif result.failure is None:  # interrupted between stages
                    result.failure = Failure("cleanup", "interrupted")
                self._finish(case, result)
                await self._announce(result)
            if not stopped:
                raise
            task = asyncio.current_task()
            if task is not None:  # this case alone was stopped; the run goes on
                task.uncancel()
            return
        self._finish(case, result)
        await self._announce(result)

    def _stop(self, failed: Case) -> None:
        """``--exit-first``: no case starts after this one failed; with ``cancel_running``
        the cases running now are cancelled (each stops as on an interrupt)."""
        if self._stopped_by is not None:
            return
        self._stopped_by = failed.name
        if not self.options.cancel_running:
            return
        for key in list(self._running):
            self._cancelled.add(key)
            self._tasks[key].cancel()

    def _stop_reason(self) -> str:
        return f"--exit-first: {self._stopped_by} failed"

    async def _announce(self, result: CaseResult) -> None:
        """Show a finished case's verdict once its result is on disk (a power cut after the
        user saw it must not lose it)."""
        try:
            if self.journal is not None:
                # The last case's verdict: no later one will share its sync, which would
                # only wait for the interval (and the session's end with it).
                await self.journal.sync(at_once=len(self.results) == len(self.cases))
        finally:
            self.events.case_finished(result)

    async def _attempts(self, case: Case) -> CaseResult:
        earlier: list[Failure] = []
        attempt = 1
        pool = self._pool(case)
        while True:
            if attempt > 1:  # (the first attempt's slots were taken before its task began)
                await self._dispatch.again(pool, case, self.priority.get(case.key, 0.0))
            done = False  # (ended for good: its slots go to the waiters at once)
            hold = _Hold(pool)
            try:
                if self._stopped_by is not None:  # --exit-first: start nothing more
                    return self._not_started(case, earlier)
                self.eta.case_started(case.key)
                self.events.case_started(case, attempt)
                attach = self.recovered.jobs.get(case.key) if attempt == 1 else None
                execution = Execution(
                    case,
                    self.ctx,
                    attempt,
                    self._dependency_info(case) if case.deps else [],
                    attach,
                    on_stage=self._on_stage(case),
                )
                if self._early[pool]:
                    execution.after_run = functools.partial(self._early_release, hold)
                self._running[id(case)] = execution
                result = await execution.execute()
                del self._running[id(case)]
                final = result.status == Status.FAILED and attempt > self.options.max_retries
                if final and self.options.exit_first:
                    self._stop(case)  # before its slot frees: no case may start after it
                done = result.status != Status.FAILED or final
            finally:
                if hold.released_early:  # (given back when its job ended: its checks are over)
                    self._checking[pool] -= 1
                else:
                    self._dispatch.release(pool, at_once=done)
            if result.status != Status.FAILED or attempt > self.options.max_retries:
                break
            assert result.failure is not None
            earlier.append(result.failure)
            attempt += 1
            self.events.case_retrying(result, attempt)
        result.earlier_failures = earlier
        return result

    def _early_release(self, hold: _Hold) -> Awaitable[None] | None:
        """A case's job has ended (its run stage is over): its slots go to the next case
        now, whose job then runs while this case's output is checked (sanity, comparisons,
        metrics, cleanup: work of this process, not a job), unless as many cases of the
        pool as it has slots are being checked already. Returns what the case awaits
        before its checks: one turn of the event loop, in which the next case starts."""
        pool = hold.pool
        if self._checking[pool] >= self._check_limit[pool]:
            return None
        self._checking[pool] += 1
        hold.released_early = True
        self._dispatch.release(pool, at_once=True)
        return asyncio.sleep(0)

    def _early_pools(self) -> dict[str, bool]:
        """Whether each pool's slots are given back as a case's job ends rather than once
        its checks are done too. A slot bounds the jobs that run at once; the checks are
        this process's work. Only for this machine's processes (a batch system or a remote
        host compares inside the job, and its queue is what a slot bounds), never under
        ``--exit-first`` (a failure found by the checks must stop every later start), and,
        when cases run one at a time, only if no selected test measures performance (its
        job then never runs beside another case's checks)."""
        places = self.ctx.places
        local = {n: p.scheduler.runs_here and not p.site.remote for n, p in places.items()}
        if self.options.exit_first or not any(local.values()):
            return dict.fromkeys(self._check_limit, False)
        if self.one_at_a_time and any(c.test._assay.metrics for c in self.cases):
            return dict.fromkeys(self._check_limit, False)
        if self._serial_only:
            return {_ONE: all(local.values())}
        return local

    def _on_stage(self, case: Case) -> Callable[[str], None] | None:
        """What a case's attempt tells as each stage begins: nothing, for a display that
        shows no stages (a log), rather than a call per stage that does nothing."""
        if not getattr(self.events, "shows_stages", True):
            return None
        return functools.partial(self.events.case_stage, case)

    def _not_started(self, case: Case, earlier: list[Failure]) -> CaseResult:
        if earlier:  # it failed before: that is its result, not a skip
            result = new_result(case, Status.FAILED)
            result.failure = earlier[-1]
            result.earlier_failures = earlier[:-1]
            return result
        return new_result(case, Status.SKIPPED, f"not run: {self._stop_reason()}")

    def _finish(self, case: Case, result: CaseResult, record: bool = True) -> None:
        self.results[id(case)] = result
        waiting = self._waiting_on.get(id(case))
        if waiting is not None:  # (most cases: nobody waits for them)
            unmet = self._unmet
            for other in waiting:
                unmet[id(other)] -= 1
                if unmet[id(other)] == 0 and self._started:
                    self._ready(other)
        self.eta.case_finished(case.key)
        if record and self.journal is not None:
            self.journal.result(result)
        if self.recorder is not None:  # also a resumed session's earlier results: idempotent
            self.recorder.case_finished(result)
            if len(self.cases) - len(self.results) <= self._last_running_at:
                self.recorder.last_running()
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
                local = Path(dep_result.stage_dir)
                shutil.rmtree(local, ignore_errors=True)
                dep_result.stage_dir = None
                if dep_result.remote_dir:  # and its stage dir on the remote host
                    site = self.ctx.places[dep.partition.full_name].site
                    site.discard(site.job_dir(local))
                    dep_result.remote_dir = None
                # and the copies shipped to its dependents' hosts
                for copy_site in self._shipped.pop(id(dep), {}).values():
                    copy_site.discard(copy_site.job_dir(local))

    def _dependency_info(self, case: Case) -> list[DependencyInfo]:
        out = []
        own = self.ctx.places[case.partition.full_name].site
        for dep in case.deps:
            result = self.results[id(dep)]
            local = self.ctx.stage_root / case_dirname(dep)
            site = self.ctx.places[dep.partition.full_name].site
            # Where the case's commands see the dependency's stage dir:
            if site.remote and not own.remote:  # this machine's copy (what came back)
                stage_dir: PurePath = local
            elif site.remote:  # on its host (the same host: other ones are not reached)
                stage_dir = site.job_dir(local)
            elif own.remote:  # ran here: the case's setup ships it to the case's host,
                stage_dir = own.job_dir(local)  # where a case of that host has its own
                self._shipped.setdefault(id(dep), {})[id(own)] = own
            else:
                stage_dir = local
            shipped = own.remote and not site.remote
            out.append(
                DependencyInfo(
                    test=dep.test.__name__,
                    name=dep.name,
                    params=dep.variant.params,
                    stage_dir=stage_dir,
                    output_dir=Path(result.output_dir or self.ctx.output_root / case_dirname(dep)),
                    metrics={m.name: m.value for m in result.metrics if m.value is not None},
                    local_dir=local if site.remote or shipped else None,
                    shipped=shipped,
                )
            )
        return out
