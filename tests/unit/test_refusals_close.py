"""os.close is assay's guarded one only while test code runs: outside it, assay's own
closes (about ten a case) call the C function itself, not a Python function in front."""

from __future__ import annotations

import os

from assay import guard, refusals


def test_os_close_is_guarded_while_test_code_runs_and_the_real_one_after():
    seen: list[object] = []

    def test_code() -> None:
        seen.append(os.close)

    @guard.own
    def own_code() -> None:  # (assay's, called as test code: refused the same)
        seen.append(os.close)

    guard.call("hook", test_code)
    guard.call("sanity", own_code)
    assert seen == [refusals._close, refusals._close]
    assert os.close is refusals._real_close
    assert refusals.inside == 0


def test_nested_test_code_keeps_the_guarded_close_until_the_outer_call_ends():
    inner: list[object] = []

    def outer() -> None:
        guard.call("inner", lambda: inner.append(os.close))
        inner.append(os.close)  # back in the outer call: still guarded

    guard.call("hook", outer)
    assert inner == [refusals._close, refusals._close]
    assert os.close is refusals._real_close


def test_test_code_still_cannot_close_fd_1_it_gets_dev_null_instead(tmp_path):
    saved = os.dup(1)
    try:

        def test_code() -> None:
            os.close(1)  # refused: fd 1 is given /dev/null, never left free
            assert os.fstat(1) is not None

        guard.call("hook", test_code)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
