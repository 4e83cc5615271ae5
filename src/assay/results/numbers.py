"""How a metric's value is written in tables (terminal, history, HTML)."""

from __future__ import annotations

import math

_FULL_BELOW = 1e12
"""Values below this many units are written with every integer digit."""


def metric_value(value: float) -> str:
    """``value`` with four significant digits, but never fewer than its integer digits up to
    twelve of them: a byte or iteration count changed by a few units must look changed
    (``46487``, not ``4.649e+04``)."""
    if math.isfinite(value) and 1e4 <= abs(value) < _FULL_BELOW:
        return f"{value:.0f}"  # half to even, as format() rounds everywhere
    if math.isfinite(value) and value == int(value) and abs(value) < _FULL_BELOW:
        return str(int(value))
    return f"{value:.4g}"
