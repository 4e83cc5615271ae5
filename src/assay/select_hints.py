"""Why a selection matched no case, told per option: a ``-p``, ``-e`` or ``-P`` that nothing
on the system matches, with what there is, and where a ReFrame habit is the likely cause
(ReFrame's ``-p`` is the programming environment, assay's ``-e``; its ``-P`` takes
comma-separated values; its environments have ``+feature`` names)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from assay.config import Config


def unmatched(
    config: Config,
    system: str,
    partitions: Sequence[str],
    environments: Sequence[str],
    params: Sequence[str],
) -> str:
    """``; -p 'gnu' matches no partition ...`` for each of these options that alone leaves
    nothing on ``system``; empty when each matches something."""
    parts = config.systems[system].partitions
    envs = sorted({e for p in parts.values() for e in p.environments})
    said: list[str] = []
    if partitions and not any(
        fnmatch.fnmatchcase(f"{system}:{name}" if ":" in pattern else name, pattern)
        for pattern in partitions
        for name in parts
    ):
        shown = ", ".join(repr(p) for p in partitions)
        line = f"-p {shown} matches no partition of system {system} (its partitions: "
        line += f"{', '.join(sorted(parts))})"
        if any(fnmatch.fnmatchcase(e, p) for p in partitions for e in envs):
            line += (
                f"; to pick environments use -e (ReFrame's -p is assay's -e): -e {partitions[0]}"
            )
        said.append(line)
    if environments and not any(fnmatch.fnmatchcase(e, p) for p in environments for e in envs):
        shown = ", ".join(repr(p) for p in environments)
        line = f"-e {shown} matches no environment of system {system} (its environments: "
        line += f"{', '.join(envs)})"
        if any(p.startswith(("+", "%")) for p in environments):
            line += "; assay's environments have no +features: name them (globs allowed)"
        said.append(line)
    listed = [p for p in params if "," in p.partition("=")[2]]
    if listed:
        name, _, values = listed[0].partition("=")
        alternatives = " ".join(f"-P {name}={v}" for v in values.split(",") if v)
        said.append(
            f"-P {listed[0]} selects the value {values!r} as written; for alternatives repeat "
            f"-P: {alternatives}"
        )
    return "".join(f"; {line}" for line in said)
