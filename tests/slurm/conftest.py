"""The real Slurm cluster that scripts/slurm-ci brings up (scripts/test-all does it).

Slurm tests run one at a time, whichever process runs them: some take a node down or fill
the queue, which would disturb each other. A lock file serialises them (scripts/test-all
also runs with ``--dist loadfile``, which keeps them on one worker anyway). Without a
cluster they are skipped, unless ``ASSAY_REQUIRE_SLURM=1`` (CI) makes that an error.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
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
def slurm_dir(tmp_path: Path, cluster: None) -> Iterator[Path]:
    """A project directory whose assay.toml has the cluster's partitions; the cluster is
    this test's alone while it runs."""
    (tmp_path / "assay.toml").write_text(CONFIG.format(extra=""))
    lock = Path(tempfile.gettempdir()) / "assay-slurm-tests.lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield tmp_path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_config(directory: Path, extra: str) -> None:
    """Rewrite the config with more settings for the debug partition's slurm table."""
    (directory / "assay.toml").write_text(CONFIG.format(extra=", " + extra))


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    return set(out.split())


MARKS = [pytest.mark.slurm]
"""Every Slurm test module sets ``pytestmark = MARKS``."""
