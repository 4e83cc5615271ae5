"""A test's Python code runs on the runner's event loop, where every other case waits while
it runs: a call that runs past its ``code_time_limit`` is stopped and fails its own case,
and the run goes on (a sanity regex that backtracks without end held a whole run until it
was killed)."""

from __future__ import annotations

import pytest

from tests.conftest import CliResult

# 2**40 ways to split the line: backtracking without end, as users write it by mistake.
BACKTRACKS = r"^(a+)+$"

TESTS = f"""
import os
import time

import assay

START = os.getcwd()


class Backtracks(assay.Test):
    command = "python3 -c \\"print('a' * 40 + 'b')\\""
    code_time_limit = 1

    def sanity(self, out):
        out.expect(r"{BACKTRACKS}")


class Swallows(assay.Test):
    command = "true"
    code_time_limit = 1

    def sanity(self, out):
        os.chdir("/")
        os.environ["LEFT_BY_SWALLOWS"] = "1"
        for _ in range(3):  # catches each stop, and returns as if all went well
            try:
                time.sleep(5)
            except BaseException:
                pass


class Slow(assay.Test):
    command = "true"
    code_time_limit = 1

    def sanity(self, out):
        time.sleep(3)  # (stopped within a tick, 1 s, of its limit)


class Beside(assay.Test):
    command = "sleep 0.2; echo fine"

    def sanity(self, out):
        out.expect("fine")
        # What the stopped case changed was put back before this case's code ran.
        assert os.getcwd() == START, os.getcwd()
        assert "LEFT_BY_SWALLOWS" not in os.environ
"""


def _reason(result: CliResult, name: str) -> str:
    case = result.case(f"{name} @local:default+builtin")
    assert case["status"] == "failed", case
    assert case["failure"]["stage"] == "sanity", case
    return str(case["failure"]["reason"])


def test_code_past_its_limit_fails_its_own_case_and_the_run_goes_on(assay_cli, write):
    write("test_limits.py", TESTS)
    # (--serial: one after another, as declared; Beside's checks follow the stopped cases)
    result = assay_cli("run", "test_limits.py", "--serial", "--plain", timeout=60)
    assert result.code == 1, result
    for name, limit in (("Backtracks", "1s"), ("Swallows", "1s"), ("Slow", "1s")):
        reason = _reason(result, name)
        assert reason.startswith(f"ran longer than code_time_limit ({limit})"), reason
        assert "raise code_time_limit" in reason
    assert result.case("Beside @local:default+builtin")["status"] == "passed"
    assert "Traceback" not in result.stdout + result.stderr


def test_the_limit_is_a_field_set_from_the_command_line(assay_cli, write):
    write("test_limits.py", TESTS)
    result = assay_cli(
        "run", "test_limits.py", "-n", "^Slow$", "-S", "code_time_limit=20", "--plain"
    )
    assert result.code == 0, result
    assert result.case("Slow @local:default+builtin")["status"] == "passed"


def _run_suite(assay_cli, write, program: str, limit: str) -> CliResult:
    """Run a suite whose command is ``python3 -c PROGRAM > out.txt``, compared with an
    ignore pattern that backtracks, under ``code_time_limit = LIMIT``."""
    write(
        "s.suite.toml",
        f"""
        [suite]
        command = "python3 -c \\"{program}\\" > out.txt"
        cases = "cases/*"
        code_time_limit = "{limit}"

        [suite.compare]
        files = ["out.txt"]
        ignore = ['{BACKTRACKS}']
        """,
    )
    return assay_cli("run", "s.suite.toml", "--plain", timeout=60)


def test_a_suites_comparison_past_its_limit_fails_its_case(assay_cli, write, tmp_path):
    """A suite's comparison is assay's code, but its ``ignore`` patterns are the user's."""
    for case, last in (("slow", "c"), ("same", "b")):
        (tmp_path / "cases" / case / "expected").mkdir(parents=True)
        (tmp_path / "cases" / case / "expected" / "out.txt").write_text("a" * 40 + last + "\n")
    result = _run_suite(assay_cli, write, "print('a' * 40 + 'b')", "1s")
    assert result.code == 1, result
    assert result.case("s[case=same] @local:default+builtin")["status"] == "passed"
    assert _reason(result, "s[case=slow]").startswith("ran longer than code_time_limit (1s)")


def test_a_large_comparison_beside_the_loop_is_stopped_at_its_limit_too(assay_cli, write, tmp_path):
    """Outputs of a MiB and more are compared in a thread beside the event loop: the case
    stops waiting for it at the limit, and the run ends. Here each differing line costs
    the user's pattern ~20 ms (2**18 ways to split it), some ten minutes for the file.
    (A pattern that never returns from one line holds the GIL there, and nothing but its
    end can stop it: an issue of its own.)"""
    lines = 60_000  # 20 bytes each: 1.2 MiB, past run/beside_loop.BIG
    (tmp_path / "cases" / "big" / "expected").mkdir(parents=True)
    (tmp_path / "cases" / "big" / "expected" / "out.txt").write_text(("a" * 18 + "c\n") * lines)
    result = _run_suite(
        assay_cli, write, f"print(('a' * 18 + 'b\\\\\\\\n') * {lines}, end='')", "2s"
    )
    assert result.code == 1, result
    assert _reason(result, "s[case=big]").startswith("ran longer than code_time_limit (2s)")


OWN_ALARM = f"""
import signal

import assay


class OwnAlarm(assay.Test):
    command = "true"

    def sanity(self, out):
        {{evasion}}


class Backtracks(assay.Test):
    command = "python3 -c \\"print('a' * 40 + 'b')\\""
    code_time_limit = 1
    depends_on = ["OwnAlarm"]

    def sanity(self, out):
        out.expect(r"{BACKTRACKS}")
"""


@pytest.mark.parametrize(
    "evasion",
    [
        # a library's own timeout: its handler, its alarm, then alarm(0) clears the timer
        "signal.signal(signal.SIGALRM, lambda *_: None); signal.alarm(30); signal.alarm(0)",
        # the same interval, but the next tick far off
        "signal.setitimer(signal.ITIMER_REAL, 1000, 1.0)",
        # the signal blocked on the main thread (a guard: while another thread of assay's
        # leaves it unblocked, the kernel hands the tick to that one, and this passed
        # before assay unblocked it too)
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})",
    ],
)
def test_test_code_that_sets_its_own_alarm_leaves_the_limit_on(assay_cli, write, evasion):
    write("test_alarm.py", OWN_ALARM.replace("{evasion}", evasion))
    result = assay_cli("run", "test_alarm.py", "--serial", "--plain", timeout=60)
    assert result.code == 1, result
    assert result.case("OwnAlarm @local:default+builtin")["status"] == "passed"
    reason = _reason(result, "Backtracks")
    assert reason.startswith("ran longer than code_time_limit (1s)"), reason
