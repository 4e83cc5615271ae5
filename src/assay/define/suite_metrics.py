"""A suite's figures of merit: ``[suite.metrics]`` and ``[suite.references]``, and the same
tables of one ``[[suite.sweep]]`` (read only from that sweep's cases)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from assay.define import suite_schema as schema
from assay.define.hooks import metric
from assay.define.output import Output
from assay.define.refs import ref
from assay.define.suite_checks import Compiler, bad_regex, name_problem
from assay.errors import toml_key


def add_metrics(
    comp: Compiler,
    key: str,
    metrics: Mapping[str, schema.Metric],
    references: Mapping[str, Mapping[str, schema.Reference]],
    ns: dict[str, Any],
) -> None:
    """Put the metric methods of ``metrics`` into the namespace ``ns`` and merge
    ``references`` into its ``references``; ``key`` is the table's TOML path
    (``suite`` or ``suite.sweep[1]``)."""
    known = {name for name, value in ns.items() if hasattr(value, "__assay_metric__")}
    for name, spec in metrics.items():
        problem = name_problem(name, "metric")
        if problem is None and name in ns:
            problem = (
                f"{name!r} cannot be a metric name: a variable, parameter or metric of the "
                "suite has it; rename one of them"
            )
        if problem is not None:
            comp.problem(f"{key}.metrics.{toml_key(name)}", problem)
            continue
        if bad_regex(comp, f"{key}.metrics.{name}.regex", spec.regex):
            continue
        ns[name] = _metric_method(name, spec)
        known.add(name)
    units = {name: spec.unit for name, spec in metrics.items()}
    merged = {pattern: dict(table) for pattern, table in ns.get("references", {}).items()}
    for pattern, table in references.items():
        for name, r in table.items():
            if name not in known:
                comp.problem(
                    f"{key}.references.{toml_key(pattern)}.{toml_key(name)}",
                    f"no metric {name!r} in [{key.split('[')[0]}.metrics]",
                )
                continue
            merged.setdefault(pattern, {})[name] = ref(
                r.value,
                r.lower,
                r.upper,
                r.unit or units.get(name) or _unit_of(ns[name]),
                lower_abs=r.lower_abs,
                upper_abs=r.upper_abs,
            )
    if merged:
        ns["references"] = merged


def _metric_method(name: str, spec: schema.Metric) -> Callable[[Any, Output], float]:
    def read(self: Any, out: Output) -> float:
        return float(out.extract(spec.regex, float, group=spec.group, where=spec.file))

    read.__name__ = name
    return metric(spec.unit, spec.better)(read)


def _unit_of(method: Any) -> str | None:
    unit = getattr(method, "__assay_metric__", None)
    return getattr(unit, "unit", None)
