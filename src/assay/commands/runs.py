"""``assay run``, ``assay list`` and ``assay bless``: the commands that load tests. The
parameters of run and list are declared in :mod:`assay.commands.params` (which the light
path reads too), what they do is :mod:`assay.commands.run_command`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from assay.commands import params, run_command
from assay.commands.params import Param

F = TypeVar("F", bound=Callable[..., Any])


def _declared(declared: Sequence[Param]) -> Callable[[F], F]:
    """The click parameters of these declarations (:mod:`assay.commands.params`), in order."""

    def decorate(func: F) -> F:
        for param in reversed(declared):
            func = _click_param(param)(func)
        return func

    return decorate


def _click_param(param: Param) -> Callable[[F], F]:
    if param.argument:
        return click.argument(param.name, nargs=-1, type=click.Path())
    kw: dict[str, Any] = {"help": param.help}
    if param.metavar is not None:
        kw["metavar"] = param.metavar
    if param.flag:
        kw["is_flag"] = True
    if param.multiple:
        kw["multiple"] = True
    if param.kind is int:
        low = None if param.low is None else int(param.low)
        kw["type"] = click.IntRange(low, None if param.high is None else int(param.high))
    elif param.kind is float:
        kw["type"] = click.FloatRange(param.low, param.high)
    if param.default is not None:
        kw["default"] = param.default
    if param.show_default:
        kw["show_default"] = True
    return click.option(*param.decls, param.name, **kw)


@click.command()
@_declared(params.RUN)
def run(**kw: Any) -> int:
    """Run the tests in PATHS (files or directories) and report the results."""
    return run_command.run(**kw)


@click.command(name="list")
@_declared(params.LIST)
def list_cases(**kw: Any) -> int:
    """List the cases PATHS would run, without running them."""
    return run_command.list_cases(**kw)


@click.command()
@click.option(
    "-n",
    "--name",
    "names",
    multiple=True,
    metavar="REGEX",
    help="Only variants whose name matches.",
)
@click.option(
    "--case", "ids", multiple=True, metavar="ID", help="Only the case with this id (or prefix)."
)
@click.option(
    "--passed",
    "include_passed",
    is_flag=True,
    help="Also bless cases that passed (take their actual values).",
)
@click.option(
    "--prefix", metavar="DIR", default=".assay", show_default=True, help="Where sessions are."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def bless(
    names: tuple[str, ...], ids: tuple[str, ...], include_passed: bool, prefix: str, yes: bool
) -> int:
    """Accept the actual outputs of the last session's differing cases as the new expected."""
    from assay import bless as bless_mod  # lazy: start-up time (7 ms)

    return bless_mod.run(Path(prefix), names, ids, include_passed, yes)
