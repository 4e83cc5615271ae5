"""What one attempt at one case holds while its stages run, and the helpers every
stage uses (failing the case, the test's hooks, its instance and output)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, TypeVar

from assay import guard, overrun
from assay.define.output import Output
from assay.define.test import DependencyInfo, Test
from assay.plan import Case
from assay.results.model import ArtifactUse, CaseResult, Failure, Status
from assay.run import scripts
from assay.run.context import RunContext, case_dirname
from assay.run.describe import new_result
from assay.run.sites import CaseFiles
from assay.schedulers.base import JobOutcome
from assay.schedulers.local_exec import links_safe

P = TypeVar("P", bound=PurePath)

_NO_HOOKS: frozenset[tuple[str, str]] = frozenset()


def child(path: P, name: str) -> P:
    """``path / name`` for a ``name`` that is one plain component (no ``/``, not ``.`` or
    ``..``: a case's dir name, assay's own file names), without parsing it again: pathlib's
    own shortcut for directory walks, a tenth of ``/``'s cost; a path class without it
    gets ``/``."""
    # (Annotated, not cast(): typing.cast is a Python call, and this runs ~5 times a case.
    # Path has the shortcut, PurePath not: asked of the object.)
    make = getattr(path, "_make_child_relpath", None)
    if make is None:
        return path / name
    if _SETS_TEXT:  # its text and parts, as their first use would (without the exception)
        # What _make_child_relpath and _from_parsed_parts do, inline (two Python calls
        # less, five times a case): a new object of the class, the parent's drive and
        # root, its parts and the name. (POSIX parts are compared as they are:
        # _PosixFlavour.casefold_parts returns them.)
        made: P = object.__new__(type(path))
        made._drv = path._drv  # type: ignore[attr-defined]
        made._root = path._root  # type: ignore[attr-defined]
        made._parts = made._cached_cparts = [*path._parts, name]  # type: ignore[attr-defined]
        parent = str(path)
        if parent == ".":
            made._str = name  # type: ignore[attr-defined]
        elif parent.endswith("/"):  # (the root)
            made._str = parent + name  # type: ignore[attr-defined]
        else:
            made._str = f"{parent}/{name}"  # type: ignore[attr-defined]
        return made
    return make(name)  # type: ignore[no-any-return]


# Python 3.11's pathlib makes a path's text at its first str() (os.fspath, open, every
# system call), in a try that catches the AttributeError of its slot ``_str``, not set yet:
# an exception raised and caught per path made, ~9 k instructions of ~17 k for the path and
# its text; its parts for comparisons and hashes (``_cached_cparts``) the same way.
# ``child`` sets both as pathlib would (POSIX paths: the parent's text, a "/" and the name;
# the parts as they are); another version of pathlib is left to do it itself.
_SETS_TEXT = sys.version_info[:2] == (3, 11) and os.sep == "/"


@dataclass
class CaseState:
    """One attempt at one case: what its stages share (:class:`~assay.run.pipeline.Execution`
    runs them)."""

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
    # Called once the run stage is over (its job ended), before the checks: the runner
    # gives the case's slot to the next case then (see Runner._early_release).
    after_run: Callable[[], Awaitable[None] | None] | None = None
    fetch_lines: list[str] = field(default_factory=list)  # the run job's fetches (store_remote)
    # The (device, inode) of the stage dir as setup made it (or found it, resumed): later
    # reads, moves and removals there act on that directory only, never on what a job put
    # at its name (a link to elsewhere).
    stage_ident: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        case = self.case
        definition = case.test._assay
        # The (when, stage) pairs the test has hooks for (most tests: none; a suite case's
        # only its inputs' before setup): a stage without any is neither told nor kept
        # from being passed by (see Execution._stage, _nothing_to).
        hooks = definition.hooks
        self.hooked = (
            frozenset(k for k, v in hooks.items() if v) if any(hooks.values()) else _NO_HOOKS
        )
        dirname = case_dirname(case)
        self.stage_dir = child(self.ctx.stage_root, dirname)
        self.output_dir = child(self.ctx.output_root, dirname)
        self.place = self.ctx.places[case.partition.full_name]
        self.site = self.place.site
        # Where the case's jobs run and see its files, on the partition's host.
        self.job_dir = self.site.job_dir(self.stage_dir)
        self.files = CaseFiles(self.stage_dir, self.job_dir)
        self.result = new_result(case, Status.PASSED)
        # (Not a method of this object: Printed holding it would make the two a cycle, and
        # every case's attempt, its test instance, result and output with it, would wait
        # for the garbage collector instead of going when the runner drops it.)
        self.printed = guard.Printed(
            functools.partial(_printed_path, self.stage_dir, self.output_dir)
        )
        self.result.file = definition.file
        self.result.line = definition.line
        self.result.attempts = self.attempt

    def _files(self, *names: str) -> tuple[list[Path], list[PurePosixPath]]:
        """The stage dir's files ``names`` on this machine, and where the case's jobs see
        them: the very same path objects when the jobs run in this machine's stage dir
        (no second path built per file, per case)."""
        here = [child(self.stage_dir, name) for name in names]
        job_dir: object = self.job_dir  # (on POSIX, this machine's Path is a PurePosixPath)
        if job_dir is self.stage_dir:
            same: list[PurePosixPath] = list(here)  # type: ignore[arg-type]
            return here, same
        return here, [self.job_dir / name for name in names]

    def _printed_check(self) -> None:
        """Fail the case when the job had planted something where the test's Python code
        prints (see :class:`assay.guard.Printed`)."""
        problem = self.printed.problem
        if problem is not None:
            self._fail("cleanup", problem)

    def _fail(self, stage: str, reason: str, details: str | None = None) -> None:
        if self.result.failure is None:
            self.result.status = Status.FAILED
            self.result.failure = Failure(stage, reason, details)
            self.result.skip_reason = None  # (a skipped case whose cleanup failed: failed)

    def _skip(self, reason: str) -> None:
        """The case is skipped: its command said so by its exit code (skip_exit_codes)."""
        if self.result.failure is None:
            self.result.status = Status.SKIPPED
            self.result.skip_reason = reason

    def _hooks(self, when: str, stage: str) -> None:
        if self.test is None:
            return
        for hook in self.case.test._assay.hooks[(when, stage)]:  # type: ignore[index]
            self._call(f"hook {hook.__name__}", hook, self.test)

    def _call(self, what: str, func: Callable[..., Any], *args: Any) -> Any:
        """The test's code ``func(*args)``, called as :func:`assay.guard.call` calls it: what
        it prints goes to the case's file, and it may run for the test's code_time_limit."""
        limit = overrun.code_limit(self.test)
        return guard.call(what, func, *args, printed=self.printed, limit=limit)

    def _has_store_links(self) -> bool:
        """Whether the case sees read-only inputs: files of the store through links
        (sources, artifacts), or read-only copies (root must not override their modes)."""
        found = bool(self.linked or self.read_only_copies or self._test.artifacts)
        # Where this runner cannot drop them, the inputs are private copies
        # (copies_needed): no job is told they are gone (a script's setpriv would fail as
        # silently). A remote host's script drops them itself.
        return found and (self.site.remote or links_safe())

    # -- helpers --------------------------------------------------------------------------

    @property
    def _test(self) -> Test:
        assert self.test is not None
        return self.test

    @property
    def _out(self) -> Output:
        assert self.out is not None
        return self.out


def _printed_path(stage_dir: Path, output_dir: Path) -> Path:
    """Where the test's Python code prints: its stage dir, or once cleanup has moved what
    is kept, its output dir."""
    if stage_dir.is_dir():
        return stage_dir / scripts.PYTHON_OUT
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir / scripts.PYTHON_OUT
