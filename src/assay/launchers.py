"""Launchers put a command under the parallel program starter a partition uses."""

from __future__ import annotations

from assay.schedulers.base import JobResources


def launch(launcher: str, command: str, resources: JobResources) -> str:
    """The command line that starts ``command`` with ``launcher`` (``command`` is shell text)."""
    if launcher == "none":
        return command
    if launcher in ("mpirun", "mpiexec"):
        parts = [launcher, "-np", str(resources.tasks)]
        if resources.tasks_per_node:
            parts += ["--map-by", f"ppr:{resources.tasks_per_node}:node"]
        return " ".join(parts) + " " + command
    if launcher == "srun":
        # Inside an allocation srun takes its geometry from the job; state it for clarity.
        parts = ["srun", f"--ntasks={resources.tasks}"]
        if resources.cpus_per_task:
            parts.append(f"--cpus-per-task={resources.cpus_per_task}")
        return " ".join(parts) + " " + command
    raise ValueError(f"unknown launcher {launcher!r}")
