"""The six stages every case goes through, their hooks, and their timings.

setup -> build -> run -> sanity -> performance -> cleanup. The first stage that
fails ends the case (cleanup still runs); its name and a one-line reason are
the case's failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay import guard
from assay.define.definition import check_fields
from assay.define.field_checks import describe_accepted, exit_code_accepted, source_globs
from assay.define.fields import as_list, duration
from assay.define.hooks import STAGES
from assay.define.output import Output, spec_key, with_not_outputs
from assay.define.reffile import chosen
from assay.define.refs import choose
from assay.define.test import (
    CaseInfo,
    DependencyInfo,
    Test,
    bind,
    effective_nodes,
    effective_tasks,
)
from assay.durations import Duration
from assay.errors import AssayError, SanityError
from assay.files import fresh_dir, link_or_copy, real_ancestors, remove_entries
from assay.plan import Case, resource_problem
from assay.results.model import SOURCES, ArtifactUse, CaseResult, Failure, Status
from assay.run import scripts
from assay.run.artifacts import ArtifactError, copy_small
from assay.run.bucket_inputs import drop_lists, from_bucket
from assay.run.context import RunContext, StageFailed, case_dirname
from assay.run.describe import describe_exception, describe_status, new_result
from assay.run.keeping import kept_files, usable
from assay.run.metrics import measure
from assay.run.sites import COMPARE_SPEC, VERDICT, CaseFiles, Wanted, fetch_dependency_layers
from assay.schedulers.base import (
    JobOutcome,
    JobResources,
    JobSpec,
    JobState,
    Scheduler,
    SchedulerError,
)
from assay.shell import UnsafeValue
from assay.store.objects import StoreError
from assay.transports.base import TransportError

if TYPE_CHECKING:
    from assay.store.trees import Tree


@dataclass
class Execution:
    """One attempt at one case."""

    case: Case
    ctx: RunContext
    attempt: int = 1
    dependencies: list[DependencyInfo] = field(default_factory=list)
    attach: tuple[str, bool] | None = None  # (job id, packed) to follow again on --resume
    test: Test | None = None
    linked: list[tuple[str, str]] = field(default_factory=list)  # staged read-only inputs
    inputs: list[str] = field(default_factory=list)  # every staged input (stage-relative)
    read_only_copies: int = 0  # inputs staged as read-only copies (small suite case dirs)
    sources: list[ArtifactUse] = field(default_factory=list)  # each source's tree
    result: CaseResult = field(init=False)
    out: Output | None = None
    outcome: JobOutcome | None = None
    on_stage: Callable[[str], None] | None = None  # told as each stage begins (the display)
    fetch_lines: list[str] = field(default_factory=list)  # the run job's fetches (store_remote)

    def __post_init__(self) -> None:
        case = self.case
        definition = case.test._assay
        self.stage_dir = self.ctx.stage_root / case_dirname(case)
        self.output_dir = self.ctx.output_root / case_dirname(case)
        self.place = self.ctx.places[case.partition.full_name]
        self.site = self.place.site
        # Where the case's jobs run and see its files, on the partition's host.
        self.job_dir = self.site.job_dir(self.stage_dir)
        self.files = CaseFiles(self.stage_dir, self.job_dir)
        self.result = new_result(case, Status.PASSED)
        self.printed = guard.Printed(self._printed_path)
        self.result.file = definition.file
        self.result.line = definition.line
        self.result.attempts = self.attempt

    async def execute(self) -> CaseResult:
        result = self.result
        result.started = time.time()
        stages: dict[str, Callable[[], Any]] = {
            "setup": self.setup,
            "build": self.build,
            "run": self.run,
            "sanity": self.sanity,
            "performance": self.performance,
        }
        try:
            for stage, action in stages.items():
                if not await self._stage(stage, action):
                    break
        finally:
            # Cleanup runs whatever happened, even when the case is being cancelled.
            await self._stage("cleanup", self.cleanup)
            result.finished = time.time()
            self.printed.close()
        return result

    def _printed_path(self) -> Path:
        """Where the test's Python code prints: its stage dir, or once cleanup has moved
        what is kept, its output dir."""
        if self.stage_dir.is_dir():
            return self.stage_dir / scripts.PYTHON_OUT
        self.output_dir.mkdir(parents=True, exist_ok=True)
        return self.output_dir / scripts.PYTHON_OUT

    async def _stage(self, stage: str, action: Callable[[], Any]) -> bool:
        """Run one stage with its hooks; record its time; return whether it succeeded."""
        start = time.perf_counter()
        if self.on_stage is not None:
            self.on_stage(stage)
        try:
            if stage != "setup":  # setup hooks run once the instance exists
                self._hooks("before", stage)
            ran = action()
            if asyncio.iscoroutine(ran):
                ran = await ran
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
        except StageFailed as exc:
            self._fail(stage, exc.reason, exc.details)
        except (SchedulerError, TransportError, StoreError) as exc:  # not the test's code
            self._fail(stage, str(exc))
        except SanityError as exc:
            self._fail(stage, str(exc), exc.details)
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
            if self._timed(stage):
                self._record_time(stage, time.perf_counter() - start)
        return self.result.failure is None

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

    def _fail(self, stage: str, reason: str, details: str | None = None) -> None:
        if self.result.failure is None:
            self.result.status = Status.FAILED
            self.result.failure = Failure(stage, reason, details)

    def _hooks(self, when: str, stage: str) -> None:
        if self.test is None:
            return
        for hook in self.case.test._assay.hooks[(when, stage)]:  # type: ignore[index]
            guard.call(f"hook {hook.__name__}", hook, self.test, printed=self.printed)

    # -- stages ---------------------------------------------------------------------------

    async def setup(self) -> None:
        case = self.case
        if self.attach is not None and not (self.stage_dir / scripts.RUN_SCRIPT).exists():
            self.attach = None  # nothing to follow: run it from the start
        if self.attach is None:
            fresh_dir(self.stage_dir)
        if self.ctx.module_checks is not None and not self.site.remote:
            # On a remote host the job scripts' own module lines fail the case (exit 96).
            problem = await self.ctx.module_checks.problem(case.environment, case.env_config)
            if problem is not None:
                raise StageFailed(*problem)
        await self.site.open(self.files, fresh=self.attach is None)
        for dep in self.dependencies:
            if dep.shipped and dep.local_dir is not None:
                try:
                    await self.site.ship(dep.local_dir, self.ctx.store)
                except (StoreError, OSError) as exc:  # its files, not the test's code
                    raise StageFailed(
                        f"dependency {dep.name} cannot be sent to partition "
                        f"{case.partition.full_name}'s host ({self.site.transport.host}): {exc}"
                    ) from None
        # The output dir is made at cleanup: one left by an earlier attempt, or by a runner
        # that was interrupted (this is --resume), is stale.
        if os.path.lexists(self.output_dir):  # (one lstat for the usual: there is none)
            shutil.rmtree(self.output_dir, ignore_errors=True)
        info = CaseInfo(
            name=case.name,
            id=case.id,
            variant=case.variant.name,
            system=case.partition.system,
            partition=case.partition.name,
            environment=case.environment,
            stage_dir=self.stage_dir,
            output_dir=self.output_dir,
            attempt=self.attempt,
            env_config=case.env_config,
            dependencies=self.dependencies,
            job_dir=self.job_dir if self.site.remote else None,
        )
        with guard.running(self.printed):  # the class's own __init__ runs here
            self.test = test = bind(
                case.test, case.variant.params, case.overrides, info, case.variant.fields
            )
        self._hooks("before", "setup")
        if _may_change_fields(case.test):
            with guard.running(self.printed):
                problems = check_fields(test, case.test._assay.metrics)
            if problems:
                raise StageFailed("invalid test attributes: " + "; ".join(problems))
        if self.attach is None:  # a resumed case's stage dir already holds its inputs
            await self._stage_sources(test)
        await self._artifacts(test, info)
        self.result.artifacts += self.sources  # after the artifacts: theirs come first

    async def _artifacts(self, test: Test, info: CaseInfo) -> None:
        """Unpack (once per session) the artifacts the test names; export $ASSAY_<NAME>."""
        if not test.artifacts:
            return
        base = Path(self.case.test._assay.file or ".").parent
        exported = {}
        remote = self.case.partition.config
        for name, layers in test.artifacts.items():
            if remote.store_remote is not None and from_bucket(as_list(layers)):
                try:
                    where, use, line = await self.ctx.bucket.prepare(
                        remote.store_remote,
                        as_list(layers)[0],
                        name,
                        self.stage_dir,
                        self.job_dir,
                        remote.store_remote_expiry,
                    )
                except AssayError as exc:
                    raise StageFailed(f"artifact {name!r}: {exc}") from None
                info.artifacts[name] = where
                self.result.artifacts.append(use)
                self.fetch_lines.append(line)
                exported[f"ASSAY_{name.upper()}"] = str(where)
                continue
            try:
                await fetch_dependency_layers(self.site, as_list(layers), info.dependencies)
                tree, used = await self.ctx.store.artifact_tree(
                    name, as_list(layers), base, info.dependencies
                )
                info.artifacts[name] = await self.site.artifact(self.ctx.store, name, tree)
            except ArtifactError as exc:
                raise StageFailed(str(exc)) from None
            self.result.artifacts += [
                ArtifactUse(name, i, ref, layer) for i, (ref, layer) in enumerate(used)
            ]
            exported[f"ASSAY_{name.upper()}"] = str(info.artifacts[name])
        test.env = {**exported, **test.env}

    async def _stage_sources(self, test: Test) -> None:
        """Hard-link the test's sources from the store (a directory's contents, or a file);
        ``writable`` paths get private copies. A suite case's own small directory, run
        here, is copied instead (:func:`copy_small`). Each source's tree is recorded."""
        sources = as_list(test.sources)
        if not sources:
            return
        base = Path(self.case.test._assay.file or ".").parent
        exclude = source_globs(as_list(test.exclude_sources))
        writable = source_globs(as_list(test.writable))
        for layer, source in enumerate(sources):
            src = Path(test.format(source, quote=False))
            src = src if src.is_absolute() else base / src
            if _holds_session(src, self.ctx.stage_root, source):
                raise StageFailed(
                    f"sources: {source!r} holds this run's session directory "
                    f"({self.ctx.stage_root.parent}): each stage dir would get a copy of the "
                    "runs; name the source files or directories, or put sessions elsewhere "
                    "(--prefix, or prefix in the config)"
                )
            try:
                copied = None
                if self._copies(test, source):
                    copied = await copy_small(src, self.stage_dir, exclude, writable)
                if copied is not None:
                    tree, digest = copied.tree, copied.digest
                    _no_assay_names(source, tree)  # before any script is written there
                    self.read_only_copies += copied.read_only
                else:
                    tree = await self.ctx.store.source_tree(src, exclude)
                    _no_assay_names(source, tree)
                    staged = await self.ctx.store.stage(tree, self.stage_dir, writable)
                    digest = await self.ctx.store.source_digest(src, exclude, tree)
                    self.linked.extend(staged.linked_paths)
                    self.files.linked.update(rel for rel, _ in staged.linked_paths)
                    await self.site.stage(self.files, tree, writable)
            except StoreError as exc:
                raise StageFailed(f"sources: {source!r}: {exc}") from None
            self.sources.append(ArtifactUse(SOURCES, layer, None, digest))
            self.inputs.extend(e.path for e in tree.entries if e.type != "dir")

    def _copies(self, test: Test, source: str) -> bool:
        """Whether ``source`` is a suite case's own directory, for a case whose jobs run as
        processes of this machine (batch and remote cases keep the store)."""
        return (
            source == getattr(test, "case_source", None)
            and not self.site.remote
            and self.place.scheduler.runs_here
        )

    async def build(self) -> None:
        test = self._test
        if not test.build or self.attach is not None:
            return
        limit = _limit(test.build_time_limit, "build_time_limit")
        spec = JobSpec(
            name=f"assay-build-{self.case.key}",
            script=self.job_dir / scripts.BUILD_SCRIPT,
            workdir=self.job_dir,
            stdout=self.job_dir / scripts.BUILD_OUT,
            stderr=self.job_dir / scripts.BUILD_ERR,
            time_limit=limit,
            protect_inputs=self._has_store_links(),
        )
        # Builds run directly on the partition's host unless its scheduler runs them as jobs.
        place = self.place
        builder = place.builder
        (self.stage_dir / scripts.BUILD_SCRIPT).write_text(
            scripts.build_script(
                self.case.name,
                self.job_dir,
                self.case.env_config,
                self.case.partition.config,
                _env(test),
                [test.format(cmd) for cmd in as_list(test.build)],
                builder.header(spec),
                builder.footer(spec),
                protect_inputs=spec.protect_inputs,
            )
        )
        back = Wanted([scripts.BUILD_OUT, scripts.BUILD_ERR], (), False)
        staging = await self.site.send(self.files, builder.takes_staging, back)
        spec = dataclasses.replace(spec, staging=staging)
        if place.build_slots is None:
            outcome = await builder.run(spec)
        else:
            async with place.build_slots:
                outcome = await builder.run(spec)
        await self.site.bring_back(self.files, *back)
        if outcome.state == JobState.TIMEOUT:
            raise StageFailed(f"build time limit {limit} exceeded")
        if outcome.state not in (JobState.COMPLETED, JobState.FAILED):
            why = f": {outcome.reason}" if outcome.reason else ""
            raise StageFailed(f"build job ended {outcome.state.value}{why}")
        status = outcome.exit_code if outcome.signal is None else -outcome.signal
        if status != 0:
            raise StageFailed(f"build failed: {describe_status(status)}")

    async def run(self) -> None:
        test, case = self._test, self.case
        if not test.command:
            raise StageFailed('no command to run; set command = "..." in the test or a hook')
        resources = JobResources(
            # The instance's fields: -S, parameters and hooks have all had their say.
            nodes=effective_nodes(test.nodes, test.tasks, test.tasks_per_node),
            tasks=effective_tasks(test.tasks, test.nodes, test.tasks_per_node),
            tasks_per_node=test.tasks_per_node,
            cpus_per_task=test.cpus_per_task,
            gpus_per_node=test.gpus_per_node,
            exclusive=test.exclusive,
        )
        # Hooks may have asked for more than the plan checked.
        problem = resource_problem(case.partition, resources.nodes, resources.gpus_per_node)
        if problem is not None:
            raise StageFailed(problem)
        limit = _limit(test.time_limit, "time_limit") or case.partition.time_limit
        spec = JobSpec(
            name=f"assay-{case.key}",
            script=self.job_dir / scripts.RUN_SCRIPT,
            workdir=self.job_dir,
            stdout=self.job_dir / scripts.RUN_OUT,
            stderr=self.job_dir / scripts.RUN_ERR,
            time_limit=limit,
            resources=resources,
            protect_inputs=self._has_store_links(),
            expected=self.ctx.expected_run.get(case.key),
        )
        self.result.nodes = resources.nodes
        place = self.place
        scheduler = place.scheduler
        not_outputs = self._not_outputs()
        in_job = await self._job_comparison(scheduler, not_outputs)
        if in_job is not None:
            spec = dataclasses.replace(
                spec, compare=(self.job_dir / COMPARE_SPEC, self.job_dir / VERDICT)
            )
        kept = [test.format(p, quote=False) for p in as_list(test.keep_files)]
        kept = [p for p in kept if usable(p)]  # the others fail the case at cleanup
        back = Wanted([scripts.RUN_OUT, scripts.RUN_ERR, VERDICT], kept)
        outcome = None
        if self.attach is not None:  # resumed: follow the job an earlier runner submitted
            outcome = await scheduler.attach(spec, *self.attach)
            if outcome.state == JobState.LOST:
                outcome = None
        if outcome is None:
            command = place.launcher.command(test.format(test.command), resources)
            env, header, footer = _env(test), scheduler.header(spec), scheduler.footer(spec)
            prerun = [*self.fetch_lines, *[test.format(c) for c in as_list(test.prerun)]]
            postrun = [test.format(c) for c in as_list(test.postrun)]
            config = case.partition.config
            (self.stage_dir / scripts.RUN_SCRIPT).write_text(
                scripts.run_script(
                    case.name,
                    header,
                    self.job_dir,
                    case.env_config,
                    config,
                    env,
                    prerun,
                    command,
                    postrun,
                    footer,
                    protect_inputs=spec.protect_inputs,
                )
            )
            if not header:  # what the script does, for a local job to do without bash
                found = scripts.direct_command(
                    command, case.env_config, config, env, prerun, postrun, footer
                )
                if found is not None:
                    words, variables = found
                    spec = dataclasses.replace(
                        spec, direct=(tuple(words), tuple(variables.items()))
                    )
            staging = await self.site.send(self.files, scheduler.takes_staging, back)
            outcome = await scheduler.run(dataclasses.replace(spec, staging=staging))
        await self.site.bring_back(self.files, *back)
        self.outcome = outcome
        self.result.job_id = outcome.job_id
        self.result.exit_code = outcome.exit_code
        if outcome.state == JobState.TIMEOUT:
            raise StageFailed(f"time limit {limit} exceeded")
        if outcome.state not in (JobState.COMPLETED, JobState.FAILED):
            raise StageFailed(
                f"job ended {outcome.state.value}"
                + (f": {outcome.reason}" if outcome.reason else "")
            )
        status = outcome.exit_code if outcome.signal is None else -outcome.signal
        self.out = Output(
            self.stage_dir,
            self.stage_dir / scripts.RUN_OUT,
            self.stage_dir / scripts.RUN_ERR,
            status,
            Path(case.test._assay.file).parent if case.test._assay.file else None,
        )
        self.out.not_outputs = not_outputs
        if in_job is not None:
            self.out.precomputed[spec_key(in_job)] = self.stage_dir / VERDICT
        self.out.notes.update(self.files.notes)

    def _has_store_links(self) -> bool:
        """Whether the case sees read-only inputs: files of the store through links
        (sources, artifacts), or read-only copies (root must not override their modes)."""
        return bool(self.linked or self.read_only_copies or self._test.artifacts)

    def _not_outputs(self) -> list[str]:
        """The stage dir's files that are not outputs: assay's own and the inputs (staged
        sources, and what the test says it made, such as rendered templates). A comparison
        leaves them out of ``complete`` and of a command's ``{actual}``."""
        made = getattr(self._test, "inputs_made", None)
        extra = guard.call("inputs_made", made, printed=self.printed) if made else []
        return sorted({*scripts.ASSAY_FILES, *self.inputs, *extra})

    async def _job_comparison(
        self, scheduler: Scheduler, not_outputs: list[str]
    ) -> dict[str, Any] | None:
        """Principle 4: where the scheduler runs jobs elsewhere, compare outputs there. The
        spec (the one sanity will make, with the paths the job sees) goes to the stage dir;
        the job writes the verdict beside it."""
        ask = getattr(self._test, "job_comparison", None)
        if not scheduler.compares_in_job or ask is None:
            return None
        spec = guard.call("job_comparison", ask, printed=self.printed)
        if spec is None:
            return None
        spec = with_not_outputs(spec, not_outputs)
        try:
            job = await self.site.comparison(self.files, self.ctx.store, spec)
        except (StoreError, OSError) as exc:
            raise StageFailed(f"cannot send the expected outputs: {exc}") from None
        (self.stage_dir / COMPARE_SPEC).write_text(json.dumps(job))
        if self.attach is None:  # a resumed job may have written its verdict already
            (self.stage_dir / VERDICT).unlink(missing_ok=True)
        return dict(spec)

    def sanity(self) -> None:
        test, out = self._test, self._out
        accepted = test.exit_codes
        if not exit_code_accepted(accepted, out.exit_code):
            reason = f"{describe_status(out.exit_code)} (expected {describe_accepted(accepted)})"
            raise StageFailed(reason, self._differences_anyway())
        guard.call("sanity", test.sanity, out, printed=self.printed)

    def _differences_anyway(self) -> str | None:
        """The outputs of a run whose exit code is not accepted are not held against the
        expected ones (the case has failed), but their first difference is what a reader
        wants to see: the test says it, when it can (a suite's ``differences_anyway``)."""
        ask = getattr(self._test, "differences_anyway", None)
        if ask is None:
            return None
        found: str | None = guard.call("differences_anyway", ask, self._out, printed=self.printed)
        return found

    def performance(self) -> None:
        test, case = self._test, self.case
        metrics = case.test._assay.metrics
        if not metrics:
            return
        system, partition = case.partition.system, case.partition.name
        references = choose(test.references, system, partition)
        kept = case.test._assay.kept  # (beside the test file: they beat the test's own)
        if kept:
            references.update(
                chosen(kept, case.test.__name__, case.variant.name, system, partition)
            )
        misses = measure(test, self._out, metrics, references, self.result.metrics, self.printed)
        if misses:
            raise StageFailed("; ".join(misses))

    async def cleanup(self) -> None:
        if not self.stage_dir.exists():
            return
        if self.fetch_lines:
            drop_lists(self.stage_dir)
        touched = await self.site.inputs_written(self.files, self.linked)
        if touched:
            self._fail("cleanup", touched)
        if self.out is not None and self.out.comparisons:
            self.result.comparisons = self.out.comparisons
        entries = set(os.listdir(self.stage_dir))
        kept = as_list(self.test.keep_files if self.test else None)
        names, problems = kept_files(self.stage_dir, entries, self.out, kept)
        passed = self.result.failure is None and not problems
        remove = passed and not self.ctx.keep_stage and not self.case.dependents
        if remove and not any("/" in name for name in names):
            # The stage dir becomes the output dir, without what is not kept (the staged
            # inputs): one rename, no copies and no removal of the dir itself.
            remove_entries(self.stage_dir, entries - set(names))
            os.rename(self.stage_dir, self.output_dir)
        else:
            self.output_dir.mkdir(exist_ok=True)
            for name in names:
                src, dst = self.stage_dir / name, self.output_dir / name
                if "/" in name:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                if remove:
                    os.replace(src, dst)
                else:
                    link_or_copy(src, dst)
            if remove:
                shutil.rmtree(self.stage_dir, ignore_errors=True)
        if not remove:
            self.result.stage_dir = str(self.stage_dir)
        self.result.output_dir = str(self.output_dir)
        self.result.remote_dir = await self.site.finish(self.files, keep=not remove)
        if problems:
            raise StageFailed("; ".join(problems))

    # -- helpers --------------------------------------------------------------------------

    @property
    def _test(self) -> Test:
        assert self.test is not None
        return self.test

    @property
    def _out(self) -> Output:
        assert self.out is not None
        return self.out


def _really_cancelled() -> bool:
    """Whether the running task was asked to stop (not test code raising CancelledError)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def _cancelled() -> None:
    """After a signal reached test code: the event loop delivers that signal next, and the
    run cancels this case; should nothing do so, stop it anyway."""
    await asyncio.sleep(5)
    raise asyncio.CancelledError


def _may_change_fields(test: type[Test]) -> bool:
    """Fields were checked when the class was defined; only code can have changed them since
    (not assay's own hooks that keep them valid, such as a suite case's inputs)."""
    hooks = test._assay.hooks[("before", "setup")]
    return (
        any(not getattr(h, "keeps_fields_valid", False) for h in hooks)
        or test.__init__ is not object.__init__
    )


def _limit(value: object, name: str) -> Duration | None:
    """A time limit field of the test, in seconds (decoded when it was set, unless code
    went around ``Test.__setattr__``: then it is decoded, or fails the stage, here)."""
    try:
        return duration(value)
    except ValueError as exc:
        raise StageFailed(f"{name} {exc}") from None


def _env(test: Test) -> dict[str, str]:
    return {k: test.format(str(v), quote=False) for k, v in test.env.items()}


__all__ = ["STAGES", "Execution", "RunContext", "StageFailed"]


@functools.lru_cache(maxsize=4)
def _session_ancestors(stage_root: Path, dev: int, ino: int) -> frozenset[tuple[int, int]]:
    return real_ancestors(stage_root)  # (keyed by its inode too: made again, found again)


def _holds_session(src: Path, stage_root: Path, source: str) -> bool:
    """Whether the source ``src`` (which must exist) holds the session's stage root: a
    stat of ``src`` against the stage root's directories, found once per session."""
    root = os.stat(stage_root)
    try:
        st = os.stat(src)
    except ValueError:
        st = None
    except OSError as exc:
        if exc.errno not in _NOT_THERE:
            raise
        st = None
    if st is None:
        raise StageFailed(f"sources: {source!r} not found (looked for {src})")
    return (st.st_dev, st.st_ino) in _session_ancestors(stage_root, root.st_dev, root.st_ino)


_NOT_THERE = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # as Path.exists


def _no_assay_names(source: str, tree: Tree) -> None:
    """Refuse sources whose top level holds a name assay writes in the stage dir: a symlink
    of that name would take assay's scripts, outputs or download links out of it."""
    taken = sorted(e.path for e in tree.entries if "/" not in e.path and scripts.assay_name(e.path))
    if taken:
        raise StageFailed(
            f"sources: {taken[0]!r} (in {source!r}) is one of the names assay keeps for its own "
            "files in the stage dir (assay-*, .assay-*); rename it"
        )
