"""The performance table's order among equals: numbers in names count as numbers."""

from __future__ import annotations

from assay.results.model import CaseResult, MetricResult, Status
from assay.results.performance import rows


def _case(quality: int, verdict: str = "no reference") -> CaseResult:
    name = f"Quality[quality={quality}]"
    return CaseResult(
        name=f"{name} @local:default+builtin",
        id=str(quality),
        test="Quality",
        variant=name,
        params={"quality": str(quality)},
        system="local",
        partition="default",
        environment="builtin",
        status=Status.PASSED,
        metrics=[MetricResult("time", 0.5, "s", verdict=verdict)],
    )


def test_rows_without_a_margin_follow_the_parameter_values_in_numeric_order() -> None:
    """'quality=11' came before 'quality=1' (']' sorts after '1')."""
    found = [row.variant for row in rows([_case(q) for q in (11, 5, 0, 1, 9)])]
    assert found == [f"Quality[quality={q}]" for q in (0, 1, 5, 9, 11)]


def test_the_worst_verdict_still_comes_first() -> None:
    found = [row.variant for row in rows([_case(1), _case(11, "fail"), _case(2, "error")])]
    assert found == ["Quality[quality=2]", "Quality[quality=11]", "Quality[quality=1]"]
