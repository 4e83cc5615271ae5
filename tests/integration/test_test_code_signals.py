"""Test code that changes how the process handles a signal (a library's cleanup handler,
signal(SIGCHLD, SIG_IGN) against zombies, signal(SIGPIPE, SIG_DFL) as scripts do) changes
it for its own call only: assay puts back its handlers of SIGINT, SIGTERM and SIGHUP and
the SIGCHLD and SIGPIPE handling it found, so the run's later cases still end, the run still
stops on a signal with its report, and a reader going away does not kill it.

Before, each of these held for the rest of the run: SIGCHLD ignored hung the run for good
(the kernel reaped a job; the thread waiting for it died of ECHILD), deaf to SIGTERM;
SIGINT ignored made Ctrl-C do nothing; SIGTERM's default killed assay at once, leaving
its jobs running and no report; SIGPIPE's default killed it when ``| head`` exited."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CliResult

GRABS = """
import signal

import assay


class Grabs(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def its_library_starts(self):
        {changes}


class Later(assay.Test):
    depends_on = ["Grabs"]
    v = assay.parameter([1, 2, 3])
    command = "{command}"
"""


def _write(tmp_path: Path, changes: str, command: str) -> None:
    (tmp_path / "test_grabs.py").write_text(GRABS.format(changes=changes, command=command))


def _report(tmp_path: Path, code: int, out: str) -> dict:
    return CliResult((), code, out, "", tmp_path).report


def test_sigchld_ignored_by_test_code_leaves_the_later_jobs_waited_for(assay_cli, tmp_path):
    _write(tmp_path, "signal.signal(signal.SIGCHLD, signal.SIG_IGN)", "sleep 0.2; exit {v}")
    result = assay_cli("run", "test_grabs.py", "--plain", timeout=90)
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    for v in (1, 2, 3):
        reason = result.case(f"Later[v={v}]")["failure"]["reason"]
        assert reason == f"exit code {v} (expected exit code 0)", reason
    assert result.case("Grabs")["status"] == "passed"


def test_a_signal_test_code_ignored_or_defaulted_still_stops_the_run(tmp_path):
    changes = "signal.signal(signal.SIGINT, signal.SIG_IGN); "
    changes += "signal.signal(signal.SIGTERM, signal.SIG_DFL)"
    _write(tmp_path, changes, f"touch {tmp_path}/started-{{v}}; sleep 60")
    for sig in (signal.SIGINT, signal.SIGTERM):
        for flag in tmp_path.glob("started-*"):
            flag.unlink()
        proc = subprocess.Popen(
            [sys.executable, "-m", "assay", "run", "test_grabs.py", "--plain"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(tmp_path.glob("started-*")):  # (a case waiting for a slot: aborted)
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            proc.send_signal(sig)
            out, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 128 + sig, out
        report = _report(tmp_path, proc.returncode, out)
        assert report["session"]["interrupted"] == signal.Signals(sig).name
        statuses = sorted(case["status"] for case in report["cases"])
        assert statuses == ["aborted", "aborted", "aborted", "passed"], out


def test_sigpipe_defaulted_by_test_code_does_not_kill_the_run_when_its_reader_goes(tmp_path):
    _write(tmp_path, "signal.signal(signal.SIGPIPE, signal.SIG_DFL)", "sleep 0.5; echo {v}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_grabs.py", "--plain"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the header; then the reader goes, as `| head -1` does
        proc.stdout.close()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    report = _report(tmp_path, proc.returncode, "")
    assert sorted(case["status"] for case in report["cases"]) == ["passed"] * 4
