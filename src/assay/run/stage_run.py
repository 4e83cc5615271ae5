"""The build and run stages: each writes its job script and runs it on the partition's
scheduler."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.compare import beneath
from assay.define.field_checks import source_globs
from assay.define.fields import as_list, duration
from assay.define.output import Output, spec_key, with_not_outputs
from assay.define.test import Test, effective_nodes, effective_tasks
from assay.durations import Duration
from assay.errors import StoreError
from assay.plan import resource_problem
from assay.run import scripts
from assay.run.case_state import CaseState
from assay.run.context import StageFailed
from assay.run.describe import describe_status
from assay.run.input_hints import denied_hint, denied_inputs, tails
from assay.run.keeping import usable
from assay.run.sites import COMPARE_SPEC, VERDICT, Wanted
from assay.schedulers.base import JobOutcome, JobResources, JobSpec, JobState, Scheduler


class RunStages(CaseState):
    """The build and run stages of :class:`~assay.run.pipeline.Execution`."""

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
        script = scripts.build_script(
            self.case.name,
            self.job_dir,
            self.case.env_config,
            self.case.partition.config,
            _env(test),
            [test.format(cmd) for cmd in as_list(test.build)],
            builder.header(spec),
            builder.footer(spec),
            protect_inputs=spec.protect_inputs,
            inherited=self._inherited(),
        )
        _write(self.stage_dir / scripts.BUILD_SCRIPT, script)
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
            reason = f"build failed: {describe_status(status)}"
            texts = self._tails(back.names)
            for text in reversed(texts):  # (stderr is the last)
                failed = scripts.failed_build_command(text, script)
                if failed is not None:
                    reason += failed
                    break
            denied = denied_inputs(texts, self.inputs, source_globs(as_list(test.writable)))
            if denied:  # a build that edits a source in place
                reason += "; " + denied_hint(denied, suite=hasattr(test, "suite_file"))
            raise StageFailed(reason)

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
        if test.build and self.attach is None:  # (before assay writes there: the build ran)
            os.close(self._own_stage())
        here, there = self._files(scripts.RUN_SCRIPT, scripts.RUN_OUT, scripts.RUN_ERR)
        (local_script, local_out, local_err), (job_script, job_out, job_err) = here, there
        spec = JobSpec(
            name=f"assay-{case.key}",
            script=job_script,
            workdir=self.job_dir,
            stdout=job_out,
            stderr=job_err,
            time_limit=limit,
            resources=resources,
            protect_inputs=self._has_store_links(),
            expected=self.ctx.expected_run.get(case.key),
        )
        self.result.nodes = resources.nodes
        place = self.place
        scheduler = place.scheduler
        not_outputs = self._not_outputs()
        # (Fields that are empty lists, as most are, skip their comprehensions below: each
        # is a Python call. An empty list is what bind makes of an unset field.)
        in_job = (
            await self._job_comparison(scheduler, not_outputs)
            if scheduler.compares_in_job
            else None
        )
        if in_job is not None:
            spec = dataclasses.replace(
                spec, compare=(self.job_dir / COMPARE_SPEC, self.job_dir / VERDICT)
            )
        kept: list[str] = []
        if test.keep_files != []:
            kept = [test.format(p, quote=False) for p in as_list(test.keep_files)]
            kept = [p for p in kept if usable(p)]  # the others fail the case at cleanup
        back = Wanted([scripts.RUN_OUT, scripts.RUN_ERR, VERDICT], kept, True)
        outcome = None
        if self.attach is not None:  # resumed: follow the job an earlier runner submitted
            outcome = await scheduler.attach(spec, *self.attach)
            if outcome.state == JobState.LOST:
                outcome = None
        if outcome is None:
            formatted = test.format(test.command)
            problem = place.launcher.problem(formatted)
            if problem is not None:
                raise StageFailed(problem)
            command = place.launcher.command(formatted, resources)
            inherited = self._inherited()
            env = _env(test) if test.env else {}
            header, footer = scheduler.header(spec), scheduler.footer(spec)
            prerun = [*self.fetch_lines]
            if test.prerun != []:
                prerun += [test.format(c) for c in as_list(test.prerun)]
            postrun = [] if test.postrun == [] else [test.format(c) for c in as_list(test.postrun)]
            config = case.partition.config
            _write(
                local_script,
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
                    inherited=inherited,
                ),
            )
            if not header:  # what the script does, for a local job to do without bash
                found = scripts.direct_command(
                    command, case.env_config, config, env, prerun, postrun, footer, inherited
                )
                if found is not None:
                    words, variables = found
                    spec = dataclasses.replace(
                        spec, direct=(tuple(words), tuple(variables.items()))
                    )
            if test.build:
                # What the build job left at the run's output names (a link to a file
                # elsewhere, a hard link, a FIFO) goes: a local job's outputs are opened
                # by this process, before the job drops any privilege.
                # (In the stage dir setup made: not in one a link at its name leads to.)
                stage_fd = self._own_stage()
                try:
                    for path in (local_out, local_err):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(path.name, dir_fd=stage_fd)
                finally:
                    os.close(stage_fd)
            if (
                test.build
                and header
                and formatted.strip() in _NOTHING_TO_RUN
                and not (prerun or postrun or in_job is not None or kept or place.transport.remote)
            ):
                # A test that only builds (ReFrame's CompileOnlyRegressionTest): its run
                # does nothing, and a batch job of its own would only make its dependents
                # wait in the queue. It "ran" here, with empty output (the script stays,
                # runnable by hand).
                outcome = self._ran_nothing(local_out, local_err)
            else:
                staging = await self.site.send(self.files, scheduler.takes_staging, back)
                if staging is not None:  # (a local job has none: no copy of its spec)
                    spec = dataclasses.replace(spec, staging=staging)
                outcome = await scheduler.run(spec)
        await self.site.bring_back(self.files, *back)
        self.outcome = outcome
        self.result.job_id = outcome.job_id
        self.result.hosts = outcome.nodes
        self.result.exit_code = outcome.exit_code
        if outcome.state == JobState.TIMEOUT:  # (the reason: the limit the scheduler applied)
            why = f" ({outcome.reason})" if outcome.reason else ""
            raise StageFailed(f"time limit {limit} exceeded{why}")
        if outcome.state not in (JobState.COMPLETED, JobState.FAILED):
            raise StageFailed(
                f"job ended {outcome.state.value}"
                + (f": {outcome.reason}" if outcome.reason else "")
            )
        status = outcome.exit_code if outcome.signal is None else -outcome.signal
        self.out = Output(
            self.stage_dir,
            local_out,
            local_err,
            status,
            _folder(case.test._assay.file) if case.test._assay.file else None,
        )
        self.out.not_outputs = not_outputs
        self.out.stage_ident = self.stage_ident
        if in_job is not None:
            self.out.precomputed[spec_key(in_job)] = self.stage_dir / VERDICT
        self.out.notes.update(self.files.notes)
        if test.skip_exit_codes and status in test.skip_exit_codes:
            # (stderr first: where automake's tests say why they skip)
            from assay.run.skipping import check_skip  # (only here: few cases skip)

            texts = self._tails([scripts.RUN_ERR, scripts.RUN_OUT])
            check_skip(test.exit_codes, list(test.skip_exit_codes), status, texts)

    def _ran_nothing(self, *outputs: Path) -> JobOutcome:
        """The outcome of a command that does nothing, run by no job: its ``outputs`` made
        empty in the stage dir (what was at their names is removed, never written through)."""
        stage_fd = self._own_stage()
        try:
            for path in outputs:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path.name, dir_fd=stage_fd)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                os.close(os.open(path.name, flags, 0o644, dir_fd=stage_fd))
        except OSError as exc:
            raise StageFailed(
                f"cannot make the run's empty output in {self.stage_dir}: {exc}"
            ) from None
        finally:
            os.close(stage_fd)
        return JobOutcome(JobState.COMPLETED, 0, elapsed=0.0)

    def _own_stage(self) -> int:
        """The stage dir setup made, opened; the stage fails when a job (the build) put
        something else at its name (a link to another directory): nothing is written,
        removed or read through it."""
        try:
            return beneath.open_dir(str(self.stage_dir), self.stage_ident)
        except OSError:
            raise StageFailed(
                f"the stage dir {self.stage_dir} is no longer the directory setup made (a job "
                "replaced it with a symbolic link, a file or another directory, or moved it "
                "away): nothing was written or removed there; a job must not move its stage dir"
            ) from None

    def _tails(self, names: Sequence[str]) -> list[str]:
        """The ends of the stage dir's files ``names``: read in the stage dir setup made
        (none when the job put something else at its name)."""
        try:
            fd = beneath.open_dir(str(self.stage_dir), self.stage_ident)
        except OSError:
            return []
        try:
            return tails(names, fd)
        finally:
            os.close(fd)

    def _inherited(self) -> dict[str, str | None]:
        """What the case's test code changed in os.environ: its jobs inherit it (the
        guard took it back from assay's own environment)."""
        return _decoded(self.printed.environ) if self.printed.environ else {}

    def _not_outputs(self) -> list[str]:
        """The stage dir's files that are not outputs: assay's own and the inputs (staged
        sources, and what the test says it made, such as rendered templates). A comparison
        leaves them out of ``complete`` and of a command's ``{actual}``."""
        made = getattr(self._test, "inputs_made", None)
        extra = self._call("inputs_made", made) if made else []
        return sorted({*scripts.ASSAY_FILES, *self.inputs, *extra})

    async def _job_comparison(
        self, scheduler: Scheduler, not_outputs: list[str]
    ) -> dict[str, Any] | None:
        """Principle 4: where the scheduler runs jobs elsewhere, compare outputs there. The
        spec (the one sanity will make, with the paths the job sees) goes to the stage dir;
        the job writes the verdict beside it."""
        ask = getattr(self._test, "job_comparison", None)
        if ask is None:
            return None
        spec = self._call("job_comparison", ask)
        if spec is None:
            return None
        spec = with_not_outputs(spec, not_outputs)
        try:
            job = await self.site.comparison(self.files, self.ctx.store, spec)
        except (StoreError, OSError) as exc:
            raise StageFailed(f"cannot send the expected outputs: {exc}") from None
        # (A new file: the build job may have left a link at that name.)
        import json  # (here: no run needs it before its first case)

        scripts.write(self.stage_dir / COMPARE_SPEC, json.dumps(job))
        if self.attach is None:  # a resumed job may have written its verdict already
            stage_fd = self._own_stage()
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(VERDICT, dir_fd=stage_fd)
            finally:
                os.close(stage_fd)
        return dict(spec)


def _write(path: Path, text: str) -> None:
    """:func:`scripts.write`; a script holding text its encoding cannot hold (a lone
    surrogate: a file name in another encoding, which a hook or ``format`` put in a
    command) fails the stage, named, not with the raw codec error."""
    try:
        scripts.write(path, text)
    except UnicodeEncodeError as exc:
        start = text.rfind("\n", 0, exc.start) + 1
        end = text.find("\n", exc.end)
        line = text[start : len(text) if end < 0 else end]
        raise StageFailed(
            f"the job script {path.name} would hold the line {line!r}, which is not {exc.encoding} "
            "text (a file name in another encoding, as os.listdir gives it, set by a hook or "
            "put in by formatting); give commands, prerun, postrun and env as text: name such "
            "a file with a shell glob, or rename it"
        ) from None


_NOTHING_TO_RUN = ("true", ":")
"""Commands that do nothing: a batch scheduler's case that builds and runs one needs no
job (a test that only runs one still gets its job: it may be there to try the queue)."""


def _limit(value: object, name: str) -> Duration | None:
    """A time limit field of the test, in seconds (decoded when it was set, unless code
    went around ``Test.__setattr__``: then it is decoded, or fails the stage, here)."""
    try:
        return duration(value)
    except ValueError as exc:
        raise StageFailed(f"{name} {exc}") from None


@functools.lru_cache(maxsize=256)
def _folder(file: str) -> Path:
    """The directory of a test file (one Path per file, not one per case)."""
    return Path(file).parent


def _decoded(changes: dict[bytes, bytes | None]) -> dict[str, str | None]:
    return {os.fsdecode(k): None if v is None else os.fsdecode(v) for k, v in changes.items()}


def _env(test: Test) -> dict[str, str]:
    return {k: test.format(str(v), quote=False) for k, v in test.env.items()}
