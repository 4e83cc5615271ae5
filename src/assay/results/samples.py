"""Repeated samples (``--repeat``): per case and metric, the median and spread of the values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.results.model import CaseResult
from assay.results.numbers import metric_value


def summarize(results: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """One entry per (case, metric) measured more than once in ``results``."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        for metric in result.metrics:
            if metric.value is None:
                continue
            entry = groups.setdefault(
                (result.id, metric.name),
                {
                    "case": result.name,
                    "id": result.id,
                    "metric": metric.name,
                    "unit": metric.unit,
                    "values": [],
                },
            )
            entry["values"].append(metric.value)
    out = []
    for entry in groups.values():
        values = entry.pop("values")
        if len(values) < 2:
            continue
        # (here: statistics, with fractions and random, costs every run's end some 5 M
        # instructions; only --repeat samples a metric more than once)
        import statistics

        median = statistics.median(values)
        stdev = statistics.stdev(values)
        mean = statistics.fmean(values)
        entry.update(
            samples=len(values),
            median=median,
            min=min(values),
            max=max(values),
            stdev=stdev,
            cv=stdev / abs(mean) if mean else None,
            values=values,
        )
        out.append(entry)
    return out


def summary_lines(results: Sequence[CaseResult]) -> list[tuple[str, str]]:
    """The terminal summary's lines about repeated samples, as (text, style)."""
    entries = summarize(results)
    if not entries:
        return []
    lines: list[tuple[str, str]] = [("", ""), ("samples (--repeat):", "bold")]
    case = None
    for e in entries:
        if e["case"] != case:
            case = e["case"]
            lines.append((f"  {case}  [{e['id']}]", ""))
        unit = f" {e['unit']}" if e["unit"] else ""
        cv = f", sd {e['cv'] * 100:.2g}%" if e["cv"] is not None else ""
        lines.append(
            (
                f"    {e['metric']}: median {metric_value(e['median'])}{unit} "
                f"(min {metric_value(e['min'])}, max {metric_value(e['max'])}{cv}, "
                f"{e['samples']} samples)",
                "",
            )
        )
    return lines
