"""``assay run`` and ``assay list`` without click (taken by :mod:`assay.entry`): the
command line read by :func:`assay.commands.params.parse`, the command run as the full
command line runs it, its end reported as the full command line reports it. A command line
the light parser leaves alone goes to the full command line.

:mod:`assay.entry` turns the collector off while the command's modules are imported (see
there).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence

# What each command imports before it loads anything of the user's.
_MODULES = {
    "run": ("assay.session.running", "assay.run.runner", "assay.ui"),
    "list": ("assay.session.request", "assay.listing"),
}


def prepare(args: Sequence[str]) -> Callable[[], int] | None:
    """``args`` (the whole command line after ``assay``) as a command ready to run, its
    modules imported, if the light path takes it; else None. The command reports its own
    end, as the full command line would, and returns the exit code."""
    rest = list(args)
    debug = False
    while rest[:1] == ["--debug"]:  # the group's one option (before the command)
        debug, rest = True, rest[1:]
    if not rest or rest[0] not in _MODULES:
        return None
    from assay.commands import params, run_command

    commands: dict[str, tuple[Sequence[params.Param], Callable[..., int]]] = {
        "run": (params.RUN, run_command.run),
        "list": (params.LIST, run_command.list_cases),
    }
    declared, command = commands[rest[0]]
    kw = params.parse(rest[1:], declared)
    if kw is None:
        return None
    # A run's SSH hosts are connected to from here on: the handshake and the agent's start
    # on the host go on while the session's modules are imported (some 100 ms).
    early = run_command.begin(kw) if rest[0] == "run" else None
    try:
        for module in _MODULES[rest[0]]:
            importlib.import_module(module)
    except BaseException:
        if early is not None:
            early.abandon()
        raise
    if rest[0] == "run":
        command = functools.partial(run_command.run_begun, early)

    def run() -> int:
        try:
            code = command(**kw)
        except BaseException as exc:
            from assay.commands.outcome import report_error

            return report_error(exc, debug)
        return int(code or 0)

    return run
