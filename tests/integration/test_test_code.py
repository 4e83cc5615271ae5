"""Test code runs inside assay's process; whatever it raises or does (BaseException included:
SystemExit, KeyboardInterrupt, GeneratorExit, its own), it fails its own case at the right
stage, naming its file and line, and the run goes on: report written, exit code 1. A real
Ctrl-C still interrupts the run, even while test code hangs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CliResult

HOSTILE = """
import sys
import assay


class Boom(BaseException):
    pass


class SanityExitsZero(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        sys.exit(0)  # raised: SanityExitsZero


class SanityInterrupts(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        raise KeyboardInterrupt  # raised: SanityInterrupts


class SanityGeneratorExit(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        raise GeneratorExit("closing")  # raised: SanityGeneratorExit


class HookRaisesItsOwn(assay.Test):
    command = "echo hi"

    @assay.after("run")
    def hook(self):
        raise Boom("custom")  # raised: HookRaisesItsOwn


class InitExits(assay.Test):
    command = "echo hi"

    def __init__(self):
        raise SystemExit(5)  # raised: InitExits


class MetricExits(assay.Test):
    command = "echo 'rate: 5'"

    @assay.metric("op/s")
    def rate(self, out):
        sys.exit(2)  # raised: MetricExits


class BuildHookInterrupts(assay.Test):
    build = "true"
    command = "echo hi"

    @assay.before("build")
    def hook(self):
        raise KeyboardInterrupt("from a hook")  # raised: BuildHookInterrupts


class CleanupHookExits(assay.Test):
    command = "echo hi"

    @assay.after("cleanup")
    def hook(self):
        sys.exit("bye")  # raised: CleanupHookExits


class SanityCancels(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        import asyncio

        raise asyncio.CancelledError("not a real cancellation")  # raised: SanityCancels


class Fine(assay.Test):
    command = "echo fine"
"""

EXPECTED = {
    "SanityExitsZero": ("sanity", "SystemExit: 0"),
    "SanityInterrupts": ("sanity", "KeyboardInterrupt"),
    "SanityGeneratorExit": ("sanity", "GeneratorExit: closing"),
    "HookRaisesItsOwn": ("run", "Boom: custom"),
    "InitExits": ("setup", "SystemExit: 5"),
    "MetricExits": ("performance", "SystemExit: 2"),
    "BuildHookInterrupts": ("build", "KeyboardInterrupt: from a hook"),
    "CleanupHookExits": ("cleanup", "SystemExit: bye"),
    "SanityCancels": ("sanity", "CancelledError: not a real cancellation"),
}


def _line_of(path: Path, marker: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.endswith(marker))


def _no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result


def test_any_exception_from_test_code_fails_its_case_and_the_run_goes_on(assay_cli, write):
    path = write("test_hostile.py", HOSTILE)
    result = assay_cli("run", "test_hostile.py", "--plain")
    assert result.code == 1, result
    _no_traceback(result)
    report = result.report
    assert report["summary"]["passed"] == 1
    for name, (stage, reason) in EXPECTED.items():
        line = _line_of(path, f"# raised: {name}")
        case = result.case(name)
        assert case["status"] == "failed", case
        assert case["failure"]["stage"] == stage, case
        assert case["failure"]["reason"] == f"{reason} at {path}:{line}", case
    assert result.case("Fine")["status"] == "passed"


def test_base_exceptions_in_a_class_body_are_load_problems(assay_cli, write):
    for i, raised in enumerate(["KeyboardInterrupt", "GeneratorExit", "Boom('mine')"]):
        write(
            f"test_body{i}.py",
            f"""
            import assay

            class Boom(BaseException):
                pass

            class Broken(assay.Test):
                command = "true"
                raise {raised}
            """,
        )
    write("test_ok.py", "import assay\n\nclass Ok(assay.Test):\n    command = 'true'\n")
    result = assay_cli("run", ".", "--plain")
    assert result.code == 1, result
    _no_traceback(result)
    assert result.report["summary"]["passed"] == 1
    problems = {p["location"]: p["message"] for p in result.report["problems"]}
    assert problems == {
        "test_body0.py:8": "failed to import: KeyboardInterrupt",
        "test_body1.py:8": "failed to import: GeneratorExit",
        "test_body2.py:8": "failed to import: Boom: mine",
    }


def test_exceptions_from_variant_fields_at_planning_are_problems_of_their_test(assay_cli, write):
    write(
        "test_fields.py",
        """
        import sys
        import assay

        class Fields(assay.Test):
            n = assay.parameter([1, 2])
            command = "true"

            @assay.variant_fields
            def fields(n):
                if n == 2:
                    sys.exit(1)
                return {}

        class Other(assay.Test):
            command = "true"
        """,
    )
    for command in ("run", "list"):
        result = assay_cli(command, "test_fields.py", "--plain" if command == "run" else "-v")
        _no_traceback(result)
        assert result.code == 1, result
        assert "SystemExit: 1" in result.stdout + result.stderr, result
    run = assay_cli("run", "test_fields.py", "--plain")
    assert run.report["summary"]["passed"] == 1
    [problem] = run.report["problems"]
    assert problem["test"] == "Fields"
    assert "SystemExit: 1" in problem["message"] and "test_fields.py:11" in problem["message"]


def test_a_test_exception_whose_str_raises_is_still_reported(assay_cli, write):
    write(
        "test_str.py",
        """
        import assay

        class Unprintable(Exception):
            def __str__(self):
                raise ValueError("no text for you")

        class Weird:
            def __repr__(self):
                raise RuntimeError("no repr either")

        class BadStr(assay.Test):
            command = "echo hi"

            def sanity(self, out):
                raise Unprintable()

        class BadMetric(assay.Test):
            command = "echo hi"

            @assay.metric()
            def m(self, out):
                return Weird()
        """,
    )
    result = assay_cli("run", "test_str.py", "--plain")
    assert result.code == 1, result
    _no_traceback(result)
    assert result.case("BadStr")["failure"]["reason"].startswith("Unprintable: <unprintable")
    reason = result.case("BadMetric")["failure"]["reason"]
    assert reason.startswith("m returned <unprintable Weird object>, not a finite number"), reason


def test_async_or_generator_test_methods_are_refused_when_loaded(assay_cli, write):
    write(
        "test_async.py",
        """
        import assay

        class AsyncSanity(assay.Test):
            command = "echo hi"

            async def sanity(self, out):
                out.expect("never checked")

        class GeneratorSanity(assay.Test):
            command = "echo hi"

            def sanity(self, out):
                out.expect("never checked")
                yield

        class AsyncHook(assay.Test):
            command = "echo hi"

            @assay.before("run")
            async def hook(self):
                pass

        class AsyncMetric(assay.Test):
            command = "echo hi"

            @assay.metric()
            async def m(self, out):
                return 1
        """,
    )
    result = assay_cli("run", "test_async.py", "--plain")
    assert result.code == 1, result
    _no_traceback(result)
    assert result.report["cases"] == []
    messages = " ".join(p["message"] for p in result.report["problems"])
    assert "sanity is an async def" in messages
    assert "sanity is a generator" in messages
    assert "hook is an async def" in messages
    assert "m is an async def" in messages


def test_a_sanity_that_returns_a_coroutine_fails_instead_of_passing(assay_cli, write):
    write(
        "test_wrapped.py",
        """
        import functools
        import assay

        def wrapped(func):
            @functools.wraps(func)
            def call(*args):
                async def later():
                    return func(*args)
                return later()
            return call

        class Wrapped(assay.Test):
            command = "echo hi"

            @wrapped
            def sanity(self, out):
                out.expect("never checked")
        """,
    )
    result = assay_cli("run", "test_wrapped.py", "--plain")
    assert result.code == 1, result
    assert "never awaited" not in result.stderr, result
    reason = result.case("Wrapped")["failure"]["reason"]
    assert reason.startswith("sanity returned a coroutine"), reason


def test_test_code_cannot_move_assays_working_directory_or_import_path(assay_cli, write, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(
        "test_moves.py",
        f"""
        import os
        import sys
        import assay

        class Moves(assay.Test):
            command = "echo hi"

            @assay.before("run")
            def wander(self):
                os.chdir({str(elsewhere)!r})
                sys.path.insert(0, {str(elsewhere)!r})

        class Later(assay.Test):
            depends_on = "Moves"
            command = "echo hi"

            def sanity(self, out):
                assert os.getcwd() == {str(tmp_path)!r}, os.getcwd()
                assert {str(elsewhere)!r} not in sys.path
        """,
    )
    result = assay_cli("run", "test_moves.py", "--plain", "--report", "r.json", "--junit", "j.xml")
    assert result.code == 0, result
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["passed"] == 2
    assert (tmp_path / "j.xml").exists()
    assert not list(elsewhere.iterdir())


HANGS = """
import time
import assay

class Hangs(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        open({flag!r}, "w").close()
        while True:
            time.sleep(1)
"""


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_a_signal_interrupts_the_run_while_test_code_hangs(tmp_path, sig):
    flag = tmp_path / "hanging"
    (tmp_path / "test_hangs.py").write_text(HANGS.format(flag=str(flag)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_hangs.py", "--plain"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not flag.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, out
    assert "Traceback" not in out
    report = CliResult((), proc.returncode, out, "", tmp_path).report
    assert report["session"]["interrupted"] == signal.Signals(sig).name
    [case] = report["cases"]
    assert case["status"] == "aborted"
    assert case["failure"]["stage"] == "sanity"
    assert case["failure"]["reason"] == "interrupted"
    assert Path(case["stage_dir"]).exists()


def test_a_setup_failure_in_a_suite_names_the_input_and_the_run_goes_on(assay_cli, write, tmp_path):
    """Staging a case's inputs fails inside assay (a FIFO cannot be stored): the case fails
    at setup with a message naming the file and the fix, and the other case still runs."""
    for case in ("good", "bad"):
        (tmp_path / "cases" / case / "expected").mkdir(parents=True)
        (tmp_path / "cases" / case / "input.txt").write_text("1\n")
        (tmp_path / "cases" / case / "expected" / "out.txt").write_text("1\n")
    os.mkfifo(tmp_path / "cases" / "bad" / "fifo")
    write(
        "s.suite.toml",
        """
        [suite]
        name = "s"
        command = "cat input.txt > out.txt"
        cases = "cases/*"

        [suite.compare]
        files = ["out.txt"]
        """,
    )
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert result.code == 1, result
    assert result.case("s[case=good]")["status"] == "passed"
    failure = result.case("s[case=bad]")["failure"]
    assert failure["stage"] == "setup"
    assert f"{tmp_path}/cases/bad/fifo: not a regular file" in failure["reason"], failure
    assert "Traceback" not in result.stdout + result.stderr


def test_an_exception_with_no_frame_of_the_users_names_the_suite_file_and_key(tmp_path):
    """An exception raised inside assay on a suite case's behalf, in a worker thread (only
    standard-library frames), is located at the suite file and key that made the case."""
    from concurrent.futures import ThreadPoolExecutor

    from assay.define.suite import compile_suite
    from assay.guard import describe_exception

    (tmp_path / "cases" / "one").mkdir(parents=True)
    suite = tmp_path / "s.suite.toml"
    suite.write_text('[suite]\nname = "s"\ncommand = "true"\ncases = "cases/*"\n')
    (test,), problems = compile_suite(suite)
    assert problems == []
    with ThreadPoolExecutor(1) as pool:
        exc = pool.submit(os.fsencode, 42).exception()  # TypeError from os.py, in a thread
    assert exc is not None
    reason, details = describe_exception(exc, test._assay)
    assert reason.endswith(f" at {suite}:4 (suite.cases)"), reason
    assert "concurrent/futures" in details  # the whole traceback, for a bug report


def test_a_setup_hook_that_fails_in_the_standard_library_names_the_hook_line(assay_cli, write):
    path = write(
        "test_hook.py",
        """
        import json
        import assay

        class Configured(assay.Test):
            command = "echo hi"

            @assay.before("setup")
            def read_config(self):
                self.settings = json.loads("{not json")
        """,
    )
    result = assay_cli("run", "test_hook.py", "--plain")
    assert result.code == 1, result
    failure = result.case("Configured")["failure"]
    assert failure["stage"] == "setup"
    assert failure["reason"].startswith("JSONDecodeError: Expecting property name"), failure
    assert failure["reason"].endswith(f" at {path}:9"), failure


LOUD = """
import sys
import assay

class Loud(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        for n in range(20000):
            print("loud line", n)
        print("to stderr", file=sys.stderr)
        assert False, "loud and wrong"

class Quiet(assay.Test):
    command = "echo hi"
"""


def test_what_test_code_prints_goes_to_its_output_dir_not_the_live_display(tmp_path):
    """print() in a sanity went through the live display, which redrew itself for every
    line (20,000 lines took most of a minute). It is kept with the case instead."""
    from tests.conftest import run_on_terminal

    (tmp_path / "test_loud.py").write_text(LOUD)
    code, screen = run_on_terminal("run", "test_loud.py", cwd=tmp_path, timeout=120)
    assert code == 1, screen[-3000:]
    assert "loud line 5000" not in screen  # not on the terminal
    case = CliResult((), code, "", "", tmp_path).case("Loud")
    printed = (Path(case["output_dir"]) / "assay-python.out").read_text().splitlines()
    assert printed[0] == "loud line 0" and printed[19999] == "loud line 19999"
    assert printed[20000] == "to stderr"
    # The summary of the failed case shows the last of it.
    assert "printed by its Python code (last lines):" in screen
    assert "| to stderr" in screen
    quiet = CliResult((), code, "", "", tmp_path).case("Quiet")
    assert not (Path(quiet["output_dir"]) / "assay-python.out").exists()


EXITS = """
import atexit
import os
import posix
import assay

atexit.register(lambda: os._exit(0))  # would turn the run's exit code into 0


class SanityExits(assay.Test):
    command = "true"

    def sanity(self, out):
        os._exit(0)  # raised: SanityExits


class HookExits(assay.Test):
    command = "true"

    @assay.after("run")
    def hook(self):
        posix._exit(0)  # raised: HookExits


class SetupExecs(assay.Test):
    command = "true"

    @assay.before("run")
    def hook(self):
        os.execlp("true", "true")  # raised: SetupExecs


class ChildExits(assay.Test):
    command = "true"

    def sanity(self, out):
        for exit in (lambda: os._exit(7), lambda: os.execlp("sh", "sh", "-c", "exit 7")):
            pid = os.fork()
            if pid == 0:
                exit()  # a forked child may end or exec as it likes
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7


class Fine(assay.Test):
    command = "true"
"""


def test_os_exit_in_test_code_fails_its_case_and_cannot_end_the_run_as_passed(assay_cli, write):
    path = write("test_exits.py", EXITS)
    result = assay_cli("run", "test_exits.py", "--plain")
    assert result.code == 1, result
    report = result.report
    assert report["summary"]["passed"] == 2
    for name, stage, what in (
        ("SanityExits", "sanity", "os._exit(0)"),
        ("HookExits", "run", "os._exit(0)"),
        ("SetupExecs", "run", "os.exec* of "),
    ):
        line = _line_of(path, f"# raised: {name}")
        failure = result.case(name)["failure"]
        assert failure["stage"] == stage, failure
        assert failure["reason"].startswith(f"ExitRefused: {what}"), failure
        assert failure["reason"].endswith(f"at {path}:{line}"), failure
    assert result.case("ChildExits")["status"] == "passed"
    _no_traceback(result)
    assert "assay: warning: Exception ignored in atexit callback <lambda>: os._exit(0)" in (
        result.stderr
    )


def test_a_metric_of_an_int_no_float_can_hold_is_that_metrics_error(assay_cli, write):
    write(
        "test_huge.py",
        """
        import assay

        class Huge(assay.Test):
            command = "echo hi"

            @assay.metric()
            def m(self, out):
                return -(10**400)
        """,
    )
    result = assay_cli("run", "test_huge.py", "--plain")
    assert result.code == 1, result
    reason = result.case("Huge")["failure"]["reason"]
    assert reason.startswith("m returned -1000"), reason
    assert "not a finite number" in reason and "OverflowError" not in reason, reason


def test_a_test_classs_own_init_is_still_guarded(assay_cli, write, tmp_path):
    # bind runs without the guard only for classes with no __new__, __init__ or
    # __setattr__ of their own: one that has them still has its moves put back and its
    # prints kept with the case.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(
        "test_init_moves.py",
        f"""
        import os
        import assay

        class InitMoves(assay.Test):
            command = "echo hi"

            def __init__(self):
                print("from __init__")
                os.chdir({str(elsewhere)!r})

        class Later(assay.Test):
            depends_on = "InitMoves"
            command = "echo hi"

            def sanity(self, out):
                assert os.getcwd() == {str(tmp_path)!r}, os.getcwd()
        """,
    )
    result = assay_cli("run", "test_init_moves.py", "--plain")
    assert result.code == 0, result
    assert "from __init__" not in result.stdout
    printed = Path(str(result.case("InitMoves")["output_dir"])) / "assay-python.out"
    assert printed.read_text() == "from __init__\n"
