"""How a job asks Slurm for GPUs: a partition's ``slurm.gpu_request`` choice.

=================== ==============================================================
``gpus-per-node``   ``--gpus-per-node=N`` (Slurm 19.05+, ``select/cons_tres``)
``gres``            ``--gres=gpu:N``, the generic-resource form every Slurm takes
=================== ==============================================================

sbatch and srun keep only the last ``--gres`` option they are given, so with ``gres`` the
GPUs join the partition's own ``slurm.gres`` in one option instead of adding a second
(which would silently drop one of them). No GPUs (0 or unset) is no option at all.
"""

from __future__ import annotations

from assay.config import GpuRequest


def slurm_gpu_options(gpus: int | None, how: GpuRequest, gres: str | None) -> dict[str, str]:
    """The Slurm options (name: value, without ``--``) that ask for ``gpus`` GPUs per node
    as ``how`` says, together with the partition's ``gres``: at most one ``gres``."""
    out: dict[str, str] = {}
    if gpus and how == "gres":
        out["gres"] = f"{gres},gpu:{gpus}" if gres else f"gpu:{gpus}"
        return out
    if gres:
        out["gres"] = gres
    if gpus:
        out["gpus-per-node"] = str(gpus)
    return out
