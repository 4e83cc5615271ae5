"""Under a low ``ulimit -n`` with many local jobs at once, the runner would run out of
descriptors (each running job holds its pidfd): jobs wait for a running one to end instead
of failing, and a limit too low for the runner itself ends the run with one message, not
an internal error's traceback. The limit is real: set in the child before ``assay`` starts,
as ``ulimit -n`` sets it."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from tests.conftest import CliResult, _assay_env

MANY = """
import assay

class Many(assay.Test):
    i = assay.parameter(range(40))
    command = "sleep 0.5; echo err{i} >&2; echo hello"

    def sanity(self, out):
        out.expect("hello")
        out.expect("err", "stderr")
"""


def _run_with_fd_limit(cwd: Path, limit: int, *args: str) -> CliResult:
    def lower() -> None:  # (in the child, before exec)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "assay", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=_assay_env(cwd, {"COLUMNS": "200"}),
        stdin=subprocess.DEVNULL,
        preexec_fn=lower,
    )
    return CliResult(tuple(args), proc.returncode, proc.stdout, proc.stderr, cwd)


def test_forty_jobs_at_once_under_ulimit_40_all_pass(tmp_path, write):
    write("test_many.py", MANY)
    result = _run_with_fd_limit(tmp_path, 40, "run", "test_many.py", "--max-jobs", "40", "--plain")
    assert result.code == 0, result
    assert "Too many open files" not in result.stdout + result.stderr
    cases = result.report["cases"]
    assert len(cases) == 40 and all(c["status"] == "passed" for c in cases)
    for case in cases:
        i = case["name"].split("i=")[1].split("]")[0]
        assert Path(case["output_dir"], "assay-run.err").read_text() == f"err{i}\n"


def test_jobs_under_ulimit_25_run_one_at_a_time_and_all_pass(tmp_path, write):
    # Room for no job beside the runner's reserve: one runs at a time, and none fails.
    write("test_many.py", MANY.replace("range(40)", "range(8)"))
    result = _run_with_fd_limit(tmp_path, 25, "run", "test_many.py", "--max-jobs", "8", "--plain")
    assert result.code == 0, result
    assert all(c["status"] == "passed" for c in result.report["cases"])


def test_a_limit_too_low_for_the_runner_is_a_message_not_a_traceback(tmp_path, write):
    # At 10 the runner's own files (the results database opened in a thread, its modules)
    # do not fit: the run ends on one message naming the limit and the fix.
    write("test_many.py", MANY)
    result = _run_with_fd_limit(tmp_path, 10, "run", "test_many.py", "--max-jobs", "40", "--plain")
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result
    assert result.code in (0, 1, 2), result
    if result.code == 2:
        assert "assay: error: too many open files" in result.stderr, result
        assert "(ulimit -n is 10)" in result.stderr and "--max-jobs" in result.stderr
