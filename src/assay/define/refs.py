"""Performance references: a value with relative tolerances, chosen by ``system:partition``."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A reference value for one metric.

    ``lower`` and ``upper`` are relative tolerances: ``lower=-0.2`` accepts values
    down to 20% below ``value``; ``upper=0.1`` accepts up to 10% above. ``lower_abs`` and
    ``upper_abs`` are absolute ones, in the metric's unit: ``upper_abs=0.5`` accepts up to
    0.5 above ``value``. Given both on a side, a value within either is accepted (the wider
    bound, as ``rtol`` and ``atol`` in comparisons). ``None`` leaves that side unbounded.
    """

    value: float
    lower: float | None = None
    upper: float | None = None
    unit: str | None = None
    lower_abs: float | None = None
    upper_abs: float | None = None

    def problems(self) -> list[str]:
        out = []
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            out.append(_not_a_number("reference value", self.value))
            return out
        if not finite(self.value):
            out.append(f"reference value must be finite, got {short(self.value)}")
            return out
        # NaN compares false with everything: a NaN tolerance would leave its side unbounded
        for name, tolerance in (("lower", self.lower), ("upper", self.upper)):
            written: object = tolerance  # typed a float, but test code may pass anything
            if isinstance(written, str):
                out.append(_not_a_number(f"{name} tolerance", written))
            elif tolerance is not None and not finite(tolerance):
                out.append(f"{name} tolerance {short(tolerance)} must be a finite number")
        if out:
            return out
        if self.lower is not None and not (-1.0 <= self.lower <= 0.0) and self.value >= 0:
            out.append(
                f"lower tolerance {self.lower!r} must be between -1 and 0 (e.g. -0.2 for 20% below)"
            )
        if self.upper is not None and self.upper < 0:
            out.append(f"upper tolerance {self.upper!r} must be 0 or more (e.g. 0.1 for 10% above)")
        for name, bound, sign in (
            ("lower_abs", self.lower_abs, -1),
            ("upper_abs", self.upper_abs, 1),
        ):
            if bound is None:
                continue
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                out.append(_not_a_number(name, bound))
            elif not finite(bound):
                out.append(f"{name} must be a finite number, got {short(bound)} (None: unbounded)")
            elif bound * sign < 0:
                example = "-0.5 for 0.5 below" if sign < 0 else "0.5 for 0.5 above"
                want = "0 or less" if sign < 0 else "0 or more"
                out.append(
                    f"{name} {bound!r} must be {want} (e.g. {example}, in the metric's unit)"
                )
        if not out:
            for side, bound in zip(("lowest", "highest"), self.bounds(), strict=True):
                if bound is not None and not math.isfinite(bound):
                    out.append(f"the {side} accepted value is not a finite number: {bound!r}")
        return out

    def bounds(self) -> tuple[float | None, float | None]:
        """The lowest and highest accepted values (``None`` = unbounded)."""
        scale = abs(self.value)
        lows = [
            b
            for b in (
                None if self.lower is None else self.value + self.lower * scale,
                None if self.lower_abs is None else self.value + self.lower_abs,
            )
            if b is not None
        ]
        highs = [
            b
            for b in (
                None if self.upper is None else self.value + self.upper * scale,
                None if self.upper_abs is None else self.value + self.upper_abs,
            )
            if b is not None
        ]
        return (min(lows) if lows else None), (max(highs) if highs else None)

    def check(self, measured: float) -> str | None:
        """Return ``None`` if ``measured`` is within bounds, else why not (one line)."""
        low, high = self.bounds()
        unit = f" {self.unit}" if self.unit else ""
        if low is not None and measured < low:
            within = _tolerance(self.lower, self.lower_abs, unit)
            return (
                f"{_num(measured)}{unit} is below the reference {_num(self.value)}{unit} "
                f"{within} (lowest accepted {_num(low)}{unit})"
            )
        if high is not None and measured > high:
            within = _tolerance(self.upper, self.upper_abs, unit)
            return (
                f"{_num(measured)}{unit} is above the reference {_num(self.value)}{unit} "
                f"{within} (highest accepted {_num(high)}{unit})"
            )
        return None


def _num(x: float) -> str:
    return f"{x:.6g}"


def _tolerance(relative: float | None, absolute: float | None, unit: str) -> str:
    parts = [] if relative is None else [f"{relative * 100:+.4g}%"]
    if absolute is not None:
        parts.append(f"{absolute:+.6g}{unit}")
    return " or ".join(parts)


def finite(number: object) -> bool:
    """A number a float can hold, neither NaN nor infinite (an int of 400 digits is not)."""
    if isinstance(number, bool) or not isinstance(number, int | float):
        return False
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def short(number: object) -> str:
    """A number for a message: a huge int cut to its first digits and its length."""
    text = repr(number)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


def ref(
    value: float,
    lower: float | None = None,
    upper: float | None = None,
    unit: str | None = None,
    *,
    lower_abs: float | None = None,
    upper_abs: float | None = None,
) -> Ref:
    """A performance reference: ``assay.ref(20_000, lower=-0.2, unit="MB/s")``; absolute
    bounds: ``assay.ref(2.0, upper_abs=0.5, unit="s")`` (up to 2.5 s)."""
    return Ref(value, lower, upper, unit, lower_abs, upper_abs)


def _specificity(pattern: str) -> tuple[int, int]:
    literal = sum(1 for ch in pattern if ch not in "*?[]")
    return (0 if any(ch in pattern for ch in "*?[") else 1, literal)


def pattern_matches(pattern: str, system: str, partition: str) -> bool:
    """Whether a ``system:partition`` pattern (or a bare ``system`` pattern) matches."""
    if ":" not in pattern:
        return fnmatch.fnmatchcase(system, pattern)
    return fnmatch.fnmatchcase(f"{system}:{partition}", pattern)


def choose(
    references: Mapping[str, Mapping[str, Any]], system: str, partition: str
) -> dict[str, Ref]:
    """The reference for each metric on ``system:partition``.

    Keys are ``system:partition`` patterns; the most specific matching key that
    names a metric wins (exact names beat wildcards, longer beats shorter).
    """
    matching = [k for k in references if pattern_matches(k, system, partition)]
    matching.sort(key=_specificity)
    chosen: dict[str, Ref] = {}
    for key in matching:  # least specific first, so more specific keys overwrite
        for metric, value in references[key].items():
            chosen[metric] = value if isinstance(value, Ref) else as_ref(value)
    return chosen


def as_ref(value: Any) -> Ref:
    """Accept a :class:`Ref`, a number, or a tuple ``(value, lower, upper[, unit])``."""
    if isinstance(value, Ref):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Ref(float(value))
    if isinstance(value, tuple | list) and 1 <= len(value) <= 4:
        return Ref(*value)
    raise TypeError(
        f"reference {value!r} is not a reference; write assay.ref(value, lower=..., upper=..., "
        f"unit=...)"
    )


def _not_a_number(name: str, value: object) -> str:
    if isinstance(value, str):  # "0.1" in a test or a TOML file: the quotes are the mistake
        return f"{name} must be a number, got the string {value!r}; write it without quotes"
    return f"{name} must be a number, got {value!r}"
