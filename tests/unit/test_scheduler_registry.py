"""The scheduler registry: keyed by the config's values, capabilities instead of names."""

from __future__ import annotations

import typing
from pathlib import Path, PurePosixPath

from assay.config import Partition, PartitionRef, Slurm
from assay.schedulers.direct import DirectScheduler
from assay.schedulers.jobfiles import JobFiles
from assay.schedulers.registry import SCHEDULERS, SchedulerSetup, make_scheduler
from assay.transports.local import LocalTransport


def _setup(tmp_path: Path, partition: Partition) -> SchedulerSetup:
    transport = LocalTransport()
    jobs = PurePosixPath(tmp_path / "jobs")
    return SchedulerSetup(
        partition=PartitionRef("s", "p", partition),
        transport=transport,
        workdir=jobs / "s-p",
        job_files=JobFiles(jobs, transport),
    )


def test_every_scheduler_the_config_accepts_is_registered() -> None:
    hints = typing.get_type_hints(Partition, include_extras=True)
    assert set(typing.get_args(hints["scheduler"])) == set(SCHEDULERS)


def test_capabilities_say_where_builds_and_comparisons_run(tmp_path: Path) -> None:
    direct = make_scheduler(_setup(tmp_path, Partition()))
    assert isinstance(direct, DirectScheduler)
    assert (direct.runs_builds, direct.compares_in_job) == (False, False)
    on_login = make_scheduler(_setup(tmp_path, Partition(scheduler="slurm")))
    assert on_login.name == "slurm"
    assert (on_login.runs_builds, on_login.compares_in_job) == (False, True)
    as_job = Partition(scheduler="slurm", slurm=Slurm(build="job"))
    assert make_scheduler(_setup(tmp_path, as_job)).runs_builds is True


def test_the_generic_layers_never_name_a_scheduler() -> None:
    # The pipeline and the session ask capabilities, never compare scheduler names.
    root = Path(__file__).resolve().parents[2] / "src" / "assay"
    session = sorted(str(p.relative_to(root)) for p in (root / "session").glob("*.py"))
    assert "session/running.py" in session
    run = ["pipeline", "case_state", "stage_setup", "stage_run", "stage_check", "runner"]
    for module in (*(f"run/{m}.py" for m in run), *session):
        text = (root / module).read_text()
        assert "slurm" not in text.lower(), module
        assert '"direct"' not in text, module
