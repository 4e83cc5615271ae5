"""``assay run`` and ``assay list`` without click (taken by :mod:`assay.entry`): the
command line read by :func:`assay.commands.params.parse`, the command run as the full
command line runs it, its end reported as the full command line reports it. A command line
the light parser leaves alone goes to the full command line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from assay.commands import params


def _commands() -> dict[str, tuple[Sequence[params.Param], Callable[..., int]]]:
    from assay.commands import run_command

    return {
        "run": (params.RUN, run_command.run),
        "list": (params.LIST, run_command.list_cases),
    }


def main(args: Sequence[str]) -> int | None:
    """Run ``args`` (the whole command line after ``assay``) if the light path takes it;
    else None."""
    rest = list(args)
    debug = False
    while rest[:1] == ["--debug"]:  # the group's one option (before the command)
        debug, rest = True, rest[1:]
    if not rest or rest[0] not in ("run", "list"):
        return None
    declared, command = _commands()[rest[0]]
    kw: dict[str, Any] | None = params.parse(rest[1:], declared)
    if kw is None:
        return None
    try:
        code = command(**kw)
    except BaseException as exc:
        from assay.commands.outcome import report_error

        return report_error(exc, debug)
    return int(code or 0)
