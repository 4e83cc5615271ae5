"""The six stages every case goes through, their hooks, and their timings.

setup -> build -> run -> sanity -> performance -> cleanup. The first stage that
fails ends the case (cleanup still runs); its name and a one-line reason are
the case's failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import CoroutineType
from typing import Any

from assay import guard, overrun
from assay.define.hooks import STAGES
from assay.errors import SanityError, StoreError, sanity_failure
from assay.results.model import CaseResult, Status
from assay.run.context import RunContext, StageFailed, StageSkipped
from assay.run.describe import describe_exception
from assay.run.stage_check import CheckStages
from assay.run.stage_run import RunStages
from assay.run.stage_setup import SetupStage
from assay.schedulers.base import SchedulerError
from assay.shell import UnsafeValue
from assay.transports.base import HostGone, TransportError


class Execution(SetupStage, RunStages, CheckStages):
    """One attempt at one case: its stages in order, with their hooks and timings (each
    stage's own work is in its module: :mod:`assay.run.stage_setup`,
    :mod:`assay.run.stage_run`, :mod:`assay.run.stage_check`)."""

    async def execute(self) -> CaseResult:
        result = self.result
        result.started = time.time()
        stage = self._stage
        try:
            # (Each stage's own step, and the next only once it succeeded.) A stage with
            # nothing to do for this case and nobody to tell (no hooks, no display of
            # stages) is passed by: build without build commands, performance without
            # metrics (its time, recorded for every case, is then none).
            if await stage("setup", self.setup) and (
                self._nothing_to("build") or await stage("build", self.build)
            ):
                ran = await stage("run", self.run)
                after_run = self.after_run
                if after_run is not None:  # (the job is over: its slot may go to another case)
                    waiting = after_run()
                    if waiting is not None:
                        await waiting
                if ran and await stage("sanity", self.sanity):
                    if self._nothing_to("performance"):
                        result.timings["performance"] = 0.0
                    else:
                        await stage("performance", self.performance)
        finally:
            # Cleanup runs whatever happened, even when the case is being cancelled.
            await self._stage("cleanup", self.cleanup)
            result.finished = time.time()
            self.printed.close()
            self._printed_check()  # (printed to after cleanup, by its hooks)
        return result

    async def _stage(self, stage: str, action: Callable[[], Any]) -> bool:
        """Run one stage with its hooks; record its time; return whether it succeeded."""
        start = time.perf_counter()
        if self.on_stage is not None:
            self.on_stage(stage)
        try:
            # (Most tests have no hooks, a suite case one of setup's: no call per stage
            # without any.)
            hooked = self.hooked
            if hooked and stage != "setup" and ("before", stage) in hooked:
                self._hooks("before", stage)  # (setup's run once the instance exists)
            ran = action()
            # The stages are assay's own methods: plain ones, or async def ones that return
            # a native coroutine (a type check, not asyncio.iscoroutine: a call per stage).
            if ran.__class__ is CoroutineType:
                await ran
            if hooked and ("after", stage) in hooked:
                self._hooks("after", stage)
        except asyncio.CancelledError as exc:
            if not _really_cancelled():  # test code raised it: its own failure
                self._fail(stage, *describe_exception(exc, self.case.test._assay))
                return False
            self._fail(stage, "interrupted")
            raise
        except guard.Interrupted:  # a signal reached hanging test code; the run stops
            self._fail(stage, "interrupted")
            await _cancelled()
        except overrun.TookTooLong as exc:  # the case's own failure; the run goes on
            self._fail(stage, str(exc))
        except StageFailed as exc:
            self._fail(stage, exc.reason, exc.details)
        except StageSkipped as exc:  # the command said so (skip_exit_codes)
            self._skip(exc.reason)
        except HostGone as exc:  # how the job ended is unknown: --resume runs it again
            self._fail(stage, str(exc))
            self.result.status = Status.ABORTED
        except (SchedulerError, TransportError, StoreError) as exc:  # not the test's code
            self._fail(stage, str(exc))
        except SanityError as exc:
            self._fail(stage, *sanity_failure(exc))
        except UnsafeValue as exc:  # a value no script can hold
            self._fail(stage, f"cannot write the {stage} script: {exc}")
        except guard.Misused as exc:
            self._fail(stage, str(exc))
        except Exception as exc:  # a bug in the test's own code: say where
            self._fail(stage, *describe_exception(exc, self.case.test._assay))
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... from test code
            if isinstance(exc, GeneratorExit) and not guard.raised_by_test_code(exc.__traceback__):
                raise  # this coroutine is being closed
            self._fail(stage, *describe_exception(exc, self.case.test._assay))
        finally:
            # (Inline for the stages most cases have: two calls fewer per stage.)
            if stage == "run" or stage == "build":
                if self._timed(stage):
                    self._record_time(stage, time.perf_counter() - start)
            else:
                self.result.timings[stage] = time.perf_counter() - start
        return self.result.failure is None and self.result.skip_reason is None

    def _nothing_to(self, stage: str) -> bool:
        """Whether ``stage`` would do nothing but be timed: no hooks of its own, nobody told
        of it, and no build commands (build, which is then not timed either) or no metrics
        (performance)."""
        hooked = self.hooked
        if hooked and (("before", stage) in hooked or ("after", stage) in hooked):
            return False
        if self.on_stage is not None:
            return False
        if stage == "build":
            return self.test is not None and not self.test.build
        return not self.case.test._assay.metrics

    def _record_time(self, stage: str, seconds: float) -> None:
        """A stage's time; for a run measured inside a batch job, the time the command ran
        there, and the rest of the stage (queue wait, noticing the end) as ``queued``."""
        ran = self.outcome.elapsed if stage == "run" and self.outcome else None
        if ran is None:
            self.result.timings[stage] = seconds
            return
        self.result.timings["queued"] = max(0.0, seconds - ran)
        self.result.timings["run"] = ran

    def _timed(self, stage: str) -> bool:
        """Whether a stage did work worth timing (a test without build commands skips build)."""
        return stage != "build" or bool(self.test is not None and self.test.build)


def _really_cancelled() -> bool:
    """Whether the running task was asked to stop (not test code raising CancelledError)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def _cancelled() -> None:
    """After a signal reached test code: the event loop delivers that signal next, and the
    run cancels this case; should nothing do so, stop it anyway."""
    await asyncio.sleep(5)
    raise asyncio.CancelledError


__all__ = ["STAGES", "Execution", "RunContext", "StageFailed"]
