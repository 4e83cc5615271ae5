"""The knobs of regression detection, apart from the analysis (:mod:`assay.results.changes`):
the config holds them, and every command reads the config."""

from __future__ import annotations

import msgspec


class Settings(msgspec.Struct, frozen=True):
    """The knobs of detection (docs/history.md, "Detecting regressions"). (A Struct, not a
    dataclass: every run defines it before its first case; the defaults are
    :data:`DEFAULTS`'s fields, not the class's attributes.)"""

    alpha: float = 0.005  # chance of a false alarm on a series that did not change
    min_size: int = 2  # fewest points on each side of a change point
    recent: int = 5  # a change this many sessions back or fewer concerns the newest values
    min_change: float = 0.0  # relative changes smaller than this are not reported
    max_points: int = 1000  # only the newest points are analysed (cost is quadratic)

    def problems(self) -> list[str]:
        out = []
        if not 0 < self.alpha < 1:
            out.append(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.min_size < 1:
            out.append(f"min_size must be 1 or more, got {self.min_size}")
        if self.recent < 1:
            out.append(f"recent must be 1 or more, got {self.recent}")
        if self.min_change < 0:
            out.append(f"min_change must be 0 or more, got {self.min_change}")
        if self.max_points < 2 * self.min_size:
            out.append(f"max_points must be at least 2 * min_size, got {self.max_points}")
        return out


DEFAULTS = Settings()
"""Every knob at its default."""
