"""What test code may not do in assay's own process, where it runs (:mod:`assay.guard`):
end it, replace it, or close the descriptors assay works with.

* ``os._exit()`` and ``os.exec*()`` in assay's process raise :class:`ExitRefused` from
  the first call of test code on: in the test, that fails its case; in an ``atexit``
  handler a test file registered, it is ignored, so it cannot turn a failed run's exit
  code into 0. A child the test forked exits as it asks.

* ``os.closerange()`` over descriptors above 2 that are open in assay's process raises
  :class:`ExitRefused` too (they are assay's: its event loop, display, database): a test
  file's ``os.closerange(3, 1024)`` fails that file, instead of the whole run. So does
  ``os.close(n)`` from test code during a run, of a descriptor the run found open (as
  assay's, when it began: a test file's descriptor kept open from its import on is one of
  them too) and still open to the same file.

* a child that test code forks (``os.fork()``, or libc's ``fork`` through ctypes) and lets
  return into assay (falls off the end of the test's function or raises out of it) ends
  there (:func:`end_forked_child`), as if it had called ``os._exit``: it would go on as a
  second runner, running the other cases, cleaning up stage dirs and writing the report
  beside the real one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from assay import procstate


class ExitRefused(BaseException):
    """Test code called ``os._exit()`` (``os.exec*``, ``os.closerange``) in assay's own
    process."""


_real_exit = os._exit
_real_execv, _real_execve = os.execv, os.execve
_real_closerange = os.closerange
_real_close = os.close
runner_pid: int | None = None  # set once test code may run: os._exit is guarded from then
inside = 0  # calls of test code under way on the main thread (counted by assay.guard)
# os's functions are posix's: both names are replaced (the one imported once, here).
_POSIX: Any = sys.modules.get("posix", os)
# The main thread's ident, looked up once: guard.running asks for it twice per case.
MAIN_IDENT = threading.main_thread().ident


def _refuse_exit(status: int) -> NoReturn:
    if os.getpid() != runner_pid:  # a child the test forked
        _real_exit(status)
    raise ExitRefused(
        f"os._exit({status}) would end assay's whole run; fail the test with an exception"
    )


def _refuse_execv(path: Any, argv: Any) -> NoReturn:
    if os.getpid() != runner_pid:
        _real_execv(path, argv)
    raise ExitRefused(f"os.exec* of {os.fsdecode(path)} would replace assay's run; use subprocess")


def _refuse_execve(path: Any, argv: Any, env: Any) -> NoReturn:
    if os.getpid() != runner_pid:
        _real_execve(path, argv, env)
    raise ExitRefused(f"os.exec* of {os.fsdecode(path)} would replace assay's run; use subprocess")


def enter() -> None:
    """Test code starts running on the main thread (calls nest): ``os.close`` is refused
    what :func:`_close` refuses, from now until the matching :func:`leave`."""
    global inside
    inside += 1
    if inside == 1 and runner_pid is not None:
        os.close = _POSIX.close = _close


def leave() -> None:
    """Test code started with :func:`enter` has returned."""
    global inside
    inside -= 1
    if inside == 0 and runner_pid is not None:
        os.close = _POSIX.close = _real_close


def _close(fd: int) -> None:
    """``os.close`` that, while test code runs in assay's process, leaves fds 0-2 taken:
    closing one gives it /dev/null instead. A closed 0-2 is the lowest free number, which
    the next file any thread of assay opens gets (a module's source being imported, the
    results database); putting the stream back then went over that file (a run ended in
    "Bad file descriptor" from an import in the recorder's thread)."""
    if inside and os.getpid() == runner_pid:
        if 0 <= fd <= 2:
            procstate.to_devnull(fd)
            return
        # One of assay's, still open to what the run found (not a number the test's own
        # file reuses since), closed from the thread running test code: refused, as
        # closerange is ("for fd in range(3, 1024): os.close(fd)" ended the run in "Bad
        # file descriptor" from the event loop, and a file opened next took the number of
        # the journal or the database, which then wrote into it).
        held = procstate.run_fds.get(fd)
        if (
            held is not None
            and threading.get_ident() == MAIN_IDENT
            and procstate.fd_identity(fd) == held
        ):
            raise ExitRefused(
                f"os.close({fd}) would close a descriptor of assay's own process (its event "
                "loop, display, journal or results database) and end the run; close only "
                "the files the test opened"
            )
    _real_close(fd)


def _closerange(low: int, high: int) -> None:
    """``os.closerange`` that, in assay's process, refuses to close a descriptor above 2:
    those are assay's (its event loop's epoll and self-pipe, the display's terminal, the
    results database, its jobs' pidfds) as much as the test's. A test file's
    ``os.closerange(3, 1024)`` closed them all: the run ended in a traceback ("Bad file
    descriptor" from the event loop) with its output lost. Fds 0-2 are the guard's to put
    back; a child the test forked closes what it asks."""
    if os.getpid() != runner_pid:
        _real_closerange(low, high)
        return
    if inside:
        for fd in range(max(low, 0), min(high, 3)):  # (see _close)
            with contextlib.suppress(OSError):
                os.fstat(fd)
                procstate.to_devnull(fd)
    found = procstate.open_fds(max(low, 3))
    # (no procfs: as if every one were open)
    candidates = range(max(low, 3), min(high, 1 << 16)) if found is None else found
    held = sorted(fd for fd in candidates if fd < high)
    if held:
        raise ExitRefused(
            f"os.closerange({low}, {high}) would close descriptors of assay's own process "
            f"({_numbers(held)}: its event loop, display and results database among them) "
            "and end the run; close the files the test opened with their own close()"
        )
    _real_closerange(max(low, 3) if inside else low, high)


def end_forked_child(exc: BaseException | None) -> NoReturn:
    """End a child test code forked that came back into assay: with the status its
    ``sys.exit`` asked for, 1 for any other exception, 0 when it returned."""
    if isinstance(exc, SystemExit):
        code = exc.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
    else:
        status = 0 if exc is None else 1
    with contextlib.suppress(OSError):
        os.write(
            2,
            f"assay: warning: a process the test forked (pid {os.getpid()}) returned into "
            f"assay instead of ending; it is ended with status {status} (end a forked child "
            "with os._exit())\n".encode(),
        )
    _real_exit(status)


def _numbers(fds: list[int]) -> str:
    shown = ", ".join(map(str, fds[:8]))
    return shown + (f" and {len(fds) - 8} more" if len(fds) > 8 else "")


def install() -> None:
    """Refuse from now on (the first call of test code): idempotent."""
    global runner_pid
    if runner_pid is None:
        import posix

        procstate.start()
        runner_pid = os.getpid()
        os.closerange = posix.closerange = _closerange
        # os.close is swapped in only while test code runs (enter/leave): outside it,
        # _close is the real one with a Python call in front, and assay's own closes
        # (ten a case) would pay for that call for nothing.
        if inside:
            os.close = _POSIX.close = _close
        os._exit = posix._exit = _refuse_exit
        # os.execl, execlp, execvp ... all end in these two
        os.execv = posix.execv = _refuse_execv
        os.execve = posix.execve = _refuse_execve
        sys.unraisablehook = functools.partial(_unraisable, sys.unraisablehook)


def _unraisable(previous: Callable[[Any], object], info: Any) -> None:
    """One line, no traceback, for an ``os._exit`` that an ``atexit`` handler of a test
    file called (the interpreter ignores what such a handler raises)."""
    if isinstance(info.exc_value, ExitRefused):
        where = getattr(info.object, "__qualname__", None) or repr(info.object)
        from assay import terminal  # lazy: only when it happens

        text = f"{info.err_msg or 'in'} {where}: {info.exc_value}"
        sys.stderr.write(f"assay: warning: {terminal.line(text)}\n")
        return
    previous(info)
