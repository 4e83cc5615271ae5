"""The real Slurm cluster that scripts/slurm-ci brings up (scripts/test-all does it).

Slurm tests run one after another on one xdist worker (``xdist_group``): some of them take
a node down or fill the queue, which would disturb each other. Without a cluster they are
skipped, unless ``ASSAY_REQUIRE_SLURM=1`` (CI) makes that an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CONFIG = """
[systems.ci]
hostnames = ["*"]

[systems.ci.partitions.local]
description = "this machine"

[systems.ci.partitions.debug]
scheduler = "slurm"
launcher = "srun"
max_jobs = 50
resources = {{ nodes = 2, cpus_per_node = 4 }}
slurm = {{ partition = "debug", poll_min = 0.3, poll_max = 2.0 {extra} }}

[systems.ci.partitions.long]
scheduler = "slurm"
launcher = "srun"
max_jobs = 50
resources = {{ nodes = 2, cpus_per_node = 4 }}
slurm = {{ partition = "long", poll_min = 0.3, poll_max = 2.0 }}
"""


def _cluster_up() -> str | None:
    if shutil.which("sinfo") is None:
        return "Slurm is not installed (scripts/slurm-ci up installs and starts it)"
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if result.returncode != 0:
        return f"no Slurm cluster answers: {result.stderr.strip()}"
    return None


@pytest.fixture(scope="session")
def cluster() -> None:
    problem = _cluster_up()
    if problem:
        if os.environ.get("ASSAY_REQUIRE_SLURM") == "1":
            pytest.fail(f"ASSAY_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)


@pytest.fixture
def slurm_dir(tmp_path: Path, cluster: None) -> Path:
    """A project directory whose assay.toml has the cluster's partitions."""
    (tmp_path / "assay.toml").write_text(CONFIG.format(extra=""))
    return tmp_path


def write_config(directory: Path, extra: str) -> None:
    """Rewrite the config with more settings for the debug partition's slurm table."""
    (directory / "assay.toml").write_text(CONFIG.format(extra=", " + extra))


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    return set(out.split())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/slurm/" in str(item.fspath):
            item.add_marker(pytest.mark.slurm)
            item.add_marker(pytest.mark.xdist_group("slurm"))
