"""The performance stage's measuring: each metric read from the output and checked against
the reference of the partition it ran on."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from assay import guard, overrun
from assay.define.hooks import MetricSpec
from assay.define.output import Output
from assay.define.refs import Ref, finite, short
from assay.define.test import Test
from assay.errors import SanityError, sanity_failure
from assay.results.model import MetricResult
from assay.terminal import storable


def measure(
    test: Test,
    out: Output,
    metrics: Mapping[str, MetricSpec],
    references: Mapping[str, Ref],
    into: list[MetricResult],
    printed: guard.Printed | None = None,
) -> list[str]:
    """Append a result for every metric to ``into`` (each one before it is read, so a metric
    whose code raises still shows); return the misses and errors, one line each."""
    misses = []
    for name, spec in metrics.items():
        ref = references.get(name)
        unit = spec.unit or (ref.unit if ref else None)
        entry = MetricResult(name=name, value=None, unit=unit, better=spec.better)
        into.append(entry)
        try:
            value = guard.call(
                f"metric {name}",
                getattr(test, name),
                out,
                printed=printed,
                limit=overrun.code_limit(test),
            )
        except SanityError as exc:
            message = storable(sanity_failure(exc)[0])
            entry.verdict, entry.message = "error", message
            misses.append(f"{name}: {message}")
            continue
        if not finite(value):  # an int of 400 digits is not: no float holds it
            entry.verdict = "error"
            shown = short(value) if isinstance(value, int) else guard.safe_repr(value)
            entry.message = f"returned {shown}, not a finite number"
            if isinstance(value, str):
                entry.message += "; convert it: out.extract(regex, float)"
            elif value is None:
                entry.message += "; return the value: return out.extract(regex, float)"
            misses.append(f"{name} {entry.message}")
            continue
        entry.value = float(value)
        if ref is None:
            continue
        if ref.unit is None and unit:  # a reference without one speaks in the metric's unit
            ref = dataclasses.replace(ref, unit=unit)
        entry.reference, entry.lower, entry.upper = ref.value, ref.lower, ref.upper
        entry.lower_abs, entry.upper_abs = ref.lower_abs, ref.upper_abs
        entry.low_bound, entry.high_bound = ref.bounds()
        problem = ref.check(entry.value)
        entry.verdict = "fail" if problem else "pass"
        entry.message = problem
        if problem:
            misses.append(f"{name} = {problem}")
    return misses
