"""Against the real Slurm cluster: a node failure of a job on several nodes names the node
that failed (with Slurm's reason), not only the job's whole node list."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.slurm.conftest import MARKS
from tests.slurm.test_slurm import _bring_back, _journal_job, _script_started, _start, _until

pytestmark = MARKS


def test_a_node_failure_names_the_node_that_failed(slurm_dir: Path) -> None:
    (slurm_dir / "test_long.py").write_text(
        "import assay\n\nclass Long(assay.Test):\n"
        '    systems = ["*:debug"]\n    nodes = 2\n'
        '    command = "echo started; sleep 8; echo done"\n'
    )
    proc = _start(slurm_dir, "test_long.py", "--no-pack")
    try:
        job = _until(lambda: _journal_job(slurm_dir), "the run to submit its job")
        _until(lambda: _script_started(slurm_dir), f"job {job}'s script to start")
        nodes = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%N"], capture_output=True, text=True
        ).stdout.strip()
        subprocess.run(
            ["scontrol", "update", "nodename=c2", "state=down", "reason=assay-test"], check=True
        )
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _bring_back("c2")
    assert proc.returncode == 1, out
    assert nodes == "c[1-2]"
    report = json.loads((slurm_dir / ".assay/latest/report.json").read_text())
    (case,) = report["cases"]
    # Before: "node failure (c[1-2])", which did not say which of the two failed.
    assert case["failure"]["reason"] == (
        "job ended NODE_FAIL: node failure (c2: assay-test; the job ran on c[1-2])"
    ), out
    assert case["hosts"] == "c[1-2]"
