"""Stage dirs of suite cases made ahead of their turn, while the event loop waits.

A suite case run on this machine begins with work that needs nothing of the case but its
place in the queue: a new stage dir and, when the case's directory is small, a copy of its
inputs (:func:`assay.run.artifacts.copy_small`): new inodes (on this machine's ext4,
60-450 us of CPU each) and Python besides, 55% of a tiny case's setup. When the session
runs one case at a time (``--serial``, or a single slot), the event loop that drives the
cases sits idle while each case's command runs; so, as a case ends its setup, the next
case in the order its slot will be handed out (:mod:`assay.run.priority`) gets its stage
dir and its copy made then, on the loop's turn after the running case began to wait
(:data:`DEPTH` ahead at most). When that case's setup begins, it takes them instead of
doing that work. Measured (200 tiny cases, serially, whole process against the same
tree without it, 20 pairs run in one directory, twice): wall time 0.85x and 0.96x, CPU
0.99x. With more slots the loop drives other cases meanwhile and has little idle time to
give: with 2 slots, made ahead as well, 0.99x wall and CPU (20 pairs, one directory), no
gain shown, so it is left to one case at a time. (A new file's cost differs several-fold
between directories of this file system: pairs run in two directories measured that.)

Only what is the same whichever way the case goes is made ahead:

* for a case's first attempt (a retry, or a case resumed with a job to follow, makes its
  own), of a case with no dependency nor earlier sample to wait for;
* of a test whose setup runs none of the test's code before its sources are staged (its
  before-setup hooks are the suite's own, which names the case's directory as the
  source; no ``__init__``): nothing could look into the stage dir, or change what is
  staged, before the copy would have been made in the case's turn;
* the copy is used only when the source, ``exclude_sources`` and ``writable`` that setup
  arrives at are those it was made with (else the stage dir is made again, empty), and
  the stage dir only while it is the directory made (not a link put at its name).

The copy is thus made while the case before runs, not when the case starts. Setup's time
(``timings.setup``) is the work done in the case's turn: it does not hold what was made
ahead (docs/report.md). What was made for a case that did not start (an interrupted
session, ``--exit-first``) is removed when the session ends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay.define.field_checks import source_globs
from assay.define.fields import as_list
from assay.files import real_ancestors, stage_identity

if TYPE_CHECKING:
    from assay.define.test import Test
    from assay.plan import Case
    from assay.run.context import RunContext
    from assay.store.copystage import Copied

DEPTH = 1
"""The most stage dirs made ahead and not yet taken by their cases (one case at a time:
the next one's, made while the case before it runs)."""


@dataclass(slots=True)
class Job:
    """A case's stage dir to make, and what setup is expected to copy into it. (Not
    frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, and
    one of each is made per case; nothing changes them.)"""

    key: str
    stage_dir: Path
    path: Path  # the case's own directory (absolute)
    source: str  # (its path as setup names it)
    exclude: tuple[str, ...]
    writable: tuple[str, ...]


@dataclass(slots=True)
class Made:
    """A stage dir made ahead: its identity, and the copy made into it (None: nothing
    copied; setup stages the sources its own way, and says what is wrong with them)."""

    job: Job
    ident: tuple[int, int]
    copied: Copied | None

    def fits(self, source: str, exclude: Sequence[str], writable: Sequence[str]) -> bool:
        """Whether the copy is what setup would make of ``source``."""
        job = self.job
        return (
            self.copied is not None
            and source == job.source
            and tuple(exclude) == job.exclude
            and tuple(writable) == job.writable
        )


class StageAhead:
    """The stage dirs of the coming suite cases, made while the event loop waits (see the
    module's docstring)."""

    def __init__(self, jobs: Sequence[Job], stage_root: Path, depth: int = DEPTH) -> None:
        self._jobs = list(jobs)  # in the order their cases are expected to start
        self._stage_root = stage_root
        self._depth = depth
        self._next = 0  # the next job to do
        self._made: dict[str, Made | None] = {}  # not taken yet, by case key
        self._began: set[str] = set()  # cases whose setup began (nothing made for them now)
        self._soon = False  # whether a turn of the loop is to make one
        self._ancestors: frozenset[tuple[int, int]] | None = None

    @classmethod
    def plan(
        cls,
        cases: Sequence[Case],
        ctx: RunContext,
        priority: Mapping[str, float],
        skip: set[str] | frozenset[str] = frozenset(),
        depth: int = DEPTH,
    ) -> StageAhead | None:
        """The stage dirs to make ahead for ``cases`` (none of those in ``skip``: resumed
        cases), in the order the slots will be handed out if every case waits for one
        (highest ``priority`` first, then the plan's order); None when there are none.
        Only a suite's cases qualify: the session asks only when a suite was compiled
        (``assay.define.suite_test`` imported), and does not import this module otherwise."""
        found: list[tuple[float, int, Job]] = []
        globs: dict[type, tuple[tuple[str, ...], tuple[str, ...]] | None] = {}
        for index, case in enumerate(cases):
            if case.key in skip:
                continue
            job = _job(case, ctx, globs)
            if job is not None:
                found.append((-priority.get(case.key, 0.0), index, job))
        if not found:
            return None
        found.sort(key=lambda item: item[:2])
        return cls([job for _, _, job in found], ctx.stage_root, depth)

    def take(self, key: str) -> Made | None:
        """The case ``key``'s setup begins: the stage dir made ahead for it, if any (taken:
        no longer the session's to remove); none is made for it after this."""
        self._began.add(key)
        return self._made.pop(key, None)

    def advance(self) -> None:
        """Make the next cases' stage dirs, up to :data:`DEPTH` not taken, one a turn of the
        event loop, once the running case waits (for its job: the loop is idle then)."""
        if not self._soon and len(self._made) < self._depth and self._next < len(self._jobs):
            self._soon = True
            asyncio.get_running_loop().call_soon(self._make_next)

    def _make_next(self) -> None:
        self._soon = False
        while self._next < len(self._jobs):
            job = self._jobs[self._next]
            self._next += 1
            if job.key not in self._began:
                self._made[job.key] = self._make(job)
                break
        self.advance()

    def _make(self, job: Job) -> Made | None:
        """The stage dir, and the copy of the case's directory when it is small and holds
        no part of the session (what setup's own checks would refuse is not copied: setup
        looks again, and says why)."""
        from assay.errors import StoreError
        from assay.store.copystage import copy_planned, plan_copy

        try:
            os.mkdir(job.stage_dir)
        except OSError:  # (there already: setup makes it anew)
            return None
        ident = stage_identity(job.stage_dir)
        if ident is None:
            return None
        copied = None
        try:
            if not self._holds_session(job.source):
                plan = plan_copy(job.path, job.exclude)
                if plan is not None:
                    copied = copy_planned(plan, job.stage_dir, job.writable)
        except (StoreError, OSError, ValueError):
            copied = None
        return Made(job, ident, copied)

    def _holds_session(self, source: str) -> bool:
        """Whether ``source`` is the stage root or a directory above it (as setup checks;
        raises OSError when it is not there)."""
        if self._ancestors is None:
            self._ancestors = real_ancestors(self._stage_root)
        info = os.stat(source)
        return (info.st_dev, info.st_ino) in self._ancestors

    def close(self) -> None:
        """The session ends: the stage dirs made for cases that never began are removed."""
        self._next = len(self._jobs)  # (a turn of the loop still to come makes nothing)
        made, self._made = self._made, {}
        for one in made.values():
            if one is not None and stage_identity(one.job.stage_dir) == one.ident:
                shutil.rmtree(one.job.stage_dir, ignore_errors=True)


def _job(
    case: Case, ctx: RunContext, globs: dict[type, tuple[tuple[str, ...], tuple[str, ...]] | None]
) -> Job | None:
    """What to make ahead for ``case``, if it is a suite case whose setup would copy its own
    directory with none of the test's code run first (see the module's docstring).
    ``globs``: what :func:`_class_globs` found of each test class so far."""
    from assay.define.suite_test import CaseDir

    if case.skip or case.deps or case.after is not None:
        return None
    param = case.variant.params.get("case")
    if not isinstance(param, CaseDir) or not param.path.is_absolute():
        return None
    test = case.test
    if test in globs:
        found = globs[test]
    else:
        found = globs[test] = _class_globs(test)
    if found is None:
        return None
    exclude, writable = found
    if "exclude_sources" in case.overrides or "writable" in case.overrides:
        try:  # (-S: the same for every case of the test, not worth a cache)
            exclude = tuple(
                source_globs([*as_list(case.field("exclude_sources")), test.expected_name])  # type: ignore[attr-defined]
            )
            writable = tuple(source_globs(as_list(case.field("writable"))))
        except (ValueError, TypeError):
            return None
    place = ctx.places.get(case.partition.full_name)
    if place is None or place.site.remote or not place.scheduler.runs_here:
        return None
    from assay.run.case_state import child
    from assay.run.context import case_dirname

    path = param.path
    return Job(
        case.key, child(ctx.stage_root, case_dirname(case)), path, str(path), exclude, writable
    )


def _class_globs(test: type[Test]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """For a suite test whose setup runs none of its code before staging: the
    ``exclude_sources`` (its own and the suite's ``expected/``) and ``writable`` its cases
    stage with, unless a case says otherwise (setup checks: a copy made with others is not
    used); else None. Once per test class, not per case."""
    from assay.define.suite_test import SuiteTest
    from assay.run.stage_setup import code_binds

    if not issubclass(test, SuiteTest):
        return None
    hooks = test._assay.hooks[("before", "setup")]
    if not all(getattr(h, "keeps_fields_valid", False) for h in hooks):
        return None
    if code_binds(test):  # (making the instance runs the test's code)
        return None
    try:
        exclude = source_globs([*as_list(test.exclude_sources), test.expected_name])
        writable = source_globs(as_list(test.writable))
    except (ValueError, TypeError):
        return None
    return tuple(exclude), tuple(writable)
