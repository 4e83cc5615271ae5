"""Which variants and cases a run includes: names, tags, parameters, partitions, environments."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.define.test import Test
from assay.errors import UsageError, did_you_mean


def _compile(patterns: Sequence[str], option: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for pattern in patterns:
        try:
            out.append(re.compile(pattern))
        except re.error as exc:
            raise UsageError(
                f"{option} {pattern!r}: not a valid regular expression: {exc}"
            ) from None
    return tuple(out)


def _param_filters(pairs: Sequence[str]) -> dict[str, set[str]]:
    filters: dict[str, set[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"-P {pair}: expected NAME=VALUE (e.g. -P threads=2)")
        filters.setdefault(name, set()).add(value)
    return filters


@dataclass(frozen=True)
class Selection:
    """What the user asked to run. Empty criteria select everything.

    Repeated ``names`` and ``ids`` are alternatives; repeated ``tags`` must all
    hold; ``-P`` values for the same parameter are alternatives, different
    parameters must all hold.
    """

    names: Sequence[str] = ()
    exclude: Sequence[str] = ()
    tags: Sequence[str] = ()
    exclude_tags: Sequence[str] = ()
    params: Sequence[str] = ()
    partitions: Sequence[str] = ()
    environments: Sequence[str] = ()
    ids: Sequence[str] = ()
    _names: tuple[re.Pattern[str], ...] = field(init=False, repr=False)
    _exclude: tuple[re.Pattern[str], ...] = field(init=False, repr=False)
    _params: dict[str, set[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", _compile(self.names, "-n"))
        object.__setattr__(self, "_exclude", _compile(self.exclude, "-x"))
        object.__setattr__(self, "_params", _param_filters(self.params))

    def test_ok(self, test: type[Test]) -> bool:
        """Class-level checks (cheap, done once per test)."""
        return self.tags_ok(set(_as_tuple(test.tags)))

    def tags_ok(self, tags: set[str]) -> bool:
        if any(t not in tags for t in self.tags):
            return False
        return not any(t in tags for t in self.exclude_tags)

    def params_known(self, tests: Sequence[type[Test]]) -> None:
        """Fail clearly when ``-P`` names a parameter no selected test has."""
        known = {p.name for t in tests for p in t._assay.space.params}
        for name in self._params:
            if name not in known:
                raise UsageError(
                    f"-P {name}=...: no selected test has a parameter {name!r}"
                    f"{did_you_mean(name, known)}",
                    hint=f"parameters: {', '.join(sorted(known)) or 'none'}",
                )

    def variant_ok(self, name: str, labels: dict[str, str]) -> bool:
        if self._names and not any(p.search(name) for p in self._names):
            return False
        if any(p.search(name) for p in self._exclude):
            return False
        return all(labels.get(param) in values for param, values in self._params.items())

    def partition_ok(self, system: str, partition: str) -> bool:
        if not self.partitions:
            return True
        full = f"{system}:{partition}"
        return any(fnmatch.fnmatchcase(full if ":" in p else partition, p) for p in self.partitions)

    def environment_ok(self, environment: str) -> bool:
        return not self.environments or any(
            fnmatch.fnmatchcase(environment, p) for p in self.environments
        )

    def id_ok(self, case_id: str) -> bool:
        return not self.ids or any(case_id.startswith(i.lower()) for i in self.ids)


def last_failed(prefix: Path) -> list[str]:
    """Ids of the cases that failed or were aborted in the newest session under ``prefix``."""
    report = prefix / "latest" / "report.json"
    try:
        data = json.loads(report.read_text())
        ids = [c["id"] for c in data["cases"] if c["status"] in ("failed", "aborted")]
    except FileNotFoundError:
        raise UsageError(
            f"--failed: no earlier session under {prefix} ({report} is missing)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--failed: cannot read {report}: {exc}") from None
    if not ids:
        raise UsageError(f"--failed: nothing failed in the last session ({report})")
    return ids


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)
