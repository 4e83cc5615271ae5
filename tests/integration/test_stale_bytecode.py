"""A test file rewritten within the second it was imported, to the same size, runs its new
code: Python's bytecode cache checks only the source's mtime in whole seconds and its size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SOURCE = (
    "import assay\nclass Few(assay.Test):\n"
    "    i = assay.parameter(range({n}))\n    command = 'true'\n"
)


def _run(tmp_path: Path) -> int:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ASSAY_CONFIG")
    }
    proc = subprocess.run(
        [sys.executable, "-m", "assay", "run", "test_few.py", "--plain"],
        cwd=tmp_path,
        env={**env, "ASSAY_STORE": str(tmp_path / ".store")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / ".assay" / "latest" / "report.json").read_text())
    return int(report["summary"]["passed"])


def test_a_test_file_rewritten_to_the_same_size_and_mtime_runs_its_new_code(tmp_path):
    path = tmp_path / "test_few.py"
    path.write_text(SOURCE.format(n=1))
    stamp = os.stat(path).st_mtime_ns
    assert _run(tmp_path) == 1
    assert list((tmp_path / "__pycache__").glob("test_few.*.pyc"))  # (it was kept)
    path.write_text(SOURCE.format(n=3))  # the same size...
    os.utime(path, ns=(stamp, stamp))  # ...and the same mtime: what a quick rewrite shows
    assert _run(tmp_path) == 3
    assert _run(tmp_path) == 3  # (and its bytecode, kept anew, is the new code's)
