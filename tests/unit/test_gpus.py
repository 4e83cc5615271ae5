"""GPUs: how a partition asks Slurm for them (``slurm.gpu_request``), in the job script's
``#SBATCH`` lines and on the ``srun`` line, and what happens to a case that needs more GPUs
than its partition has."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from assay.config import Partition, PartitionRef, Slurm, describe, parse_config
from assay.errors import ConfigError
from assay.launchers import OMPI_SESSION_DIR, launcher, partition_launcher
from assay.schedulers.base import JobResources, JobSpec
from assay.schedulers.packing import packable
from assay.schedulers.slurm import SlurmScheduler
from assay.transports.local import LocalTransport

CHOICES = ("gpus-per-node", "gres")


def _scheduler(**slurm: object) -> SlurmScheduler:
    config = Partition(scheduler="slurm", slurm=Slurm(**slurm))  # type: ignore[arg-type]
    return SlurmScheduler(PartitionRef("ci", "gpu", config), LocalTransport())


def _spec(tmp_path: Path, gpus: int | None, nodes: int = 2) -> JobSpec:
    return JobSpec(
        name="assay-1234abcd",
        script=tmp_path / "run.sh",
        workdir=tmp_path,
        stdout=tmp_path / "out",
        stderr=tmp_path / "err",
        time_limit=90,
        resources=JobResources(nodes=nodes, tasks=nodes * 2, tasks_per_node=2, gpus_per_node=gpus),
    )


def _gpu_lines(lines: list[str]) -> list[str]:
    return [x for x in lines if x.startswith("#SBATCH") and ("gpu" in x or "gres" in x)]


# --- the #SBATCH lines -----------------------------------------------------------------------


def test_gpus_per_node_is_the_default_request(tmp_path: Path) -> None:
    header = _scheduler().header(_spec(tmp_path, 2))
    assert _gpu_lines(header) == ["#SBATCH --gpus-per-node=2"]


def test_gres_asks_for_gpus_as_a_generic_resource(tmp_path: Path) -> None:
    header = _scheduler(gpu_request="gres").header(_spec(tmp_path, 2))
    assert _gpu_lines(header) == ["#SBATCH --gres=gpu:2"]


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("gpus", [0, None])
def test_no_gpus_means_no_gpu_flag(tmp_path: Path, choice: str, gpus: int | None) -> None:
    header = _scheduler(gpu_request=choice).header(_spec(tmp_path, gpus))
    assert _gpu_lines(header) == []
    assert "#SBATCH --nodes=2" in header  # the rest of the header is still there


def test_gpus_as_gres_join_the_partitions_own_gres_in_one_option(tmp_path: Path) -> None:
    """sbatch keeps only the last of two ``--gres`` options: the partition's gres and the
    case's GPUs must share one, or one of them is silently dropped."""
    header = _scheduler(gpu_request="gres", gres="nvme:1").header(_spec(tmp_path, 4))
    assert _gpu_lines(header) == ["#SBATCH --gres=nvme:1,gpu:4"]
    without = _scheduler(gpu_request="gres", gres="nvme:1").header(_spec(tmp_path, 0))
    assert _gpu_lines(without) == ["#SBATCH --gres=nvme:1"]
    per_node = _scheduler(gres="nvme:1").header(_spec(tmp_path, 4))
    assert _gpu_lines(per_node) == ["#SBATCH --gres=nvme:1", "#SBATCH --gpus-per-node=4"]


def test_array_jobs_ask_each_task_for_its_gpus(tmp_path: Path) -> None:
    """An array's script is made from the same directives: every task gets the GPUs."""
    import asyncio

    from assay.schedulers.batching import Waiting

    part = Partition(scheduler="slurm", slurm=Slurm(gpu_request="gres"))
    scheduler = SlurmScheduler(PartitionRef("ci", "gpu", part), LocalTransport(), workdir=tmp_path)
    assert scheduler.arrays is not None
    loop = asyncio.new_event_loop()
    try:
        group = [Waiting(_spec(tmp_path, 1, nodes=1), loop.create_future()) for _ in range(2)]
        script = scheduler.arrays._script(_spec(tmp_path, 1, nodes=1), group)
    finally:
        loop.close()
    assert _gpu_lines(script.splitlines()) == ["#SBATCH --gres=gpu:1"]


# --- the srun line ---------------------------------------------------------------------------


def test_srun_states_the_gpus_the_way_the_partition_asks_for_them() -> None:
    resources = JobResources(nodes=2, tasks=4, gpus_per_node=2)
    assert launcher("srun").command("./app", resources) == (
        "srun --ntasks=4 --gpus-per-node=2 ./app"
    )
    assert launcher("srun", gpu_request="gres").command("./app", resources) == (
        "srun --ntasks=4 --gres=gpu:2 ./app"
    )
    for choice in CHOICES:
        for none in (JobResources(tasks=4), JobResources(tasks=4, gpus_per_node=0)):
            assert launcher("srun", gpu_request=choice).command("./app", none) == (
                "srun --ntasks=4 ./app"
            )


def test_mpi_launchers_leave_gpus_to_the_allocation() -> None:
    resources = JobResources(tasks=2, gpus_per_node=1)
    line = launcher("mpirun", gpu_request="gres").command("./a", resources)
    assert line == f"{OMPI_SESSION_DIR} mpirun -np 2 ./a"
    assert launcher("mpiexec").command("./a", resources) == "mpiexec -n 2 ./a"


def test_the_partitions_launcher_takes_its_gpu_request_from_the_config() -> None:
    config = parse_config(
        textwrap.dedent(
            """
            [systems.c.partitions.gpu]
            scheduler = "slurm"
            launcher = "srun"
            launcher_options = ["--mpi=pmix"]
            resources = { gpus_per_node = 4 }
            slurm = { gpu_request = "gres" }
            """
        ),
        "c.toml",
    )
    part = config.systems["c"].partitions["gpu"]
    line = partition_launcher(part).command("./app", JobResources(tasks=2, gpus_per_node=4))
    assert line == "srun --ntasks=2 --gres=gpu:4 --mpi=pmix ./app"


# --- packing ---------------------------------------------------------------------------------


def test_a_case_that_needs_gpus_gets_a_job_of_its_own(tmp_path: Path) -> None:
    """A pack job runs its cases side by side in one allocation, where nothing gives each
    case GPUs of its own: a GPU case is not packed."""
    short = _spec(tmp_path, 1, nodes=1)
    assert not packable(short, 300.0, True)
    assert packable(_spec(tmp_path, 0, nodes=1), 300.0, True)


# --- the config ------------------------------------------------------------------------------


def test_gpu_request_is_shown_by_assay_config_and_checked() -> None:
    text = '[systems.c.partitions.gpu]\nslurm = { gpu_request = "gres" }\n'
    shown = describe(parse_config(text, "c.toml"))["systems"]["c"]["partitions"]["gpu"]
    assert shown["slurm"]["gpu_request"] == "gres"
    default = describe(parse_config("[systems.c.partitions.p]\n", "c.toml"))
    assert default["systems"]["c"]["partitions"]["p"]["slurm"]["gpu_request"] == "gpus-per-node"
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace('"gres"', '"gpus"'), "c.toml")
    assert "systems.c.partitions.gpu.slurm.gpu_request" in str(err.value)
    assert "gpus-per-node" in str(err.value) and "gres" in str(err.value)


def test_a_partition_gres_that_already_asks_for_gpus_is_refused_with_gres_requests() -> None:
    """``slurm.gres = "gpu:1"`` and ``gpu_request = "gres"`` would write ``gpu`` twice in one
    ``--gres``, which sbatch refuses for every job: said when the config is read."""
    text = '[systems.c.partitions.gpu]\nslurm = { gpu_request = "gres", gres = "gpu:a100:1" }\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.toml")
    message = str(err.value)
    assert "systems.c.partitions.gpu.slurm.gres" in message
    assert "gpus_per_node" in message
    # With --gpus-per-node requests a gres naming GPUs is the site's business.
    parse_config(text.replace('"gres", gres', '"gpus-per-node", gres'), "c.toml")


def test_the_example_of_docs_config_md_writes_what_the_page_shows(tmp_path: Path) -> None:
    config = parse_config(
        textwrap.dedent(
            """
            [systems.cluster.partitions.a100]
            scheduler = "slurm"
            launcher = "srun"
            resources = { nodes = 4, gpus_per_node = 4 }
            slurm = { partition = "gpu", gpu_request = "gres", gres = "nvme:1" }
            """
        ),
        "c.toml",
    )
    part = config.systems["cluster"].partitions["a100"]
    resources = JobResources(nodes=2, tasks=8, tasks_per_node=4, gpus_per_node=2)
    spec = JobSpec("assay-x", tmp_path / "r.sh", tmp_path, tmp_path / "o", tmp_path / "e")
    spec = JobSpec(**{**spec.__dict__, "resources": resources})
    scheduler = SlurmScheduler(PartitionRef("cluster", "a100", part), LocalTransport())
    assert scheduler.directives(spec)[:5] == [
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks=8",
        "#SBATCH --partition=gpu",
        "#SBATCH --gres=nvme:1,gpu:2",
        "#SBATCH --ntasks-per-node=4",
    ]
    assert partition_launcher(part).command("CMD", resources) == (
        "srun --ntasks=8 --gres=nvme:1,gpu:2 CMD"
    )
    default = Partition(scheduler="slurm", launcher="srun", slurm=Slurm(gres="nvme:1"))
    lines = SlurmScheduler(PartitionRef("cluster", "a100", default), LocalTransport()).directives(
        spec
    )
    assert _gpu_lines(lines) == ["#SBATCH --gres=nvme:1", "#SBATCH --gpus-per-node=2"]
    assert partition_launcher(default).command("CMD", resources) == (
        "srun --ntasks=8 --gpus-per-node=2 CMD"
    )


@pytest.mark.parametrize(
    ("option", "fix"),
    [
        ("--gres=nvme:1", "gres = "),
        ("--gres", "gres = "),
        ("--gpus-per-node=2", "gpus_per_node"),
        ("--gpus-per-n=2", "gpus_per_node"),  # sbatch takes an unambiguous start of a name
    ],
)
def test_gpu_and_gres_options_that_would_override_assays_are_refused(option: str, fix: str) -> None:
    """sbatch keeps the last ``--gres`` (and ``--gpus-per-node``): one in ``options``,
    written after assay's own, would silently drop the GPUs a case asked for."""
    text = f'[systems.c.partitions.gpu]\nslurm = {{ options = ["{option}"] }}\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.toml")
    message = str(err.value)
    assert "systems.c.partitions.gpu.slurm.options[0]" in message
    assert fix in message


def test_other_gpu_options_stay_the_sites_business() -> None:
    for option in (
        "--gpus=4",
        "--gpus-per-task=1",
        "--gres-flags=enforce-binding",
        "--gpu-bind=closest",
    ):
        parse_config(f'[systems.c.partitions.p]\nslurm = {{ options = ["{option}"] }}\n', "c")


@pytest.mark.parametrize(
    ("choice", "gpus", "directive", "srun"),
    [
        ("gpus-per-node", 2, ["--gpus-per-node=2"], "srun --ntasks=4 --gpus-per-node=2 ./app"),
        ("gres", 2, ["--gres=gpu:2"], "srun --ntasks=4 --gres=gpu:2 ./app"),
        ("gpus-per-node", 0, [], "srun --ntasks=4 ./app"),
        ("gres", 0, [], "srun --ntasks=4 ./app"),
    ],
)
def test_the_whole_job_script_as_sbatch_reads_it(
    tmp_path: Path, choice: str, gpus: int, directive: list[str], srun: str
) -> None:
    """The run script a case gets: its directives as sbatch's own parser takes them (all
    before the first command), and the srun line that starts the command."""
    from assay.config import Environment
    from assay.run.scripts import run_script
    from assay.schedulers.jobscript import read_directives

    part = Partition(scheduler="slurm", launcher="srun", slurm=Slurm(gpu_request=choice))  # type: ignore[arg-type]
    scheduler = SlurmScheduler(PartitionRef("ci", "gpu", part), LocalTransport())
    spec = _spec(tmp_path, gpus)
    command = partition_launcher(part).command("./app", spec.resources)
    script = run_script(
        "T", scheduler.header(spec), spec.workdir, Environment(), part, {}, [], command, []
    )
    options = [line.removeprefix("#SBATCH ") for line in read_directives(script)]
    assert [o for o in options if "gpu" in o or "gres" in o] == directive
    assert "--nodes=2" in options and "--ntasks=4" in options
    assert f"exec {srun}; fi" in script  # the exact line: no other GPU option
