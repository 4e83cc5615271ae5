"""Performance references kept in a file beside a test or suite file, which ``assay bless``
writes and people may edit: ``test_stream.py`` has ``test_stream.references.toml``,
``solver.suite.toml`` has ``solver.references.toml``::

    # Performance references, kept by `assay bless` (edit freely).
    ["Stream[threads=2]"."local:default"]
    triad = { value = 32460.2, lower = -0.2, unit = "MB/s" }

    ["Stream"."cluster:*"]
    triad = { value = 25000, lower = -0.2 }

A top-level key is a test's name (its every variant) or a variant's name (as case names
start: ``Stream[threads=2]``); the next a ``system:partition`` pattern, as in a test's
``references``; then a metric, with a number (the value alone) or a table of ``value``,
``lower``, ``upper``, ``lower_abs``, ``upper_abs`` and ``unit`` (see ``assay.ref``).

A case's reference for a metric is, in order: the file's for its variant, the file's for
its test, the test's own ``references``; within each, the most specific pattern matching
the case's partition.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from assay.define.refs import Ref, choose
from assay.validation import Invalid, load_toml, read_utf8

SUFFIX = ".references.toml"
SUITE_SUFFIX = ".suite.toml"
HEADER = "Performance references, kept by `assay bless` (edit freely; see docs/test-api.md)."
_KEYS = ("value", "lower", "upper", "lower_abs", "upper_abs", "unit")

Kept = dict[str, dict[str, dict[str, Ref]]]
"""Test or variant name -> ``system:partition`` pattern -> metric -> reference."""


def path_for(test_file: str | Path) -> Path:
    """The references file of a test or suite file."""
    path = Path(test_file)
    stem = path.name[: -len(SUITE_SUFFIX)] if path.name.endswith(SUITE_SUFFIX) else path.stem
    return path.with_name(stem + SUFFIX)


def read(
    path: Path, metrics: Mapping[str, Iterable[str]], variants: Mapping[str, str]
) -> tuple[Kept, list[tuple[int | None, str]]]:
    """The references of ``path`` and what is wrong in it (line, message). ``metrics``:
    test name -> its metrics (a mapping of metric -> unit checks each reference's unit);
    ``variants``: variant name -> its test's name."""
    try:
        text = read_utf8(path)
        data = load_toml(text)
    except OSError as exc:
        return {}, [(None, f"cannot read: {exc.strerror}")]
    except Invalid as exc:
        return {}, [(None, exc.message)]
    kept: Kept = {}
    problems: list[tuple[int | None, str]] = []

    def problem(key: str, message: str) -> None:
        problems.append((_line_of(text, key), message))

    for name, patterns in data.items():
        test = name if name in metrics else variants.get(name)
        if test is None:
            known = ", ".join(sorted(metrics)) or "none"
            problem(
                name,
                f"{name!r} is neither a test of this file nor one of its variants (tests: {known})",
            )
            continue
        if not isinstance(patterns, dict):
            problem(name, f'{name!r} must be a table of "system:partition" patterns')
            continue
        for pattern, table in patterns.items():
            if not isinstance(table, dict):
                problem(pattern, f"[{name!r}.{pattern!r}] must be a table of metrics")
                continue
            for metric, value in table.items():
                where = f"{name} {pattern} {metric}"
                if metric not in set(metrics[test]):
                    found = ", ".join(sorted(metrics[test])) or "none"
                    problem(metric, f"{where}: {test} has no metric {metric!r} (metrics: {found})")
                    continue
                ref, wrong = entry(value)
                if ref is None or wrong:
                    problem(metric, f"{where}: {wrong or 'not a reference'}")
                    continue
                units = metrics[test]
                unit = units.get(metric) if isinstance(units, Mapping) else None
                if ref.unit and unit and ref.unit != unit:
                    problem(
                        metric,
                        f"{where}: the reference is in {ref.unit!r} but the metric is in "
                        f"{unit!r}; write the value in {unit!r} (or leave unit out)",
                    )
                    continue
                kept.setdefault(name, {}).setdefault(pattern, {})[metric] = ref
    return kept, problems


def entry(value: Any) -> tuple[Ref | None, str]:
    """One metric's reference as written (a number, or a table), and what is wrong in it."""
    if isinstance(value, bool):
        return None, f"{value!r} is not a number or a table"
    if isinstance(value, int | float):
        ref = Ref(value)
    elif isinstance(value, dict):
        unknown = [k for k in value if k not in _KEYS]
        if unknown:
            return None, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}"
        if "value" not in value:
            return None, "a reference needs a value"
        numbers = {k: v for k, v in value.items() if k != "unit"}
        for key, number in numbers.items():
            if isinstance(number, bool) or not isinstance(number, int | float):
                if isinstance(number, str):
                    return None, (
                        f"{key} must be a number, got the string {number!r}; "
                        "write it without quotes"
                    )
                return None, f"{key} must be a number, got {number!r}"
        unit = value.get("unit")
        if unit is not None and not isinstance(unit, str):
            return None, "unit must be a string"
        ref = Ref(
            value["value"],
            value.get("lower"),
            value.get("upper"),
            unit,
            value.get("lower_abs"),
            value.get("upper_abs"),
        )
    else:
        return None, f"{value!r} is not a number or a table"
    problems = ref.problems()  # before any float(): an int of 400 digits has none
    if problems:
        return ref, "; ".join(problems)
    return dataclasses.replace(ref, value=float(ref.value)), ""


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if f'"{key}"' in line or f"'{key}'" in line or line.lstrip().startswith(f"{key} ="):
            return number
        if line.lstrip().startswith(("[", f"{key}=")) and key in line:
            return number
    return None


def chosen(kept: Kept, test: str, variant: str, system: str, partition: str) -> dict[str, Ref]:
    """The file's references of one case (its variant's beat its test's)."""
    out = choose(kept.get(test, {}), system, partition)
    out.update(choose(kept.get(variant, {}), system, partition))
    return out


def updated(text: str | None, changes: Iterable[tuple[str, str, str, Ref]]) -> str:
    """The text of a references file (``None``: a new one) with ``changes`` made: (variant
    or test name, pattern, metric, reference). Everything else, comments included, stays."""
    import tomlkit  # lazy: start-up time (only bless writes references)

    doc = tomlkit.parse(text) if text is not None else tomlkit.document()
    if text is None:
        doc.add(tomlkit.comment(HEADER))
    for name, pattern, metric, ref in changes:
        if name not in doc:
            doc[name] = tomlkit.table(is_super_table=True)
        table = doc[name]
        if pattern not in table:
            table[pattern] = tomlkit.table()
        entry = tomlkit.inline_table()
        entry.update(_fields(ref))
        table[pattern][metric] = entry
    return tomlkit.dumps(doc)


def _fields(ref: Ref) -> dict[str, Any]:
    out: dict[str, Any] = {"value": _round(ref.value)}
    for key in ("lower", "upper", "lower_abs", "upper_abs"):
        value = getattr(ref, key)
        if value is not None:
            out[key] = value
    if ref.unit:
        out["unit"] = ref.unit
    return out


def _round(value: float) -> float | int:
    """A measured value as written: 6 significant digits (more would only be noise)."""
    if not math.isfinite(value) or value == 0:
        return value
    rounded = float(f"{value:.6g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded
