"""The terminal or pipe assay writes to can go away mid-run (the terminal is closed, the
reader of ``assay run | head`` exits): the run still finishes and writes its report."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

from tests.conftest import CliResult

SLOW = """
import assay

class Slow(assay.Test):
    i = assay.parameter(range({n}))
    command = "{command}"
"""


def test_a_reader_that_goes_away_does_not_lose_the_run(tmp_path):
    (tmp_path / "test_slow.py").write_text(SLOW.format(n=20, command="sleep 0.1"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_slow.py", "--plain"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # like `| head -1`: one line, then the reader is gone
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    report = CliResult((), 0, "", "", tmp_path).report
    assert report["summary"]["passed"] == 20


def test_closing_the_terminal_interrupts_the_run_and_keeps_the_report(tmp_path):
    (tmp_path / "test_slow.py").write_text(SLOW.format(n=3, command="sleep 30"))
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_slow.py", "--max-jobs", "3"],
        cwd=tmp_path,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    try:
        deadline = time.monotonic() + 30
        seen = b""
        while b"Slow[i=2]" not in seen:  # the live display shows all three running
            assert time.monotonic() < deadline, seen[-2000:]
            seen += os.read(leader, 65536)
        os.close(leader)  # the terminal is gone: every write to it fails from now on
        proc.send_signal(signal.SIGHUP)  # what the kernel sends when it goes
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGHUP
    report = CliResult((), proc.returncode, "", "", tmp_path).report
    assert report["session"]["interrupted"] == "SIGHUP"
    assert {c["status"] for c in report["cases"]} == {"aborted"}


SLOW_DISK = """
import os
import time

_real = os.fdatasync


def _slow_fdatasync(fd):
    time.sleep(1.5)
    _real(fd)


os.fdatasync = _slow_fdatasync
"""


def test_signals_while_results_are_synced_to_a_slow_disk_keep_the_report(tmp_path):
    """Fault injection (a disk whose syncs take 1.5 s): Ctrl-C while a finished case's result
    is being synced, and again while the journal is closed at the end; the report is still
    written, with the finished case's result."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(SLOW_DISK)
    (tmp_path / "test_quick.py").write_text(
        "import assay\nclass Quick(assay.Test):\n    command = 'echo hi'\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_quick.py", "--plain"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(inject)},
    )
    try:
        journal = None
        deadline = time.monotonic() + 30
        while journal is None or '"result"' not in journal.read_text():
            assert time.monotonic() < deadline
            found = list(tmp_path.glob(".assay/runs/*/journal.jsonl"))
            journal = found[0] if found else None
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # the result is written, not yet synced
        time.sleep(0.8)
        proc.send_signal(signal.SIGINT)  # the runner is closing its journal by now
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    report = CliResult((), proc.returncode, out, "", tmp_path).report
    assert [c["status"] for c in report["cases"]] == ["passed"]
