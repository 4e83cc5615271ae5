"""Test code runs inside assay's own process: this keeps it from taking the runner down.

Whatever test code raises (``BaseException`` included: ``SystemExit``, ``KeyboardInterrupt``,
``GeneratorExit``, its own classes) fails its own case or file; the callers catch it. What
this module adds is around each call of test code (:func:`running`):

* a real SIGINT, SIGTERM or SIGHUP that arrives while test code runs raises
  :class:`Interrupted` inside it, so that a test that hangs (``while True``, a long
  ``time.sleep``) cannot make the runner deaf to Ctrl-C; the event loop still sees the
  signal afterwards and interrupts the run as usual. A ``KeyboardInterrupt`` that test code
  raises itself is only that test's failure;
* during a run, a call of test code on the event loop's thread that runs longer than its
  limit (a test's ``code_time_limit``) gets :class:`~assay.overrun.TookTooLong` raised
  inside it, and fails even if it catches it (:mod:`assay.overrun`);
* the working directory and ``sys.path`` are put back as they were: a test that changes
  them must not move assay's own paths or imports (``sys.modules`` is left alone: a module
  imported stays imported, as in any Python program);
* so are ``os.environ`` (what assay's own child processes inherit), the umask (the mode of
  every file assay writes) and file descriptors 0, 1 and 2 (closed or replaced, the next
  file assay opens would take their number and get what it prints). A case's own changes
  to ``os.environ`` are kept for it (:attr:`Printed.environ`): in place again for its
  later calls, exported by its job scripts, never seen by another case;
* :func:`call` refuses a result that means the code never ran: a coroutine (an ``async
  def`` that was not awaited) or a generator.

* what test code may not do in assay's process at all (end it with ``os._exit``, replace
  it with ``os.exec*``, close its descriptors with ``os.closerange`` or ``os.close``) is
  refused by :mod:`assay.refusals`, installed at the first call of test code; a child the
  test forks ends when it comes back into assay.

Not stoppable from inside the process: ``os.kill(os.getpid(), SIGKILL)``, the C library's
``_exit`` through ``ctypes``, a crash of the interpreter. Not put back: ``os.putenv`` and
``os.unsetenv`` called directly (they bypass ``os.environ``), descriptors assay opened
after the run began that a test closes by number (``os.close``), signal handlers, resource
limits. The journal keeps what finished; ``assay run --resume`` runs the rest.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, MethodType, TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

from assay import overrun, planted, procstate, refusals
from assay.deferinspect import CO_ASYNC_GENERATOR, CO_COROUTINE, CO_GENERATOR, code_flags

if TYPE_CHECKING:
    from assay.define.definition import Definition

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
F = TypeVar("F", bound=Callable[..., Any])


class Interrupted(BaseException):
    """A real SIGINT, SIGTERM or SIGHUP arrived while test code ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Misused(Exception):
    """Test code returned something that shows its body never ran (a coroutine...)."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


_MAIN_IDENT = refusals.MAIN_IDENT
_forward: Callable[[int], None] | None = None  # a run's own reaction to the signals
# During a run: the handlers each call of test code on the main thread leaves in place.
_run_handlers: dict[int, Any] = {}

# signal.signal without its last step: it turns the previous handler into its enum, and for
# one that is no SIG_DFL/SIG_IGN (asyncio.Runner's SIGINT partial, which holds the run's
# main task) it first makes the ValueError it drops, with that handler's repr: the task's,
# which walks its callbacks and imports inspect, before the first case starts. The C call
# returns the handler as it is (SIG_DFL and SIG_IGN as the ints the enum's members equal).
_set_handler: Callable[[int, Any], Any] = importlib.import_module("_signal").signal


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _forward is not None:
        _forward(signum)
    if refusals.inside:
        raise Interrupted(signum)


@contextmanager
def signals_to(forward: Callable[[int], None]) -> Iterator[None]:
    """For a run: SIGINT, SIGTERM and SIGHUP go to ``forward`` (called in the signal
    handler: it must only schedule work), and also interrupt test code running at the
    time. Installed once, so that each call of test code costs no handler swaps."""
    global _forward
    previous = {sig: _set_handler(sig, _on_signal) for sig in SIGNALS}
    _forward = forward
    _run_handlers.update(dict.fromkeys(SIGNALS, _on_signal))
    # Looked at once per run, not at each call of test code (three fstat calls a time).
    procstate.run_std = procstate.std_state()
    # (once per run: one listing, an fstat each; none known without procfs)
    procstate.run_fds = procstate.open_fds() or {}
    try:
        with overrun.watching():
            yield
    finally:
        _forward = None
        _run_handlers.clear()
        procstate.run_std = ()
        procstate.run_fds = {}
        for sig, handler in previous.items():
            _set_handler(sig, handler)


class Printed(io.TextIOBase):
    """Where a case's test code prints (stdout and stderr, interleaved): a file in the
    case's directory, opened at the first write (most tests print nothing)."""

    def __init__(self, where: Callable[[], Path]) -> None:
        super().__init__()
        self._where = where
        self._file: IO[str] | None = None
        # The case's own changes to os.environ (a value of None: removed), made by its test
        # code: in place again for each of its later calls, and exported by its job scripts
        # (:func:`assay.run.scripts.inherited_lines`); never seen by another case.
        self.environ: dict[bytes, bytes | None] = {}
        # What the job had left at the file's name (removed, never written through), or
        # why the file could not be opened: for the case to fail with.
        self.problem: str | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._file is None:
            self._file = self._open()
        return self._file.write(text)

    def _open(self) -> IO[str]:
        """The file, opened in its directory without following what a job planted there
        (:mod:`assay.planted`); where it cannot be, what is printed is dropped and said."""
        path = self._where()
        try:
            fd, found = planted.append(path)
        except OSError as exc:
            self.problem = (
                f"cannot write what the test's Python code printed to {path}: "
                f"{exc.strerror or exc}; the job must leave that name (and its directory) "
                "to assay"
            )
            return open(os.devnull, "w", encoding="utf-8")
        if found is not None:
            self.problem = (
                f"the job left {found} at {path}, assay's file for what the test's Python "
                "code printed: assay removed it (never wrote through it) and made the file "
                "anew; a job must not make files named assay-*"
            )
        return open(fd, "a", encoding="utf-8", errors="replace")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


class running:
    """Around one call of test code: signals interrupt it, cwd and ``sys.path`` are kept,
    and what it prints goes to ``printed`` (when given) instead of the terminal, where it
    would tear through the live display. (A class, not a generator context manager: it
    runs twice for every case.)"""

    __slots__ = (
        "_cwd",
        "_dunders",
        "_env",
        "_limit",
        "_main",
        "_path",
        "_pid",
        "_previous",
        "_printed",
        "_std",
        "_streams",
    )

    def __init__(self, printed: Printed | None = None, limit: float | None = None) -> None:
        self._printed = printed
        self._limit = limit

    def __enter__(self) -> None:
        self._pid = os.getpid()
        try:
            self._cwd: str | None = os.getcwd()
        except OSError:  # the directory assay started in is gone: nothing to keep
            self._cwd = None
        self._path = list(sys.path)
        if refusals.runner_pid is None:
            refusals.install()
        self._env = procstate.environ_data.copy()
        if self._printed is not None and self._printed.environ:
            procstate.apply_environ(self._printed.environ)  # the case's own, from before
        self._std = procstate.run_std or procstate.std_state()
        self._main = main = threading.get_ident() == _MAIN_IDENT
        # Outside a run (loading test files) there is no handler of ours yet: swap one in.
        swap = main and _forward is None
        self._previous = {sig: _set_handler(sig, _interrupt) for sig in SIGNALS} if swap else {}
        self._streams = (sys.stdin, sys.stdout, sys.stderr)
        if self._printed is not None:
            # sys.__stdout__ too: closing it would close the stream the live display holds
            self._dunders = (sys.__stdout__, sys.__stderr__)
            sys.stdout = sys.stderr = self._printed
            sys.__stdout__ = sys.__stderr__ = self._printed  # type: ignore[misc,assignment]
        if main:
            refusals.enter()
            if refusals.inside == 1:
                overrun.begin(self._limit)
        procstate.entered += 1

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        # A child the test forked, back in assay, ends here. By its pid, not a flag set by
        # os.register_at_fork: a fork through libc (ctypes) or a raw syscall runs no
        # Python hook, and its child would go on as a second runner.
        if os.getpid() != self._pid:
            refusals.end_forked_child(exc)
        ran_past = 0.0
        if self._main:
            if refusals.inside == 1:
                ran_past = overrun.end()
            refusals.leave()
        procstate.left += 1  # (counted first: what follows may write to the display)
        # fds first: a stream put back may need a new object on its fd
        procstate.put_std_back(self._std)
        saved = self._streams
        # (getattr: a stream may be None, e.g. sys.stdin of a process started without fd 0)
        if (
            getattr(saved[0], "closed", 0)
            or getattr(saved[1], "closed", 0)
            or (getattr(saved[2], "closed", 0))
        ):
            saved = procstate.put_streams_back(saved)
        sys.stdin, sys.stdout, sys.stderr = saved
        if self._printed is not None:
            sys.__stdout__, sys.__stderr__ = self._dunders  # type: ignore[misc]
            self._printed.flush()
        if os.environ is not procstate.environ:  # test code rebound the name: os.environ = {...}
            os.environ = procstate.environ  # noqa: B003 - the very object it replaced
        changed = procstate.environ_data != self._env
        printed = self._printed
        if printed is not None and (changed or printed.environ):
            # kept for the case, taken from everyone else
            printed.environ = procstate.environ_changes(self._env) if changed else {}
        if changed:
            procstate.put_environ_back(self._env)
        os.umask(procstate.umask)  # (one call: os.umask sets it as it reads it)
        for sig, handler in self._previous.items():
            _set_handler(sig, handler)
        if self._main:  # (signal handlers are set on the main thread only)
            procstate.put_handlers_back(procstate.kept_handlers)
            if _run_handlers:
                procstate.put_handlers_back(_run_handlers)
        cwd = self._cwd
        if cwd is not None:
            try:
                if os.getcwd() != cwd:
                    os.chdir(cwd)
            except OSError:
                os.chdir(cwd)
        if sys.path != self._path:
            sys.path[:] = self._path
        overrun.fail_if_past(ran_past, exc)


def call(
    what: str,
    func: Callable[..., Any],
    *args: Any,
    printed: Printed | None = None,
    limit: float | None = None,
) -> Any:
    """Call test code ``func(*args)`` under :func:`running`; ``what`` names it in messages;
    ``limit``: the seconds it may run (see :mod:`assay.overrun`). A method :func:`own`
    marks (assay's, holding no test code) is only made interruptible (and limited)."""
    # (A bound method's attributes are its function's: asked of the function, since the
    # method's own lookup raises and formats an AttributeError it then drops, per call.)
    marked = func.__func__ if type(func) is MethodType else func
    if getattr(marked, "assay_own", False):
        return _interruptible(func, args, limit)
    with running(printed, limit):
        result = func(*args)
    if result is not None:  # (most test code returns None: no need to look further)
        problem = _never_ran(what, result)
        if problem:
            raise Misused(problem)
    return result


def own(func: F) -> F:
    """Mark a method of assay's own that the runner calls as it calls test code (a
    compiled suite's hooks and sanity, which hold no Python of the user's): :func:`call`
    runs it without saving and restoring the process's state around it (directory,
    ``sys.path``, environment, umask, standard streams: five system calls and copies,
    several times per case), which such code leaves alone. A signal still interrupts it,
    as it does test code (a long comparison stops at Ctrl-C). A method that runs the
    user's code (a template, a comparison command is a process of its own) must guard
    that part itself (:class:`running`)."""
    func.assay_own = True  # type: ignore[attr-defined]
    return func


def _interruptible(
    func: Callable[..., Any], args: tuple[Any, ...], limit: float | None = None
) -> Any:
    """``func(*args)``, during which a run's signals raise :class:`Interrupted` in it (and
    its ``limit``, :class:`~assay.overrun.TookTooLong`)."""
    if threading.get_ident() != _MAIN_IDENT:
        return func(*args)
    refusals.enter()
    outermost = refusals.inside == 1
    if outermost:
        overrun.begin(limit)
    raised: BaseException | None = None
    try:
        return func(*args)
    except BaseException as exc:
        raised = exc
        raise
    finally:
        ran_past = overrun.end() if outermost else 0.0
        refusals.leave()
        overrun.fail_if_past(ran_past, raised)  # (in place of its result, or what it raised)


def _never_ran(what: str, result: Any) -> str | None:
    if inspect.iscoroutine(result):
        result.close()  # no "never awaited" warning on the user's terminal
        return (
            f"{what} returned a coroutine (an async def?), so its body never ran; "
            "assay calls it without awaiting: make it a plain def"
        )
    if inspect.isgenerator(result) or inspect.isasyncgen(result):
        return (
            f"{what} returned a generator (a yield in its body?), so its body never ran; "
            "remove the yield"
        )
    return None


def misdefined(what: str, func: Any) -> str | None:
    """Why ``func`` (a sanity, hook or metric method) can never run as assay calls it."""
    func = getattr(func, "__func__", func)
    flags = code_flags(func)
    if flags is not None:
        # A plain function (every test class has some): its code's flags, as inspect's
        # predicates read them, without importing inspect before the first case starts.
        is_async = bool(flags & (CO_COROUTINE | CO_ASYNC_GENERATOR))
        is_generator = bool(flags & CO_GENERATOR)
    else:  # (a partial, a method of a method, a compiled function: inspect's own rules)
        is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        is_generator = inspect.isgeneratorfunction(func)
    if is_async:
        return f"{what} is an async def; assay calls it without awaiting: make it a plain def"
    if is_generator:
        return f"{what} is a generator (it contains yield), so its body would never run"
    return None


# -- words for what test code raised ------------------------------------------------------


def safe_str(value: object) -> str:
    """``str(value)``, or a placeholder when its ``__str__`` itself raises."""
    try:
        return str(value)
    except BaseException:  # test code's __str__ may raise anything
        return f"<unprintable {type(value).__name__} object>"


def safe_repr(value: object) -> str:
    """``repr(value)``, or a placeholder when its ``__repr__`` itself raises."""
    try:
        return repr(value)
    except BaseException:  # test code's __repr__ may raise anything
        return f"<unprintable {type(value).__name__} object>"


def exception_text(exc: BaseException) -> str:
    """``Type: message`` (``Type`` alone when there is no message), never raising."""
    message = safe_str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_PACKAGE = str(Path(__file__).resolve().parent) + os.sep


@functools.cache
def _library_paths() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The standard library's directories and those of installed packages: at the first
    exception looked into, not at import (sysconfig loads the build's data, every run)."""
    import sysconfig

    paths = sysconfig.get_paths()
    stdlib = tuple({str(Path(paths[k]).resolve()) + os.sep for k in ("stdlib", "platstdlib")})
    installed = tuple({str(Path(paths[k]).resolve()) + os.sep for k in ("purelib", "platlib")})
    return stdlib, installed


def assay_code(filename: str) -> bool:
    """Whether ``filename`` is one of assay's own modules."""
    return filename.startswith(_PACKAGE)


def own_code(filename: str) -> bool:
    """Whether ``filename`` is assay's own code or the standard library's (not a package
    installed beside it: a test's helper library is the test's code)."""
    if filename.startswith((_PACKAGE, "<frozen ")):
        return True
    stdlib, installed = _library_paths()
    return filename.startswith(stdlib) and not filename.startswith(installed)


def raised_by_test_code(tb: TracebackType | None) -> bool:
    """Whether any frame of the traceback is outside assay and the standard library (a
    GeneratorExit that closes a coroutine passes through assay's frames only)."""
    while tb is not None:
        if not own_code(tb.tb_frame.f_code.co_filename):
            return True
        tb = tb.tb_next
    return False


def describe_exception(exc: BaseException, definition: Definition | None = None) -> tuple[str, str]:
    """A one-line reason that ends with where it happened in the user's files, and the
    traceback below it.

    Where: the deepest frame in the test's own file; else the deepest frame of code that is
    neither assay's nor the standard library's (a helper module beside the test, a library
    it calls); else the test's definition (its class statement, or its suite file and key):
    an exception raised inside assay on the test's behalf, in a worker thread say, is still
    the test's to look into.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    own_file = _resolved(definition.file) if definition and definition.file else None
    mine = [f for f in frames if own_file is not None and _resolved(f.filename) == own_file]
    users = [f for f in frames if not own_code(f.filename)]
    if mine or users:
        frame = (mine or users)[-1]
        where = f" at {frame.filename}:{frame.lineno}"
        shown = [f for f in frames if not assay_code(f.filename)]
    else:
        where = f" at {definition.location}" if definition is not None else ""
        shown = frames  # nothing of the user's: all of it, for whoever looks into it
    text = exception_text(exc)
    if isinstance(exc, AttributeError):  # ported code's self.stagedir, say
        from assay.define.reframe_runtime import hint

        text += hint(exc)
    lines = text.splitlines() or [""]
    more = " ..." if len(lines) > 1 else ""
    reason = f"{lines[0]}{more}{where}"
    details = "".join(traceback.format_list(shown)) + text
    return reason, details


@functools.lru_cache(maxsize=256)
def _resolved(path: str) -> str:
    return os.path.realpath(path)


# assay's own steps around a call of test code (see overrun.OWN_STEPS)
overrun.OWN_STEPS.update(
    f.__code__ for f in (running.__enter__, running.__exit__, _interruptible, call)
)
