"""``assay run --resume`` after a SIGKILL of the runner while a job was starting in a
starter thread: the child is running, but the runner had not heard of it yet (its pid is on
the way from the thread to the event loop), so the journal holds no line of its own for it.
What the journal holds from before the start (what every token of that runner starts with)
must be enough for ``--resume`` to end it.

The window is short (the thread's handback); a FaultInjecting runner (a script that runs
assay's own entry point) pauses each start made off the event loop's thread after
``posix_spawn`` returned, as a loaded machine may hold that thread, and says so in a file:
the test then kills the real runner by SIGKILL and runs a real ``--resume``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from assay.transports import spawn as _spawn
from tests.conftest import run_assay
from tests.integration.test_containment import _marked

pytestmark = pytest.mark.skipif(
    _spawn.spawner() is None or not os.path.isdir("/proc/self"),
    reason="needs glibc's posix_spawn with addchdir_np (the starter threads), and Linux /proc",
)

_FAULT_INJECTING_RUNNER = """
import os, sys, threading, time

from assay.transports import spawn

HELD = sys.argv.pop(1)  # where to say which child is held back
real = spawn.Spawner.spawn


def held_back(self, *args, **kwargs):
    pid = real(self, *args, **kwargs)
    if threading.current_thread() is not threading.main_thread():
        with open(HELD + ".tmp", "w") as fh:
            fh.write(str(pid))
        os.rename(HELD + ".tmp", HELD)
        time.sleep(600)  # the runner is killed meanwhile
    return pid


spawn.Spawner.spawn = held_back
sys.argv[0] = "assay"
from assay.entry import console

console()
"""


PARALLEL = ("--max-jobs", "2", "--plain")  # two slots: the second start goes to a thread


def _wait_for(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # (a zombie is dead; PID 1 here may reap it late)


def test_resume_ends_a_job_the_killed_runner_started_but_had_not_journaled(tmp_path, write):
    nonce = random.randrange(10**8, 10**9)
    started = tmp_path / "started"
    started.mkdir()
    held = tmp_path / "held"
    copies = [f"copy-{i}-{nonce}" for i in range(2)]  # the first copies' sleeps, by name
    write(
        "test_sleepy.py",
        f"""
        import assay

        class Sleepy(assay.Test):
            i = assay.parameter(range(2))
            # The first copy of a case sleeps until something ends it (only --resume may);
            # the resumed copy sleeps a moment.
            command = (
                "if [ -e {started}/{{i}} ]; then nap=0.2; else nap=600; fi; "
                "touch {started}/{{i}}; "
                "(exec -a copy-{{i}}-{nonce} sleep $nap); echo slept {{i}}"
            )

            def sanity(self, out):
                out.expect(rf"slept {{self.i}}")
        """,
    )
    runner = tmp_path / "fault_injecting_runner.py"
    runner.write_text(textwrap.dedent(_FAULT_INJECTING_RUNNER))
    with open(tmp_path / "runner.out", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(runner), str(held), "run", "test_sleepy.py", *PARALLEL],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        # One case starts on the loop's thread; the other, with a job running, in a
        # starter thread, which holds its child back from the runner.
        _wait_for(held.exists, "a start in a starter thread")
        child = int(held.read_text())
        _wait_for(lambda: len(list(started.iterdir())) == 2, "both cases' first copies")
        _wait_for(lambda: all(_marked(name) for name in copies), "both first copies' sleeps")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _alive(child), "the held-back job ended before the test could resume"
        journal = next((tmp_path / ".assay" / "runs").glob("*/journal.jsonl"), None)
        if journal is not None:  # (the check of the window: its pid was never journaled)
            assert f'"pid":{child},' not in journal.read_text()

        resumed = run_assay("run", "--resume", cwd=tmp_path, timeout=120)

        assert resumed.code == 0, resumed
        assert {c["status"] for c in resumed.report["cases"]} == {"passed"}
        assert not _alive(child), "--resume left the job started in the window running"
        assert [pid for name in copies for pid in _marked(name)] == []
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for pid in [pid for name in copies for pid in _marked(name)]:
            os.kill(pid, signal.SIGKILL)
        if held.exists() and _alive(child := int(held.read_text())):
            os.killpg(child, signal.SIGKILL)  # (a job process leads its own group)
