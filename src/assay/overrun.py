"""Test code that runs past its limit on the event loop's thread, stopped.

A test's Python code (hooks, sanity, metrics) runs on the runner's event loop, where every
other case waits while it runs: a sanity regular expression that backtracked without end
held a whole run until it was killed. During a run (:func:`watching`) the process's
interval timer (``ITIMER_REAL``) sends SIGALRM every :data:`TICK`; its handler, which runs
on the main thread, raises :class:`TookTooLong` in the outermost call of test code under
way once that call has run past its limit (a test's ``code_time_limit``), and again at each
tick while it goes on (it may catch the first); the call fails when it returns even if it
caught them all.

Why a timer of the kernel's: C code that holds the GIL (the regular expression engine)
lets no watchdog thread run, but checks for signals. Why one that ticks through the run,
not one set and cleared per call: that costs 5-9 us a call on this project's VMs, against
two stores and a clock read (:func:`begin`, :func:`end`). A signal that reaches another
thread interrupts its system call, which Python retries (PEP 475), as SQLite does. The
program's own timer, if it had one set, is set again when the run ends. Test code that
sets SIGALRM's handler or the timer itself has both put back when its call returns.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

from assay import refusals

CODE_TIME_LIMIT = 300.0
"""Seconds a call of test code may run on the event loop's thread unless its test says
otherwise (``code_time_limit``)."""

# How often the timer ticks: a call is stopped at most this long after its limit, and again
# this often after that.
TICK = 1.0

# The outermost call of test code under way on the main thread (written by it alone): its
# limit (0.0: none, or no call) and deadline (time.monotonic()).
_limit = 0.0
_deadline = 0.0
_fired = False  # TookTooLong was raised in the call under way
_watching = 0  # runs under way (nested in the tests' in-process runs)

OWN_STEPS: set[CodeType] = set()
"""Code of assay's own steps around a call of test code, in which the handler raises
nothing (raised there, the process's state would not be put back): the next tick finds the
test's code if it still runs. :mod:`assay.guard` adds its steps."""


class TookTooLong(BaseException):
    """Test code ran past its limit on the event loop's thread (a BaseException, as a
    Ctrl-C's: a test's ``except Exception`` must not swallow it)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds

    def __str__(self) -> str:
        return took_too_long(self.seconds)


def took_too_long(seconds: float) -> str:
    """What a case whose test code ran past its limit fails with."""
    from assay.durations import Duration

    return (
        f"ran longer than code_time_limit ({Duration(seconds)}) in assay's process, where "
        "every other case waits: stopped. A regular expression that backtracks without end "
        "(nested repeats such as (a+)+) or an endless loop does this; fix it, or raise "
        "code_time_limit (None: no limit)"
    )


def begin(limit: float | None) -> None:
    """The outermost call of test code on the main thread starts (limited during a run)."""
    global _deadline, _fired, _limit
    if limit and _watching:
        _fired = False
        _deadline = time.monotonic() + limit
        _limit = limit


def end() -> float:
    """The call :func:`begin` started returns; the limit it ran past (0.0: it did not)."""
    global _limit
    if not _limit:
        return 0.0
    limit, _limit = _limit, 0.0
    _keep_watching()
    return limit if _fired else 0.0


def _keep_watching() -> None:
    """Put back SIGALRM's handler, the ticking timer and the signal's delivery if the call
    changed them: test code that uses ``signal.alarm`` for timeouts of its own
    (``alarm(0)`` clears the timer), sets the timer's next tick far off with the same
    interval, or blocks SIGALRM would turn every later call's limit off. Reading all three
    costs a lookup and two system calls, not the 5-9 us of setting the timer."""
    if signal.getsignal(signal.SIGALRM) is not _on_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)
    due, every = signal.getitimer(signal.ITIMER_REAL)
    if every != TICK or due > TICK:
        signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
    if signal.SIGALRM in signal.pthread_sigmask(signal.SIG_BLOCK, ()):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGALRM,))


def fail_if_past(ran_past: float, exc: BaseException | None) -> None:
    """Raise :class:`TookTooLong` for a call :func:`end` found past its limit that caught
    every stop and returned (``exc`` None), or raised something else (``exc``)."""
    if ran_past and not isinstance(exc, TookTooLong):
        raise TookTooLong(ran_past) from exc


def code_limit(test: object) -> float | None:
    """The seconds ``test``'s code may run per call (its ``code_time_limit``; None: no
    limit). A value that is no duration (set around the field's check) gets the default."""
    value = getattr(test, "code_time_limit", CODE_TIME_LIMIT)
    if value is None:
        return None
    if isinstance(value, float):  # (a Duration: decoded when it was set)
        return float(value)
    from assay.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError:
        return CODE_TIME_LIMIT


def _on_alarm(_signum: int, frame: FrameType | None) -> None:
    global _fired
    if (
        _limit
        and refusals.inside
        and time.monotonic() >= _deadline
        and (frame is None or frame.f_code not in OWN_STEPS)
    ):
        _fired = True
        raise TookTooLong(_limit)


@contextmanager
def watching() -> Iterator[None]:
    """For a run (on the main thread): its calls of test code are watched."""
    global _watching
    previous: Any = signal.signal(signal.SIGALRM, _on_alarm)
    due, every = signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
    since = time.monotonic()
    _watching += 1
    try:
        yield
    finally:
        _watching -= 1
        if not _watching:  # (else an outer run goes on, with this timer)
            left = max(due - (time.monotonic() - since), 0.001) if due else 0.0
            signal.setitimer(signal.ITIMER_REAL, left, every if due else 0.0)
        signal.signal(signal.SIGALRM, previous)


OWN_STEPS.update(f.__code__ for f in (begin, end, _keep_watching))
