"""The stages after the run: sanity, performance and cleanup (what is kept goes to the
output dir)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Coroutine
from typing import Any

from assay import overrun
from assay.compare import beneath
from assay.define.field_checks import describe_accepted, exit_code_accepted, source_globs
from assay.define.fields import as_list
from assay.define.reffile import chosen
from assay.define.refs import choose
from assay.errors import SanityError
from assay.files import remove_entries, stage_identity
from assay.results.model import Failure
from assay.run.access import by_descriptor, open_stage, open_up, with_access
from assay.run.beside_loop import beside_loop, compares_big
from assay.run.bucket_inputs import drop_lists
from assay.run.case_state import CaseState
from assay.run.context import StageFailed
from assay.run.describe import describe_status
from assay.run.input_hints import denied_hint, denied_inputs
from assay.run.keeping import keep_file, kept_files
from assay.run.metrics import measure
from assay.run.spares import empty_outputs

AUTOMAKE_SKIP = 77
"""The exit code automake's test protocol gives "skipped" (see :mod:`assay.run.skipping`)."""


class CheckStages(CaseState):
    """The sanity, performance and cleanup stages of :class:`~assay.run.pipeline.Execution`."""

    def sanity(self) -> Coroutine[Any, Any, None] | None:
        """The sanity stage: a coroutine when a suite's large comparison is to run beside
        the event loop (:mod:`assay.run.beside_loop`), else done when it returns."""
        test, out = self._test, self._out
        accepted = test.exit_codes
        if not exit_code_accepted(accepted, out.exit_code):
            reason = f"{describe_status(out.exit_code)} (expected {describe_accepted(accepted)})"
            if out.exit_code == AUTOMAKE_SKIP:
                from assay.run.skipping import hint_77  # (only here: a rare failure)

                reason += hint_77(out.exit_code, list(test.skip_exit_codes))
            denied = self._denied_inputs()
            if denied:
                reason += "; " + denied_hint(denied, suite=hasattr(test, "suite_file"))
            if compares_big(test, self.stage_dir):
                return self._failed_beside_loop(reason)
            raise StageFailed(reason, self._differences_anyway())
        if compares_big(test, self.stage_dir):
            return self._beside_loop(test.sanity, out)
        said = self._call("sanity", test.sanity, out)
        # A check written as ReFrame's (a boolean returned) would otherwise pass when false.
        if said is False or (type(said).__name__ == "bool_" and not said):  # (numpy's too)
            raise StageFailed(
                "sanity returned False: fail a check by raising (assert ..., "
                "out.expect(...)), not by returning a boolean"
            )
        return None

    async def _failed_beside_loop(self, reason: str) -> None:
        """A failed run's first differences (large outputs: compared in a thread)."""
        raise StageFailed(reason, await self._beside_loop(self._differences_anyway))

    def _beside_loop(self, func: Callable[..., Any], *args: Any) -> Coroutine[Any, Any, Any]:
        """``func(*args)`` in a thread named after the case, awaited."""
        return beside_loop(
            f"assay-compare-{self.case.id}", func, *args, limit=overrun.code_limit(self._test)
        )

    def _denied_inputs(self) -> list[str]:
        """The read-only inputs a "Permission denied" of the failed run names."""
        if not self.inputs:
            return []
        texts = []
        for where in ("stderr", "stdout"):
            with contextlib.suppress(SanityError, OSError):
                texts.append(getattr(self._out, where))
        return denied_inputs(texts, self.inputs, source_globs(as_list(self._test.writable)))

    def _differences_anyway(self) -> str | None:
        """The outputs of a run whose exit code is not accepted are not held against the
        expected ones (the case has failed), but their first difference is what a reader
        wants to see: the test says it, when it can (a suite's ``differences_anyway``)."""
        ask = getattr(self._test, "differences_anyway", None)
        if ask is None:
            return None
        found: str | None = self._call("differences_anyway", ask, self._out)
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
        self._printed_check()  # (before what is kept is decided: a failed case keeps it)
        # Opened once, and everything below done relative to it: a job (or a process it
        # left) that swaps the stage dir, or a directory in it, for a link meanwhile has
        # nothing listed, moved or removed through that link.
        try:
            fd = open_stage(self.stage_dir, self.stage_ident)
        except FileNotFoundError:
            return
        except OSError:  # a link, a file, or another directory at its name
            self._stage_dir_replaced()
            return
        try:
            await self._clean(fd)
        finally:
            os.close(fd)

    async def _clean(self, fd: int) -> None:
        if self.fetch_lines:
            drop_lists(fd)
        touched = await self.site.inputs_written(self.files, self.linked)
        if touched:
            self._fail("cleanup", touched)
        if self.out is not None and self.out.comparisons:
            self.result.comparisons = self.out.comparisons
        entries = set(with_access(fd, lambda: os.listdir(fd)))
        kept = as_list(self.test.keep_files if self.test else None)
        # Globbed in the directory opened (its /proc name), not whatever is at its name now;
        # without keep_files nothing is globbed, and the name (a path parsed, a stat of
        # /proc) is not needed.
        stage = by_descriptor(fd, self.stage_dir) if kept else self.stage_dir
        names, problems = with_access(fd, lambda: kept_files(stage, entries, self.out, kept))
        if problems:  # a glob finds nothing in a directory the job closed: open, look again
            open_up(fd)
            names, problems = kept_files(stage, entries, self.out, kept)
        # (A skipped case keeps its files as a failed one does: they say why it skipped.)
        passed = self.result.failure is None and not problems and self.result.skip_reason is None
        remove = passed and not self.ctx.keep_stage and not self.case.dependents
        if remove and not any("/" in name for name in names):
            # The stage dir becomes the output dir, without what is not kept (the staged
            # inputs): one rename, no copies and no removal of the dir itself.
            spares = self.ctx.spares
            # Empty stdout and stderr files are not kept: a later case uses them again
            # (run/spares.py), or they go now (no room: none is taken).
            empty = empty_outputs(fd, entries)  # (a file it cannot look at is kept)
            drop = entries - set(names)
            if empty and not spares.room():
                drop.update(empty)
                empty = []
            with_access(fd, lambda: remove_entries(fd, drop))
            with_access(fd, lambda: os.rename(self.stage_dir, self.output_dir))
            # (open_stage checked fd to be the directory stage_ident, when there is one)
            ident = self.stage_ident or beneath.identity(os.fstat(fd))
            if stage_identity(self.output_dir) != ident:
                # Renamed by its name: a link swapped in at the last moment went instead.
                with contextlib.suppress(OSError):
                    os.unlink(self.output_dir)
                self._stage_dir_replaced()
                return
            spares.offer(self.output_dir, ident, empty)
        else:
            self.output_dir.mkdir(exist_ok=True)
            for name in names:
                problem = keep_file(fd, self.stage_dir, name, self.output_dir, remove)
                if problem is not None:
                    problems.append(problem)
            remove = remove and not problems  # (a link swapped in late: the dir is kept)
            if remove:
                with contextlib.suppress(OSError):
                    with_access(fd, lambda: remove_entries(fd, os.listdir(fd)))
                    os.rmdir(self.stage_dir)  # (empty now: a link at its name is refused)
        if not remove:
            self.result.stage_dir = str(self.stage_dir)
        self.result.output_dir = str(self.output_dir)
        self.result.remote_dir = await self.site.finish(self.files, keep=not remove)
        failure = self.result.failure
        if self.result.remote_dir is not None and failure is not None:
            note = await self.site.space_note(self.files)
            if note is not None:
                self.result.failure = Failure(
                    failure.stage, f"{failure.reason}; {note}", failure.details
                )
        if problems:
            raise StageFailed("; ".join(problems))

    def _stage_dir_replaced(self) -> None:
        """The job moved its stage dir away and left a link (or a file) at its name:
        listing, removing or moving through it would reach the directory it points to.
        The link itself goes; nothing is kept, nothing is touched through it (a directory
        put there is left as it is)."""
        stage = self.stage_dir
        with contextlib.suppress(OSError):
            os.unlink(stage)
        self._fail(
            "cleanup",
            f"the job replaced its stage dir {stage} with a symbolic link, a file or another "
            "directory: assay "
            "removed it and kept nothing (nothing was removed or moved through it); a job "
            "must not move its stage dir",
        )
