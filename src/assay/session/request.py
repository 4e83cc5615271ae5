"""What a ``run`` or ``list`` invocation asks for, and what both make of it first: the
config, the loaded tests and the plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from msgspec import field

from assay import overrides as overrides_mod
from assay.config import Config, load_config
from assay.errors import UsageError
from assay.load import LoadProblem, load
from assay.plan import Plan, make_plan
from assay.repeats import repeat_cases
from assay.results.recorder import warn_on_stderr
from assay.run.runner import RunOptions
from assay.select import Selection

if TYPE_CHECKING:
    from assay.store import Store


class Request(msgspec.Struct):
    """Everything a ``run`` or ``list`` invocation asked for."""

    paths: Sequence[str]
    config: str | None = None
    system: str | None = None
    prefix: str | None = None
    store: str | None = None
    failed: bool = False
    no_pack: bool = False
    resume: bool = False
    selection: Selection = field(default_factory=Selection)
    settings: Sequence[str] = ()
    options: RunOptions = field(default_factory=RunOptions)
    max_jobs: int | None = None
    max_local: int | None = None
    report: str | None = None
    junit: str | None = None
    grace: float = 2.0
    repeat: int = 1
    fail_on_regression: bool = False
    html: str | None = None


class Prepared(msgspec.Struct):
    """What ``run`` and ``list`` share: the config, the loaded tests and the plan."""

    config: Config
    system: str
    plan: Plan
    problems: list[LoadProblem]
    tests_loaded: int
    test_names: tuple[str, ...] = ()  # (for the hint of a -n that matches none)
    unmatched: str = ""  # (the options that alone match nothing: assay.select_hints)


def prepare(request: Request) -> Prepared:
    """Load the config and the tests, apply the selection and ``-S``, and plan the cases."""
    if not request.paths:
        given = request.config
        if given is not None and given.endswith(".py"):
            # ReFrame's -c is the test path; assay's is its config file.
            raise UsageError(
                f"give test files or directories, e.g. `assay run {given}`",
                hint=f"-c {given} names assay's config file (TOML), not a test file: "
                "ReFrame's -c is assay's PATHS (docs/from-reframe.md)",
            )
        raise UsageError("give test files or directories, e.g. `assay run tests/`")
    config = load_config(request.config)
    system, _ = config.system(request.system)
    selection = request.selection
    if request.failed:
        from assay.results.history import failed_ids  # lazy: --failed only

        ids = failed_ids(prefix_of(request, config, system), config, system)
        selection = dataclasses.replace(selection, ids=(*selection.ids, *ids))
    loaded = load(request.paths)
    for warning in loaded.warnings:
        warn_on_stderr(warning)
    try:
        settings = overrides_mod.resolve(loaded.tests, request.settings)
        selection.params_known(loaded.tests)
    except UsageError as exc:
        raise _not_loaded_too(exc, loaded.problems) from None
    plan = make_plan(loaded.tests, config, system, selection, settings, max_jobs=request.max_jobs)
    if request.repeat > 1:
        plan.cases = repeat_cases(plan.cases, request.repeat)
    names = tuple(t.__name__ for t in loaded.tests)
    unmatched = ""
    if not plan.cases:
        from assay.select_hints import unmatched as said  # lazy: a selection of nothing only

        unmatched = said(
            config, system, selection.partitions, selection.environments, selection.params
        )
    if plan.cases and _selects_all(selection) and not request.failed:
        left = {t.__name__ for t in loaded.tests}
        for case in plan.cases:  # (a test's cases are together: stops at the last's first)
            left.discard(case.test.__name__)
            if not left:
                break
        if left:  # a test without a case: is it one meant to be here?
            from assay.select_hints import placed_nowhere  # lazy: this case only

            tests = [t for t in loaded.tests if t.__name__ in left]
            nowhere = placed_nowhere(tests, config, system)
            if nowhere:
                warn_on_stderr(nowhere)
    problems = loaded.problems + plan.problems
    return Prepared(config, system, plan, problems, len(names), names, unmatched)


def _selects_all(selection: Selection) -> bool:
    """Whether ``selection`` leaves out nothing: then a test without a case is one that
    has no place on the system."""
    return not (
        selection.names
        or selection.exclude
        or selection.tags
        or selection.exclude_tags
        or selection.params
        or selection.partitions
        or selection.environments
        or selection.ids
    )


def _not_loaded_too(exc: UsageError, problems: Sequence[LoadProblem]) -> UsageError:
    """``exc`` (a -S or -P that names nothing loaded), naming the files that failed to load
    too: the variable or parameter may be theirs, and the fix is in the file, not the option."""
    if not problems:
        return exc
    shown = [f"    {str(p).splitlines()[0]}" for p in problems[:5]]
    if len(problems) > 5:
        shown.append(f"    and {len(problems) - 5} more")
    said = f"{len(problems)} test file(s) could not be loaded; fix them first, as the "
    said += "name may be theirs:"
    return UsageError("\n".join([exc.message, f"  {said}", *shown]), hint=exc.hint)


def prefix_of(request: Request, config: Config, system: str) -> Path:
    """Where the sessions go: ``--prefix``, else the system's prefix, else ``.assay``."""
    return Path(request.prefix or config.systems[system].prefix or ".assay")


def store_root(request: Request, config: Config, system: str) -> Path:
    """The artifact store's root: ``--store``, else the system's, else the default; made
    absolute here, in the directory assay was started in: the paths of its checkouts reach
    the jobs ($ASSAY_BUILD), which run in their stage dirs."""
    configured = request.store or config.systems[system].store
    if configured:
        return Path(configured).absolute()
    from assay.store import default_root  # lazy: start-up time (a run without sources)

    return default_root().absolute()


def open_store(root: Path) -> Store:
    """The store at ``root``."""
    from assay.store import Store  # lazy: start-up time (a run without sources needs none)

    return Store(root)
