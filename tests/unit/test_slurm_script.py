"""The Slurm job script: every value quoted, every directive before the first command."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from assay.config import Partition, PartitionRef, Slurm
from assay.schedulers.base import STATUS_SUFFIX, JobResources, JobSpec
from assay.schedulers.slurm import SlurmScheduler, SubmitError
from assay.transports.local import CommandResult, LocalTransport


def _scheduler(**slurm: object) -> SlurmScheduler:
    config = Partition(scheduler="slurm", slurm=Slurm(**slurm))  # type: ignore[arg-type]
    return SlurmScheduler(PartitionRef("ci", "debug", config), LocalTransport())


def _spec(tmp_path: Path, name: str = "assay-1234abcd") -> JobSpec:
    return JobSpec(
        name=name,
        script=tmp_path / "run.sh",
        workdir=tmp_path / "stage dir",
        stdout=tmp_path / "stage dir" / "out",
        stderr=tmp_path / "stage dir" / "err",
        time_limit=90,
        resources=JobResources(nodes=2, tasks=4, tasks_per_node=2, exclusive=True),
    )


def test_directives_map_the_resources_and_quote_every_value(tmp_path: Path) -> None:
    scheduler = _scheduler(account="proj; rm -rf /", options=["--comment=a b"])
    lines = scheduler.directives(_spec(tmp_path))
    assert all(line.startswith("#SBATCH ") for line in lines)
    assert "#SBATCH --nodes=2" in lines and "#SBATCH --ntasks=4" in lines
    assert "#SBATCH --ntasks-per-node=2" in lines and "#SBATCH --exclusive" in lines
    assert "#SBATCH --time=00:01:30" in lines  # Slurm's own format, rounded up to seconds
    assert '#SBATCH --account="proj; rm -rf /"' in lines
    assert '#SBATCH "--comment=a b"' in lines


def test_paths_and_the_job_name_go_to_sbatch_as_arguments_not_directives(
    tmp_path: Path,
) -> None:
    """Paths hold whatever the file system allows, which no directive can carry exactly."""
    scheduler = _scheduler()
    spec = _spec(tmp_path)
    assert not any("chdir" in line or "output" in line for line in scheduler.directives(spec))
    assert scheduler.job_options(spec) == [
        f"--chdir={tmp_path / 'stage dir'}",
        f"--output={tmp_path / 'stage dir' / 'out'}",
        f"--error={tmp_path / 'stage dir' / 'err'}",
    ]


def test_the_header_runs_nothing_before_the_last_directive(tmp_path: Path) -> None:
    """sbatch stops reading #SBATCH at the first command: a command in between would
    silently drop every directive after it."""
    header = _scheduler().header(_spec(tmp_path))
    first_command = next(i for i, line in enumerate(header) if not line.startswith("#"))
    assert all(not line.startswith("#SBATCH") for line in header[first_command:])


def test_the_footer_records_exit_code_host_and_run_time(tmp_path: Path) -> None:
    scheduler = _scheduler()
    spec = _spec(tmp_path)
    spec.workdir.mkdir()
    script = [
        "#!/bin/bash",
        *scheduler.header(spec),
        "sleep 0.2; false",
        "assay_status=$?",
        *scheduler.footer(spec),
    ]
    spec.script.write_text("\n".join(script) + "\n")
    subprocess.run(["bash", str(spec.script)], check=True)
    status = json.loads(Path(str(spec.stdout) + STATUS_SUFFIX).read_text())
    assert status["exit_code"] == 1 and status["host"]
    assert float(status["ended"]) - float(status["started"]) >= 0.2


def test_submission_retries_a_busy_controller_then_gives_up_with_a_clear_error(
    tmp_path: Path,
) -> None:
    """A controller that never answers cannot be made on demand without stopping the shared
    test cluster: ``unreachable_sbatch`` fakes its answer."""
    scheduler = _scheduler(poll_min=0.01, poll_max=0.02)
    scheduler.submit_patience = 0.1
    calls = []

    async def unreachable_sbatch(argv: Sequence[str]) -> CommandResult:
        calls.append(argv)
        return CommandResult(1, "", "sbatch: error: Batch job submission failed: Socket timed out")

    scheduler._command = unreachable_sbatch  # type: ignore[method-assign]
    expected = "could not reach the Slurm controller for 100ms: sbatch: error"
    with pytest.raises(SubmitError, match=expected):
        asyncio.run(scheduler._submit(_spec(tmp_path)))
    assert len(calls) > 2  # it tried again before giving up


def test_a_refused_submission_is_not_retried(tmp_path: Path) -> None:
    scheduler = _scheduler()
    calls = []

    async def refusing_sbatch(argv: Sequence[str]) -> CommandResult:
        calls.append(argv)
        return CommandResult(1, "", "sbatch: error: invalid partition specified: nope")

    scheduler._command = refusing_sbatch  # type: ignore[method-assign]
    with pytest.raises(
        SubmitError,
        match=r"refused the job: sbatch: error: inv.* \[systems.ci.partitions.debug.slurm\]",
    ):
        asyncio.run(scheduler._submit(_spec(tmp_path)))
    assert len(calls) == 1
