"""Why a selection matched no case, told per option: a ``-p``, ``-e`` or ``-P`` that nothing
on the system matches, with what there is, and where a ReFrame habit is the likely cause
(ReFrame's ``-p`` is the programming environment, assay's ``-e``; its ``-P`` takes
comma-separated values; its environments have ``+feature`` names)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import TYPE_CHECKING

from assay.config import Config
from assay.define.refs import pattern_matches

if TYPE_CHECKING:
    from assay.define.test import Test


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


def placed_nowhere(tests: Sequence[type[Test]], config: Config, system: str) -> str | None:
    """The warning for ``tests``, which have no case on ``system``, that name those whose
    ``systems`` take partitions there but whose ``environments`` match none of those
    partitions' (a ported ReFrame test's ``'gnu'`` where the config says ``'gnu-12'``): they
    would otherwise not run, unsaid. (A test meant for other systems is not named.) None
    when there is none."""
    parts = config.systems[system].partitions
    said = []
    for test in tests:
        systems, environments = _strs(test.systems), _strs(test.environments)
        if systems is None or environments is None:
            continue  # (a parameter: each variant has its own)
        taken = [n for n, p in parts.items() if any(pattern_matches(s, system, n) for s in systems)]
        offered = sorted({e for n in taken for e in parts[n].environments})
        if taken and not any(fnmatch.fnmatchcase(e, p) for e in offered for p in environments):
            said.append(
                f"{test.__name__}: its environments {list(environments)} match none of "
                f"{', '.join(offered)} (the environments of {system}:{','.join(taken)})"
            )
    if not said:
        return None
    more = f"; and {len(said) - 3} more" if len(said) > 3 else ""
    return f"no case on system {system} for " + "; ".join(said[:3]) + more


def _strs(value: object) -> tuple[str, ...] | None:
    """The patterns of a test's field, or None where they are no plain strings."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None
