"""Where the ``assay`` command starts (the console script and ``python -m assay``).

``assay --version`` is answered here, from the standard library, before the command
line's machinery (click, the command groups, the config) is imported: that costs more
than the rest of the answer. ``assay store push|pull`` to an SSH store takes a light path
(:mod:`assay.quick_transfer`) that starts ssh before loading the store. ``assay run`` and
``assay list`` are read without click where the light parser can
(:mod:`assay.commands.light`). Every other command line goes to :func:`assay.cli.main`.

Once the command is done, :func:`console` ends the process without tearing the
interpreter down: freeing every module and object of a run one by one is work nobody
waits for (tens of ms after a run). What a normal end does for the user still happens:
threads that are not daemons are waited for (then the end is the interpreter's own),
``atexit`` handlers run, and what was printed is flushed.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from assay._version import __version__

# The real one: test code's os._exit is refused once the run starts (assay.guard).
_EXIT = os._exit

# How long the end waits for threads before it says so.
_NOTICE_AFTER = 2.0

# The options of the group that take no value and do nothing of their own: click would
# process --version eagerly past them.
_QUIET_GROUP_OPTIONS = frozenset({"--debug"})


def answers_version(args: Sequence[str]) -> bool:
    """Whether click would answer ``args`` with the version and nothing else: ``--version``
    among the group's options before the command, with nothing there click answers first
    (``--help``) or refuses (an unknown option)."""
    for arg in args:
        if arg == "--version":
            return True
        if arg not in _QUIET_GROUP_OPTIONS:
            return False
    return False


def debug_first(args: list[str]) -> list[str]:
    """``args`` with a ``--debug`` given after the command (``assay run --debug x``, as
    newcomers write it) moved before it, where the group's option goes; a ``--debug``
    after ``--`` is a path and stays."""
    if "--debug" not in args or args[:1] == ["--debug"]:
        return args
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args
    return ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assay`` command."""
    args = debug_first(list(sys.argv[1:] if argv is None else argv))
    if answers_version(args):
        # click.version_option's message, word for word.
        sys.stdout.write(f"assay, version {__version__}\n")
        sys.stdout.flush()
        return 0
    if "store" in args[:2]:  # (after --debug at most): maybe a push or pull
        from assay import quick_transfer

        code = quick_transfer.run(args)
        if code is not None:
            return code
    if "run" in args[:2] or "list" in args[:2]:  # (after --debug at most)
        # Importing the command's modules makes no garbage worth collecting, yet their
        # allocations would start some sixty collections that go through all of them
        # (tens of ms): the collector is off until they are in, and what they made is
        # then put out of its sight for good (it lives as long as the process); it is on
        # again for the tests' code and the run.
        from contextlib import ExitStack

        collecting = gc.isenabled()
        gc.disable()
        kept_code = ExitStack()
        try:
            from assay.codecache import kept_dataclass_code
            from assay.deferinspect import inspect_deferred
            from assay.deferssl import import_asyncio
            from assay.defertyping import import_msgspec
            from assay.recache import kept_regex_code

            # The methods of the command's dataclasses, compiled by an earlier run (a
            # quarter of the work before the first case starts), and the patterns its
            # modules compile (some 7%): see assay.codecache and assay.recache. inspect
            # (dataclasses' and asyncio's) waits until used: assay.deferinspect.
            with inspect_deferred():
                kept = kept_code.enter_context(kept_dataclass_code())
                with kept_regex_code():
                    import_asyncio()  # (both commands run on asyncio; ssl waits until used)
                    import_msgspec()  # (the config's; typing_extensions waits until used)

                    from assay.commands import light  # the same options, without click

                    command = light.prepare(args)
            # From here on the tests' code is loaded: only assay's own classes are kept
            # (the results database's, say, imported while the first case runs).
            kept.only = "assay"
        except BaseException as exc:  # (Ctrl-C among the imports, say): as click's path
            from assay.commands.outcome import report_error

            kept_code.close()
            return report_error(exc, args[:1] == ["--debug"])
        finally:
            gc.freeze()
            if collecting:
                gc.enable()
        with kept_code:
            if command is not None:
                return command()
    from assay.cli import main as full  # the command line's machinery

    return full(args)


# Whether this process ends through :func:`end` (the ``assay`` program), which skips the
# interpreter's teardown: what is left open then is never closed. The results database
# leaves its SQLite connections open in such a process (see SqliteBackend.close).
ENDS_AT_ONCE = False


def console() -> NoReturn:
    """The ``assay`` program (the console script, ``python -m assay``): :func:`main`, then
    the end of the process."""
    global ENDS_AT_ONCE
    ENDS_AT_ONCE = True
    end(main())


def end(code: int) -> NoReturn:
    """End the process with ``code``: without the interpreter's teardown when nothing
    needs it, else (a thread still running, a profiler or tracer, output that cannot be
    flushed) through ``sys.exit`` as always."""
    if _threads_running():
        _say_what_is_waited_for(code)
        sys.exit(code)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    if not _flushed():
        sys.exit(code)  # the interpreter reports it, as it always did
    atexit._run_exitfuncs()  # test code's handlers too; what they raise is reported
    if _threads_running() or not _flushed():  # a handler started one, or printed in vain
        sys.exit(code)
    _release_user_modules()
    if not _flushed():  # (what a released object printed)
        sys.exit(code)
    _EXIT(code)


def _release_user_modules() -> None:
    """Free what user code holds, as the interpreter's teardown would: the globals of
    every module that is neither the interpreter's, an installed package's nor assay's
    own (test files and the modules they import), newest first. A file such code keeps
    open is flushed and closed when its last reference goes."""
    places = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(__file__)}
    own = tuple(os.path.join(p, "") for p in places | {os.path.realpath(p) for p in places})
    users = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        # (the real path only for what the plain one does not place: no lstat per module)
        if isinstance(path, str) and not (
            path.startswith(own) or os.path.realpath(path).startswith(own)
        ):
            users.append(module)
    for module in reversed(users):
        try:
            module.__dict__.clear()
        except Exception:  # noqa: S112 - an odd module object: the process ends anyway
            continue


def _running_threads() -> list[Any]:
    import threading  # (not for --version)

    main_thread = threading.main_thread()
    return [
        t for t in threading.enumerate() if t is not main_thread and not t.daemon and t.is_alive()
    ]


def _threads_running() -> bool:
    return bool(_running_threads())


def _say_what_is_waited_for(code: int) -> None:
    """Before the interpreter's own end waits for the threads that are not daemons: if it
    still waits after a moment (an executor's idle workers end at once; a thread test code
    left running does not), say which threads it waits for, since the run is over and a
    silent wait looks like a hang; and let Ctrl-C end the process with the run's exit code
    (the interpreter's wait would answer it with a traceback)."""
    import contextlib
    import signal
    import threading

    def say() -> None:
        left = _running_threads()  # (not this timer's thread: a daemon)
        if not left:
            return
        names = ", ".join(repr(t.name) for t in left[:3]) + (" ..." if len(left) > 3 else "")
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(
                f"assay: waiting for {len(left)} thread(s) still running ({names}) before "
                "exiting; a test should end the threads it starts. Ctrl-C ends assay now\n"
            )
            sys.stderr.flush()

    def interrupted(_signum: int, _frame: object) -> None:
        _flushed()
        _EXIT(code)

    with contextlib.suppress(ValueError, OSError):  # (not the main thread: no handler)
        signal.signal(signal.SIGINT, interrupted)
    notice = threading.Timer(_NOTICE_AFTER, say)
    notice.daemon = True  # (not waited for itself)
    notice.start()


def _flushed() -> bool:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return False
    return True
