"""Launchers put a command under the parallel program starter a partition uses.

In the style of Parsl's launchers: each launcher is an object that turns a command (shell
text) and the resources a job asked for into the command line that starts it. A partition
names its launcher (``launcher = "srun"``) and may give it more options
(``launcher_options = ["--mpi=pmix"]``); every option is one word, quoted into the line.

=========== ==================================================================
``none``    the command as it is (:class:`Direct`)
``srun``    ``srun --ntasks=N [--cpus-per-task=C] OPTIONS CMD`` (:class:`Srun`)
``mpirun``  Open MPI: ``mpirun -np N [--map-by ppr:K:node] OPTIONS CMD`` (:class:`Mpirun`)
``mpiexec`` MPICH, Intel MPI and the MPI standard's form:
            ``mpiexec -n N [-ppn K] OPTIONS CMD`` (:class:`Mpiexec`)
=========== ==================================================================
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from assay import shell
from assay.schedulers.base import JobResources


class Launcher(abc.ABC):
    """Turns a command and a resource request into the command line that starts it."""

    name: ClassVar[str]

    def __init__(self, options: Sequence[str] = ()) -> None:
        self.options = list(options)

    @abc.abstractmethod
    def words(self, resources: JobResources) -> list[str]:
        """The starter's own words (program and options) for ``resources``."""

    def command(self, command: str, resources: JobResources) -> str:
        """The command line that starts ``command`` (shell text, kept as it is)."""
        words = self.words(resources)
        if not words:
            return command
        return shell.join([*words, *self.options]) + " " + command

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"


class Direct(Launcher):
    """No starter: the command runs as it is (its options, if any, are ignored)."""

    name = "none"

    def words(self, resources: JobResources) -> list[str]:
        return []


class Srun(Launcher):
    """Slurm's ``srun``; inside an allocation it takes its geometry from the job, which the
    line states for clarity."""

    name = "srun"

    def words(self, resources: JobResources) -> list[str]:
        words = ["srun", f"--ntasks={resources.tasks}"]
        if resources.cpus_per_task:
            words.append(f"--cpus-per-task={resources.cpus_per_task}")
        return words


class Mpirun(Launcher):
    """Open MPI's ``mpirun``: ``--map-by ppr:K:node`` places K tasks on each node."""

    name = "mpirun"

    def words(self, resources: JobResources) -> list[str]:
        words = ["mpirun", "-np", str(resources.tasks)]
        if resources.tasks_per_node:
            words += ["--map-by", f"ppr:{resources.tasks_per_node}:node"]
        return words


class Mpiexec(Launcher):
    """``mpiexec`` as MPICH's and Intel MPI's Hydra take it (``-n``, ``-ppn``); ``-n`` alone
    is the MPI standard's form, which every implementation accepts."""

    name = "mpiexec"

    def words(self, resources: JobResources) -> list[str]:
        words = ["mpiexec", "-n", str(resources.tasks)]
        if resources.tasks_per_node:
            words += ["-ppn", str(resources.tasks_per_node)]
        return words


LAUNCHERS: dict[str, type[Launcher]] = {cls.name: cls for cls in (Direct, Srun, Mpirun, Mpiexec)}
"""Every launcher, by the name a partition's ``launcher`` setting gives."""


def launcher(name: str, options: Sequence[str] = ()) -> Launcher:
    """The launcher a partition names, with its options."""
    try:
        return LAUNCHERS[name](options)
    except KeyError:
        raise ValueError(f"unknown launcher {name!r}; known: {', '.join(LAUNCHERS)}") from None
