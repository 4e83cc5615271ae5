"""Launchers: the parallel starter a partition puts in front of a test's command."""

from __future__ import annotations

import pytest

from assay.launchers import launch
from assay.schedulers.base import JobResources


def test_none_runs_the_command_as_it_is() -> None:
    assert launch("none", "./app 'a b'", JobResources(tasks=4)) == "./app 'a b'"


def test_srun_states_tasks_and_cpus_per_task() -> None:
    resources = JobResources(nodes=2, tasks=8, cpus_per_task=3)
    assert launch("srun", "./app", resources) == "srun --ntasks=8 --cpus-per-task=3 ./app"


@pytest.mark.parametrize("starter", ["mpirun", "mpiexec"])
def test_mpi_starters_get_the_task_count_and_tasks_per_node(starter: str) -> None:
    assert launch(starter, "./app", JobResources(tasks=4)) == f"{starter} -np 4 ./app"
    spread = JobResources(nodes=2, tasks=4, tasks_per_node=2)
    assert launch(starter, "./app", spread) == f"{starter} -np 4 --map-by ppr:2:node ./app"


def test_an_unknown_launcher_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown launcher 'aprun'"):
        launch("aprun", "./app", JobResources())
