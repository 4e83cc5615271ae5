"""What a session starts once its first process started (git asked, the database made)
starts early in a session whose processes are not this machine's (SSH): not at its end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.conftest import _assay_env

# A spy on thread starts: once both threads of interest started it creates the flag file
# the remote case waits for. The order is shown by an event, not a clock (a margin in
# seconds flakes under load).
_SPY = """
import json, sys, threading
flag = sys.argv[1]
wanted = {"assay-git", "assay-results-open"}
started = []
real_start = threading.Thread.start
def start(self):  # a spy: notes each thread that starts, then starts it
    real_start(self)
    started.append(self.name)
    if wanted <= set(started):
        open(flag, "a").close()
threading.Thread.start = start
from assay.entry import main
code = main(["run", "test_slow.py", "-p", "remote", "--plain"])
print(json.dumps([code, started]))
"""


def test_git_and_the_database_start_while_a_remote_case_runs(
    tmp_path: Path, remote_write: Callable[[str, str], Path]
) -> None:
    # The remote case runs as the SSH account on this machine: the flag is somewhere that
    # account can read (pytest's tmp_path is root's alone).
    shared = Path(tempfile.mkdtemp(prefix="assay-kickoff-"))
    shared.chmod(0o755)
    flag = shared / "threads-started"
    try:
        remote_write(
            "test_slow.py",
            f"""
            import assay

            class Slow(assay.Test):
                # Ends once the threads started (the case passes) or, if they start only
                # at the session's end, after 60 s without the flag (the case fails).
                command = (
                    "for i in $(seq 600); do [ -e {flag} ] && break; sleep 0.1; done; "
                    "test -e {flag} && echo saw the flag"
                )

                def sanity(self, out):
                    out.expect("saw the flag")
            """,
        )
        out = subprocess.run(
            [sys.executable, "-c", _SPY, str(flag)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=_assay_env(tmp_path, {}),
        )
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    code, started = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"assay-git", "assay-results-open"} <= set(started), started
    # The remote case saw the flag: both threads started before it ended, so before the
    # session's end.
    assert code == 0, out.stdout
