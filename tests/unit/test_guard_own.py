"""guard.own: assay's own methods called as test code (a compiled suite's hooks and
sanity) skip the save and restore of the process's state, and stay interruptible."""

from __future__ import annotations

import os
import signal
import time

import pytest

from assay import guard, overrun


def test_test_code_gets_the_directory_back_own_code_is_called_as_it_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def test_code() -> None:
        os.chdir("/")

    guard.call("hook", test_code)
    assert os.getcwd() == str(tmp_path)

    class NoGuard:  # stands in for running(): an own method must not need it
        def __init__(self, *_args: object) -> None:
            raise AssertionError("own code went through the full guard")

    monkeypatch.setattr(guard, "running", NoGuard)
    assert guard.call("sanity", guard.own(lambda x: x + 1), 1) == 2


def test_a_runs_signal_interrupts_own_code_as_it_does_test_code():
    forwarded: list[int] = []

    @guard.own
    def long_comparison() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the handler raises in here

    with guard.signals_to(forwarded.append):
        with pytest.raises(guard.Interrupted):  # (uninterrupted, the sleep returns None)
            guard.call("sanity", long_comparison)
        # Outside it, the signal is only forwarded to the run.
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
    assert forwarded == [signal.SIGTERM, signal.SIGTERM]


def test_a_marked_method_is_called_as_own_code_an_unmarked_one_as_test_code(tmp_path, monkeypatch):
    """A compiled suite's sanity is a bound method: the mark is read through it (from its
    function), and a method without the mark still runs under the guard."""
    monkeypatch.chdir(tmp_path)

    class Suite:
        @guard.own
        def sanity(self, out: int) -> int:
            return out + 1

        def hook(self) -> None:
            os.chdir("/")

    suite = Suite()
    guard.call("hook", suite.hook)
    assert os.getcwd() == str(tmp_path)  # (put back: test code)

    class NoGuard:
        def __init__(self, *_args: object) -> None:
            raise AssertionError("own code went through the full guard")

    monkeypatch.setattr(guard, "running", NoGuard)
    assert guard.call("sanity", suite.sanity, 1) == 2
    with pytest.raises(AssertionError, match="full guard"):
        guard.call("hook", suite.hook)


def test_code_past_its_limit_is_stopped_own_code_as_test_code():
    def hangs() -> None:
        time.sleep(30)  # TookTooLong is raised in here

    with guard.signals_to(lambda _sig: None):
        for func in (hangs, guard.own(hangs)):
            started = time.monotonic()
            with pytest.raises(overrun.TookTooLong) as raised:
                guard.call("sanity", func, limit=0.2)
            assert raised.value.seconds == 0.2
            assert 0.2 <= time.monotonic() - started < 10
        # A call that returns in time is not stopped later on, nor is assay's own code.
        assert guard.call("sanity", lambda: 1, limit=0.2) == 1
        time.sleep(1.5)


def test_code_that_catches_the_stop_and_returns_still_fails():
    caught: list[BaseException] = []

    def swallows() -> str:
        for _ in range(2):
            try:
                time.sleep(30)
            except BaseException as exc:
                caught.append(exc)
        return "all well"

    with guard.signals_to(lambda _sig: None), pytest.raises(overrun.TookTooLong):
        guard.call("sanity", swallows, limit=0.1)
    # Stopped again, a tick later, after the first one was caught.
    assert [type(e) for e in caught] == [overrun.TookTooLong, overrun.TookTooLong]


def test_no_call_is_stopped_outside_a_run_and_sigalrm_is_left_alone():
    """Outside a run no watchdog looks (a limit means nothing there), and a run leaves the
    process's own SIGALRM handler and timer as they were."""
    assert guard.call("sanity", lambda: time.sleep(0.3) or 3, limit=0.1) == 3

    def mine(*_: object) -> None:
        pass

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0, 7.0)
        with guard.signals_to(lambda _sig: None):
            guard.call("sanity", lambda: None, limit=30)
        due, every = signal.getitimer(signal.ITIMER_REAL)
        assert 90.0 < due <= 100.0 and every == 7.0
        assert signal.getsignal(signal.SIGALRM) is mine
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)
