"""guard.own: assay's own methods called as test code (a compiled suite's hooks and
sanity) skip the save and restore of the process's state, and stay interruptible."""

from __future__ import annotations

import os
import signal
import time

import pytest

from assay import guard


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
