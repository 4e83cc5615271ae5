"""What a session starts once its first process started (git asked, the database made)
starts early in a session whose processes are not this machine's (SSH): not at its end."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import _assay_env

_SPY = """
import json, threading, time
started = {}
real_start = threading.Thread.start
def start(self):  # a spy: notes when each thread starts, then starts it
    started.setdefault(self.name, time.monotonic())
    real_start(self)
threading.Thread.start = start
from assay.entry import main
code = main(["run", "test_slow.py", "-p", "remote", "--plain"])
print(json.dumps([code, started, time.monotonic()]))
"""


def test_git_and_the_database_start_while_a_remote_case_runs(
    tmp_path: Path, remote_write: Callable[[str, str], Path]
) -> None:
    remote_write(
        "test_slow.py",
        """
        import assay

        class Slow(assay.Test):
            command = "sleep 3"
        """,
    )
    out = subprocess.run(
        [sys.executable, "-c", _SPY],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_assay_env(tmp_path, {}),
    )
    assert out.returncode == 0, out.stderr
    code, started, ended = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0, out.stdout
    # The case sleeps 3 s on the host; both started well before the session's end.
    assert ended - started["assay-git"] > 2, started
    assert ended - started["assay-results-open"] > 2, started
