"""The explicit points of a sweep (a design of experiments): ``points = [{...}, ...]`` in the
suite file, or ``points = "doe.csv"`` (a header row of parameter names, a row per point)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from assay.define.suite_checks import IDENT, Compiler, is_file
from assay.define.test import builtin_name
from assay.validation import Invalid, read_utf8

Value = str | int | float | bool


def read_points(
    comp: Compiler, key: str, raw: list[dict[str, Any]] | str, taken: set[str]
) -> dict[str, list[Value]] | None:
    """The points as columns (parameter name -> its value at each point), or None after
    saying what is wrong. ``taken``: names that cannot be parameters here."""
    if isinstance(raw, str):
        rows = _csv_rows(comp, key, raw)
        if rows is None:
            return None
    else:
        rows = raw
    if not rows:
        comp.problem(key, "no points: give at least one table of parameter values")
        return None
    names = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != names and set(row) != set(names):
            missing = sorted(set(names) - set(row))
            extra = sorted(set(row) - set(names))
            what = "; ".join(
                part
                for part in (
                    f"it lacks {', '.join(missing)}" if missing else "",
                    f"it has {', '.join(extra)} besides" if extra else "",
                )
                if part
            )
            comp.problem(key, f"point {i + 1} does not set the same parameters as point 1 ({what})")
            return None
    bad = False
    for name in names:
        if not IDENT.fullmatch(name) or builtin_name(name) or name in taken:
            comp.problem(
                key,
                f"{name!r} cannot be a parameter name here (an identifier that is no built-in "
                "field, setting or other parameter of the sweep)",
            )
            bad = True
    for i, row in enumerate(rows):
        for name, value in row.items():
            if not isinstance(value, Value):
                comp.problem(key, f"point {i + 1}: {name} = {value!r} is not a plain value")
                bad = True
    if bad:
        return None
    seen: dict[tuple[Any, ...], int] = {}
    for i, row in enumerate(rows):
        values = tuple(row[n] for n in names)
        if values in seen:
            comp.problem(key, f"point {i + 1} repeats point {seen[values] + 1}")
            return None
        seen[values] = i
    return {name: [row[name] for row in rows] for name in names}


def _csv_rows(comp: Compiler, key: str, name: str) -> list[dict[str, Any]] | None:
    path = comp.base / name
    if not is_file(path):
        comp.problem(key, f"{path} is not a file; give a CSV file of points or a list of tables")
        return None
    try:
        text = read_utf8(path)
    except OSError as exc:
        comp.problem(key, f"{path}: cannot read: {exc.strerror}")
        return None
    except Invalid as exc:
        comp.problem(key, f"{path.name}: {exc.message}")
        return None
    reader = csv.reader(io.StringIO(text))
    lines = [row for row in reader if any(cell.strip() for cell in row)]
    if not lines:
        comp.problem(key, f"{path.name} is empty; its first row names the parameters")
        return None
    header = [cell.strip() for cell in lines[0]]
    rows = []
    for number, cells in enumerate(lines[1:], 2):
        if len(cells) != len(header):
            comp.problem(
                key,
                f"{path.name}: row {number} has {len(cells)} cells, the header {len(header)}",
            )
            return None
        rows.append({h: _typed(c.strip()) for h, c in zip(header, cells, strict=True)})
    return rows


def _typed(text: str) -> Value:
    """A CSV cell as the value TOML would give: an integer, a number, true/false, or text."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def combinations(
    params: Mapping[str, list[Any]], points: Mapping[str, list[Any]] | None, exclude: Any
) -> Iterator[dict[str, Any]]:
    """Every point of a sweep: the product of the list parameters with the explicit points
    (each one as a whole), without the excluded ones."""
    excluded = [e for e in exclude if isinstance(e, dict)] if isinstance(exclude, list) else []
    rows: list[dict[str, Any]] = [{}]
    if points:
        names = list(points)
        rows = [
            dict(zip(names, values, strict=True)) for values in zip(*points.values(), strict=True)
        ]
    names = list(params)
    for values in itertools.product(*params.values()):
        for row in rows:
            point = {**dict(zip(names, values, strict=True)), **row}
            if any(all(point.get(k) == v for k, v in e.items()) for e in excluded):
                continue
            yield point
