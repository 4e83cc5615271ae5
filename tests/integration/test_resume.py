"""``assay run --resume`` after the runner was interrupted (Ctrl-C, SIGTERM) or killed
(SIGKILL, which it cannot catch): interrupted cases run again from a clean start, and what
the killed runner's cases left running is ended before anything starts again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.integration.test_containment import _marked


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assay", "run", *args, "--plain"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_resume_after_an_interrupt_runs_the_interrupted_cases_again(tmp_path, write, sig):
    started = tmp_path / "started"
    started.mkdir()
    write(
        "test_slow.py",
        f"""
        import assay

        class Slow(assay.Test):
            i = assay.parameter(range(3))
            keep_files = ["note.txt"]
            # The first run is interrupted in the middle; the resumed one finishes.
            command = (
                "echo note > note.txt; "
                "if [ ! -e {started}/{{i}} ]; then touch {started}/{{i}}; sleep 30; fi; "
                "echo done {{i}}"
            )

            def sanity(self, out):
                out.expect(rf"done {{self.i}}")
        """,
    )
    proc = _start(tmp_path, "test_slow.py", "--max-jobs", "3")
    _wait_for(lambda: len(list(started.iterdir())) == 3, "three cases to start")
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, out
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 0, resumed
    assert "Directory not empty" not in resumed.stdout
    assert {c["status"] for c in resumed.report["cases"]} == {"passed"}
    for case in resumed.report["cases"]:
        out_dir = Path(case["output_dir"])
        assert (out_dir / "note.txt").read_text() == "note\n"
        assert "done" in (out_dir / "assay-run.out").read_text()


def _spans(log: Path) -> dict[str, list[tuple[str, int, str]]]:
    """Per case: (event, pid, ...) lines the copies of the case wrote, in order."""
    found: dict[str, list[tuple[str, int, str]]] = {}
    for line in log.read_text().splitlines():
        event, case, pid, *rest = line.split()
        found.setdefault(case, []).append((event, int(pid), " ".join(rest)))
    return found


def test_resume_after_sigkill_ends_the_killed_runners_processes_before_starting_again(
    tmp_path, write
):
    nonce = random.randrange(10**8, 10**9)
    escaped = f"7{nonce}"  # the duration of a sleep each case leaves outside its group
    log = tmp_path / "log"
    started = tmp_path / "started"
    started.mkdir()
    write(
        "test_sleepy.py",
        f"""
        import assay

        class Sleepy(assay.Test):
            i = assay.parameter(range(3))
            # The first copy of a case sleeps until something ends it (only --resume may:
            # a fixed sleep would race the resume under load and could finish on its own);
            # the resumed copy sleeps a moment.
            command = (
                # Another copy of this case still running would show here.
                "others=$(pgrep -fc 'copy-{{i}}-{nonce}'); "
                "echo start {{i}} $$ others=$others >> {log}; "
                "setsid sleep {escaped} > /dev/null 2>&1 & "
                "if [ -e {started}/{{i}} ]; then nap=0.2; else touch {started}/{{i}}; nap=600; fi; "
                "(exec -a copy-{{i}}-{nonce} sleep $nap); "
                "echo end {{i}} $$ >> {log}; echo slept {{i}}"
            )

            def sanity(self, out):
                out.expect(rf"slept {{self.i}}")
        """,
    )
    proc = _start(tmp_path, "test_sleepy.py", "--max-jobs", "3")
    try:
        _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 3, "starts")
        _wait_for(lambda: len(_marked(escaped)) == 3, "the escaped sleeps")
        first = {case: spans[0][1] for case, spans in _spans(log).items()}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # The killed runner's cases go on without it: the state --resume must deal with.
        alive = [pid for pid in first.values() if Path(f"/proc/{pid}").exists()]
        assert alive, "the orphaned cases ended before the test could resume"
        resumed = run_assay("run", "--resume", cwd=tmp_path, timeout=120)
        assert resumed.code == 0, resumed
        assert {c["status"] for c in resumed.report["cases"]} == {"passed"}
        assert len(resumed.report["cases"]) == 3
        spans = _spans(log)
        for case, events in spans.items():
            old = [e for e in events if e[1] == first[case]]
            new = [e for e in events if e[1] != first[case]]
            # The old copy was ended before it could finish; the new one ran alone.
            assert old == [("start", first[case], "others=0")], events
            assert [e[0] for e in new] == ["start", "end"], events
            assert new[0][2] == "others=0", events
        assert _marked(escaped) == []
    finally:
        proc.kill()
        for pid in _marked(escaped):
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["pkill", "-KILL", "-f", f"copy-.-{nonce}"], check=False)


def test_the_first_estimate_of_a_resumed_session_counts_only_what_is_left(tmp_path, write):
    """A resumed session keeps the results of the cases that had finished: its time-left
    estimate is what the rest takes (before, those cases were counted as left to run)."""
    go = tmp_path / "go"
    go.touch()
    write(
        "test_eta.py",
        f"""
        import assay

        class Long(assay.Test):
            command = "sleep 2; echo long"

        class Quick(assay.Test):
            # at once while {go} exists; else it waits, for the runner to be killed
            command = "if [ ! -e {go} ]; then sleep 60; fi; echo quick"
        """,
    )
    first = run_assay("run", "test_eta.py", cwd=tmp_path)  # records both durations
    assert first.code == 0, first
    long_took = first.case("Long")["timings"]["run"]
    done_before = first.report["session"]["id"]
    go.unlink()
    proc = _start(tmp_path, "test_eta.py")
    journals = tmp_path / ".assay" / "runs"

    def long_recorded() -> bool:
        found = [j for j in journals.glob("*/journal.jsonl") if j.parent.name != done_before]
        return any('"result"' in j.read_text() and "Long" in j.read_text() for j in found)

    _wait_for(long_recorded, "Long's result in the second session's journal")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    go.touch()
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 0, resumed
    assert resumed.case("Quick")["status"] == "passed"
    estimate = resumed.report["session"]["estimate"]
    # Only Quick is left, recorded at a fraction of Long's sleep: before, Long (kept from the
    # killed run) was laid out as still to run, and the estimate was Long's time and more.
    assert estimate is not None and estimate["total"] < long_took / 2, (estimate, long_took)
