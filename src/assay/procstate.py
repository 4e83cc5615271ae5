"""The process state that test code, run inside assay's process, may change and
:class:`assay.guard.running` puts back after each call: ``os.environ``, file descriptors
0-2 and the streams on them, the umask, the handlers of SIGCHLD and SIGPIPE."""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import signal
from typing import Any

umask = 0o022  # the process's umask before test code first ran (start())
# Calls of test code begun and ended (guard.running): what only test code may change (a
# display's own descriptor, :mod:`assay.own_output`) is checked again only when these moved.
entered = 0
left = 0
_STD = (0, 1, 2)
# A copy (close-on-exec, above 2) of what each of fds 0-2 was open to, and that file's
# (st_dev, st_ino): to put it back when test code closes or replaces the fd.
_copies: dict[int, tuple[int, tuple[int, int]]] = {}
environ = os.environ
# os.environ's own bytes-level dict: comparing and copying it costs no decoding.
environ_data: dict[bytes, bytes] = vars(os.environ)["_data"]


def variable(name: str) -> str | None:
    """``os.environ.get(name)``, read from its own dict of bytes: one lookup, where the
    mapping's ``get`` is four Python calls (and a KeyError raised and caught for a variable
    that is unset, as most asked for per case are)."""
    value = environ_data.get(name.encode("utf-8", "surrogateescape"))
    return None if value is None else value.decode("utf-8", "surrogateescape")


def read_umask() -> int:
    """The umask, read without setting it where Linux tells it: os.umask sets it for a
    moment, and another thread (files.py) may be reading it the same way."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_real_close = os.close  # (the guard replaces os.close while test code may run)


def fd_identity(fd: int) -> tuple[int, int] | None:
    """What the descriptor ``fd`` is open to, (st_dev, st_ino); None when it is closed."""
    try:
        info = os.fstat(fd)
    except OSError:  # closed
        return None
    return (info.st_dev, info.st_ino)


def open_fds(low: int = 3) -> dict[int, tuple[int, int]] | None:
    """The descriptors from ``low`` on open in this process, with what each is open to
    (None: no procfs to list them)."""
    try:
        listed = os.listdir("/proc/self/fd")
    except OSError:
        return None
    found = {}
    for fd in map(int, listed):
        if fd >= low:
            identity = fd_identity(fd)
            if identity is not None:  # (the listing's own, closed by now)
                found[fd] = identity
    return found


# Descriptors above 2 a run found open (guard.signals_to): assay's (its event loop's epoll
# and self-pipe, the display's terminal, the journal, the results database).
run_fds: dict[int, tuple[int, int]] = {}

StdState = tuple[tuple[int, int] | None, ...]
run_std: StdState = ()  # fds 0-2 as a run found them (guard.signals_to): assay keeps them so


def std_state() -> StdState:
    """What fds 0-2 are open to now; keeps a copy of each that has no copy yet."""
    found = (fd_identity(0), fd_identity(1), fd_identity(2))
    for fd, ident in zip(_STD, found, strict=True):
        held = _copies.get(fd)
        if ident is not None and (held is None or held[1] != ident):
            try:
                copy = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            except OSError:  # out of descriptors: nothing to put back with
                continue
            if held is not None:
                with contextlib.suppress(OSError):
                    os.close(held[0])
            _copies[fd] = (copy, ident)
    return found


def put_std_back(before: StdState) -> None:
    for fd, ident in zip(_STD, before, strict=True):
        if ident is None or fd_identity(fd) == ident:
            continue
        held = _copies.get(fd)
        try:
            if held is not None and fd_identity(held[0]) == ident:
                os.dup2(held[0], fd)
            else:  # test code closed our copy too (os.closerange): the fd goes to /dev/null
                to_devnull(fd)
        except OSError:  # out of descriptors: nothing better to do
            pass


def to_devnull(fd: int) -> None:
    """Make ``fd`` (open or not) a descriptor of /dev/null."""
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:
        try:
            os.dup2(null, fd)
        finally:
            _real_close(null)


def put_streams_back(streams: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """sys.stdin/stdout/stderr as they were, a closed one replaced by a new one on its fd."""
    fixed = []
    for fd, stream in enumerate(streams):
        if getattr(stream, "closed", False):
            mode = "r" if fd == 0 else "w"
            stream = open(fd, mode, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        fixed.append(stream)
    return fixed[0], fixed[1], fixed[2]


def apply_environ(changes: dict[bytes, bytes | None]) -> None:
    for key, value in changes.items():
        with contextlib.suppress(OSError, ValueError):
            if value is None:
                os.unsetenv(key)
            else:
                os.putenv(key, value)
        if value is None:
            environ_data.pop(key, None)
        else:
            environ_data[key] = value


def environ_changes(base: dict[bytes, bytes]) -> dict[bytes, bytes | None]:
    """How os.environ differs from ``base`` (None: a variable removed)."""
    data = environ_data
    changes: dict[bytes, bytes | None] = {k: v for k, v in data.items() if base.get(k) != v}
    changes.update((k, None) for k in base if k not in data)
    return changes


def put_environ_back(saved: dict[bytes, bytes]) -> None:
    """os.environ (and the C library's environment under it) as ``saved``."""
    data = environ_data
    for key in [k for k in data if k not in saved]:
        with contextlib.suppress(OSError, ValueError):
            os.unsetenv(key)
        del data[key]
    for key, value in saved.items():
        if data.get(key) != value:
            with contextlib.suppress(OSError, ValueError):
                os.putenv(key, value)
            data[key] = value


# Signals whose handling test code may change (a library's own cleanup, the idioms
# signal(SIGCHLD, SIG_IGN) against zombies and signal(SIGPIPE, SIG_DFL) in scripts) and
# assay's work needs as it was: with SIGCHLD ignored the kernel reaps assay's jobs itself,
# and the waitpid of the thread that waits for one fails (the run hung, deaf to SIGTERM);
# with SIGPIPE's default a reader that goes away kills assay instead of raising EPIPE.
# SIGINT, SIGTERM and SIGHUP are the guard's (guard.signals_to). As found at start().
kept_handlers: dict[int, Any] = {}
# (_signal's C functions: signal.getsignal and signal.signal turn handlers into enums)
_signal_module: Any = importlib.import_module("_signal")
get_handler: Any = _signal_module.getsignal
set_handler: Any = _signal_module.signal


def put_handlers_back(handlers: dict[int, Any]) -> None:
    """The signals' handlers as ``handlers`` says (where test code changed them)."""
    for sig, handler in handlers.items():
        if get_handler(sig) != handler:
            set_handler(sig, handler)


def start() -> None:
    """Once, before test code first runs: the umask and the signal handlers to keep."""
    global umask
    umask = read_umask()
    for sig in (signal.SIGCHLD, signal.SIGPIPE):
        kept_handlers[sig] = get_handler(sig)
