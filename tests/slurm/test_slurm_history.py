"""Against the real Slurm cluster: jobs start longest recorded first, and packs are made
from recorded run times instead of declared limits."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_assay
from tests.slurm.conftest import MARKS, write_config

pytestmark = MARKS

SLEEPERS = """
import assay

class Sleep(assay.Test):
    systems = ["*:debug"]
    t = assay.parameter(["0.1", "1", "2"])
    command = "sleep {t}"
"""


def _by_job(report: dict) -> list[str]:
    """Parameters in the order Slurm was given the cases: by job id, then array task."""

    def order(case: dict) -> tuple[int, int]:
        job, _, task = case["job_id"].partition("_")
        return int(job), int(task or 0)

    return [c["params"]["t"] for c in sorted(report["cases"], key=order)]


def test_the_second_run_submits_the_longest_recorded_jobs_first(slurm_dir):
    (slurm_dir / "test_sleep.py").write_text(SLEEPERS)
    args = ("run", "test_sleep.py", "--plain", "--max-jobs", "1", "--no-pack")
    first = run_assay(*args, cwd=slurm_dir, timeout=300)
    assert first.code == 0, first
    assert _by_job(first.report) == ["0.1", "1", "2"]  # declared order: nothing recorded
    second = run_assay(*args, cwd=slurm_dir, timeout=300)
    assert second.code == 0, second
    assert _by_job(second.report) == ["2", "1", "0.1"]


PACKED = """
import assay

class Short(assay.Test):
    systems = ["*:debug"]
    time_limit = "1m"
    i = assay.parameter(range(8))
    command = "sleep $(( {i} == 5 ? 3 : 0 ))"
"""


def _packs(directory: Path) -> list[list[str]]:
    """The cases of each pack of the newest session, in the order the pack runs them."""
    jobs = directory / ".assay" / "latest" / "jobs"
    manifests = sorted(jobs.rglob("pack-*/manifest.json"))
    return [[c["id"] for c in json.loads(m.read_text())["cases"]] for m in manifests]


def test_packs_are_made_from_recorded_run_times(slurm_dir):
    # One node, 4 CPUs, packs of at most a minute: by declared limits, 8 cases of a minute
    # make 2 packs; by recorded run times (3 s and 7 x 0 s) they fit one.
    write_config(slurm_dir, 'pack_time = "1m", arrays = false')
    config = (slurm_dir / "assay.toml").read_text()
    (slurm_dir / "assay.toml").write_text(config.replace("nodes = 2, cpus", "nodes = 1, cpus"))
    (slurm_dir / "test_packed.py").write_text(PACKED)
    first = run_assay("run", "test_packed.py", "--plain", cwd=slurm_dir, timeout=300)
    assert first.code == 0, first
    assert len(_packs(slurm_dir)) == 2
    ids = {c["params"]["i"]: c["id"] for c in first.report["cases"]}
    second = run_assay("run", "test_packed.py", "--plain", cwd=slurm_dir, timeout=300)
    assert second.code == 0, second
    [pack] = _packs(slurm_dir)
    assert len(pack) == 8
    assert pack[0] == f"assay-{ids['5']}"  # the long one starts first
