"""A case's stage dir is made off the event loop's thread: making a directory can cost the
kernel ~0.6 ms on a busy file system, and that thread drives every case of the run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _assay_env

SUITE = """\
[suite]
name = "s"
cases = "cases/*"
command = "cp in.txt out.txt"

[suite.compare]
files = ["out.txt"]
"""


def _cases(root: Path, names: list[str]) -> None:
    for name in names:
        case = root / "cases" / name
        (case / "expected").mkdir(parents=True)
        (case / "in.txt").write_text(f"input of {name}\n")
        (case / "expected" / "out.txt").write_text(f"input of {name}\n")
    (root / "s.suite.toml").write_text(SUITE)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_stage_dirs_are_made_off_the_event_loop_s_thread(tmp_path: Path) -> None:
    _cases(tmp_path, ["e1", "e2", "e3"])
    trace = tmp_path / "trace"
    argv = ["strace", "-f", "-qq", "-e", "trace=mkdir,mkdirat", "-o", str(trace)]
    argv += [sys.executable, "-m", "assay", "run", ".", "--plain"]
    proc = subprocess.run(
        argv, cwd=tmp_path, env=_assay_env(tmp_path, {}), capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc
    lines = trace.read_text().splitlines()
    main = lines[0].split()[0]  # the process's own pid (its main thread) starts the trace
    made = [line for line in lines if "/stage/s-" in line and "mkdir" in line]
    assert len(made) == 3, lines
    assert all(line.split()[0] != main for line in made), made
