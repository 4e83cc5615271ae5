"""``-S name=value`` and ``-S Test.name=value``: typed overrides of variables and fields."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from assay.define.fields import FIELDS, PARSERS
from assay.define.test import Test
from assay.errors import UsageError, did_you_mean


def resolve(tests: Sequence[type[Test]], pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per test name, the overridden values (converted and validated)."""
    per_test: dict[str, dict[str, Any]] = {t.__name__: {} for t in tests}
    by_name = {t.__name__: t for t in tests}
    generic: list[tuple[str, str, str]] = []
    specific: list[tuple[str, str, str, str]] = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-S {pair}: expected NAME=VALUE or TEST.NAME=VALUE")
        test_name, dot, name = key.rpartition(".")
        if dot:
            specific.append((pair, test_name, name, text))
        else:
            generic.append((pair, name, text))

    for pair, name, text in generic:
        users = [t for t in tests if name in t._assay.variables]
        if not users and name not in PARSERS:
            _not_a_parameter(pair, tests, name, text)
            known = sorted({v for t in tests for v in t._assay.variables} | set(PARSERS))
            raise UsageError(
                f"-S {pair}: no loaded test has a variable {name!r}{did_you_mean(name, known)}",
                hint=f"variables and fields you can set: {', '.join(known)}",
            )
        for test in tests if name in PARSERS else users:
            per_test[test.__name__][name] = _convert(pair, test, name, text)

    for pair, test_name, name, text in specific:  # applied last: they win
        if test_name not in by_name:
            raise UsageError(
                f"-S {pair}: no loaded test named {test_name!r}{did_you_mean(test_name, by_name)}"
            )
        test = by_name[test_name]
        if name not in test._assay.variables and name not in PARSERS:
            known = sorted(set(test._assay.variables) | set(PARSERS))
            raise UsageError(
                f"-S {pair}: {test_name} has no variable {name!r}{did_you_mean(name, known)}",
                hint=f"it has: {', '.join(known)}",
            )
        per_test[test_name][name] = _convert(pair, test, name, text)
    return per_test


def _not_a_parameter(pair: str, tests: Sequence[type[Test]], name: str, text: str) -> None:
    """Raise what to do when ``-S`` names a parameter: it cannot be set, its variants chosen."""
    owners = [t.__name__ for t in tests if name in t._assay.space.names]
    if owners:
        raise UsageError(
            f"-S {pair}: {name!r} is a parameter of {', '.join(owners)}, not a variable: its "
            "values make the variants, and -S cannot change them",
            hint="to run only the variants of that value, select them: -P "
            + shlex.quote(f"{name}={text}"),
        )


def _convert(pair: str, test: type[Test], name: str, text: str) -> Any:
    var = test._assay.variables.get(name)
    try:
        if var is not None:
            return var.parse(text)
        value = PARSERS[name](text)
        problem = FIELDS[name].check(value)  # what a class may not say, -S may not either
        if problem:
            raise ValueError(problem)
        return value
    except ValueError as exc:
        kind = var.type.__name__ if var is not None else name
        raise UsageError(f"-S {pair}: {test.__name__}.{name} expects {kind}: {exc}") from None
