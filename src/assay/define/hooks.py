"""Decorators that mark methods of a test: metrics and stage hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec

from assay.errors import did_you_mean

F = TypeVar("F", bound=Callable[..., Any])

STAGES = ("setup", "build", "run", "sanity", "performance", "cleanup")
"""The pipeline every case goes through, in order."""

When = Literal["before", "after"]


class MetricSpec(msgspec.Struct, frozen=True):
    """What ``@assay.metric`` records about a method."""

    unit: str | None
    better: Literal["higher", "lower"] | None = None


def metric(
    unit: str | None = None, better: Literal["higher", "lower"] | None = None
) -> Callable[[F], F]:
    """Mark a method ``f(self, out) -> number`` as a figure of merit with a unit.

    The method's name is the metric's name; references are keyed by it. ``better`` says
    which way is an improvement, for regression detection (docs/history.md); without it,
    the reference's tolerances or the unit tell.
    """
    if callable(unit):
        raise TypeError("write @assay.metric() or @assay.metric('unit'), with parentheses")
    if better not in (None, "higher", "lower"):
        raise ValueError(f"@assay.metric(better={better!r}): write better='higher' or 'lower'")

    def mark(func: F) -> F:
        func.__assay_metric__ = MetricSpec(unit, better)  # type: ignore[attr-defined]
        return func

    return mark


# ReFrame's stages that assay names otherwise or lacks (@run_before('compile')).
_REFRAME_STAGES = {
    "compile": " (ReFrame's compile is assay's build)",
    "init": " (ReFrame's init has no hook: set fields in the class, __init__ or "
    "@assay.variant_fields)",
}


def _hook(when: When, stage: str) -> Callable[[F], F]:
    if stage not in STAGES:
        raise ValueError(
            f"@assay.{when}({stage!r}): unknown stage{did_you_mean(stage, STAGES)}; "
            f"stages are {', '.join(STAGES)}{_REFRAME_STAGES.get(stage, '')}"
        )

    def mark(func: F) -> F:
        hooks = list(getattr(func, "__assay_hooks__", ()))
        hooks.append((when, stage))
        func.__assay_hooks__ = tuple(hooks)  # type: ignore[attr-defined]
        return func

    return mark


def before(stage: str) -> Callable[[F], F]:
    """Run the decorated method ``f(self)`` just before ``stage``."""
    return _hook("before", stage)


def after(stage: str) -> Callable[[F], F]:
    """Run the decorated method ``f(self)`` just after ``stage`` succeeded."""
    return _hook("after", stage)
