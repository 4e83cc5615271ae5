"""Change-point detection: the method, its knobs, and its calibration on synthetic series."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from assay.results.changes import (
    Point,
    Settings,
    analyse,
    better_of,
    split_points,
    student_t_sf2,
)


def _points(values: list[float] | np.ndarray, per_session: int = 1) -> list[Point]:
    return [
        Point(f"s{i // per_session:04d}", float(i // per_session), f"c{i // per_session:04d}", v)
        for i, v in enumerate(map(float, values))
    ]


def _noise(seed: int, n: int, cv: float, level: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * (1 + cv * rng.standard_normal(n))


# Two-sided p-values of Student's t from printed tables (critical values at 5%, 1%, 0.1%).
@pytest.mark.parametrize(
    ("t", "df", "p"),
    [
        (12.706, 1, 0.05),
        (4.303, 2, 0.05),
        (2.228, 10, 0.05),
        (3.169, 10, 0.01),
        (4.587, 10, 0.001),
        (2.086, 20, 0.05),
        (3.850, 20, 0.001),
        (1.984, 100, 0.05),
        (1.960, 1e7, 0.05),
        (0.0, 5, 1.0),
    ],
)
def test_student_t_p_values_match_tables(t: float, df: float, p: float) -> None:
    assert student_t_sf2(t, df) == pytest.approx(p, rel=2e-3)


def test_student_t_tail_is_monotonic_and_bounded() -> None:
    ps = [student_t_sf2(t, 7) for t in np.linspace(0, 40, 200)]
    assert all(0 <= p <= 1 for p in ps)
    assert all(a >= b for a, b in itertools.pairwise(ps))
    assert student_t_sf2(math.inf, 7) == 0.0


def test_a_clear_step_is_found_where_it_is() -> None:
    values = list(_noise(1, 60, 0.01)) + list(_noise(2, 40, 0.01, level=90.0))
    found = split_points(values)
    assert [i for i, _ in found] == [60]
    assert found[0][1] < 1e-10


def test_several_steps_are_all_found() -> None:
    values = [*_noise(1, 50, 0.01), *_noise(2, 50, 0.01, 120), *_noise(3, 50, 0.01, 90)]
    assert [i for i, _ in split_points(values)] == [50, 100]


def test_a_constant_series_has_no_change_and_an_exact_step_is_certain() -> None:
    assert split_points([5.0] * 30) == []
    found = split_points([5.0] * 20 + [6.0] * 10)
    assert found == [(20, 0.0)]


def test_values_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        split_points([1.0, math.nan, 2.0, 3.0])


def test_changes_only_between_sessions() -> None:
    # Three samples per session; the step starts in the middle of session 10's samples,
    # which is impossible for real samples of one build: the split must be at a boundary.
    values = list(_noise(4, 60, 0.005))
    for i in range(31, 60):
        values[i] *= 0.9
    found = split_points(values, boundaries=range(0, 60, 3))
    assert [i for i, _ in found] == [30] or [i for i, _ in found] == [33]
    assert all(i % 3 == 0 for i, _ in found)


def test_regression_message_names_level_session_and_commit() -> None:
    values = [*_noise(5, 40, 0.01, 10.3), *_noise(6, 3, 0.01, 9.1)]
    points = [Point(f"s{i:02d}", float(i), f"abc{i:04d}", v, "GB/s") for i, v in enumerate(values)]
    result = analyse("triad", points, better="higher")
    assert result.latest is not None
    assert result.latest.index == 40
    assert result.kind == "regression" and result.regressed
    assert result.message is not None
    assert result.message.startswith("triad: 9.1")
    assert "GB/s" in result.message
    assert re.search(r"\b1[01]\.\d% below the level of 10\.[23]\d* GB/s", result.message)
    assert "since session s00" in result.message
    assert "change point at commit abc0040" in result.message
    assert "significant" in result.message
    assert result.latest.relative == pytest.approx(9.1 / 10.3 - 1, abs=0.01)


def test_direction_decides_regression_or_improvement() -> None:
    values = [*_noise(7, 40, 0.01, 10.0), *_noise(8, 4, 0.01, 12.0)]
    up = analyse("rate", _points(values), better="higher")
    assert up.kind == "improvement" and not up.regressed
    down = analyse("time", _points(values), better="lower")
    assert down.kind == "regression" and down.regressed
    unknown = analyse("count", _points(values), better=None)
    assert unknown.kind == "change" and unknown.regressed
    assert unknown.message is not None and "direction unknown" in unknown.message


def test_an_old_change_is_history_not_news() -> None:
    values = [*_noise(9, 40, 0.01, 10.0), *_noise(10, 30, 0.01, 8.0)]
    result = analyse("m", _points(values), better="higher")
    assert [c.index for c in result.change_points] == [40]
    assert result.latest is None and result.kind is None and not result.regressed


def test_min_change_ignores_small_significant_changes() -> None:
    values = [*_noise(11, 100, 0.001, 10.0), *_noise(12, 4, 0.001, 9.9)]
    assert analyse("m", _points(values), "higher").regressed
    quiet = analyse("m", _points(values), "higher", Settings(min_change=0.02))
    assert not quiet.regressed and quiet.change_points == []


def test_too_short_a_history_says_nothing() -> None:
    result = analyse("m", _points([1.0, 2.0, 30.0]), "higher")
    assert result.points == 3 and result.latest is None and result.change_points == []


def test_settings_are_checked() -> None:
    assert Settings().problems() == []
    problems = Settings(alpha=2, min_size=0, recent=0, min_change=-1).problems()
    assert len(problems) == 4
    assert Settings(max_points=3).problems() == ["max_points must be at least 2 * min_size, got 3"]


@pytest.mark.parametrize(
    ("unit", "lower", "upper", "declared", "expected"),
    [
        ("GB/s", None, None, None, "higher"),
        ("Gflop/s", None, None, None, "higher"),
        ("s", None, None, None, "lower"),
        ("ms", None, None, None, "lower"),
        (None, -0.1, None, None, "higher"),
        (None, None, 0.1, None, "lower"),
        ("s", -0.05, 0.5, None, "higher"),  # tolerances say more than the unit
        ("GB/s", -0.1, 0.1, None, "higher"),  # symmetric: the unit decides
        ("iterations", -0.1, 0.1, None, None),
        ("GB/s", None, None, "lower", "lower"),  # declared wins
    ],
)
def test_better_direction(
    unit: str | None,
    lower: float | None,
    upper: float | None,
    declared: str | None,
    expected: str | None,
) -> None:
    assert better_of(unit, lower, upper, declared) == expected


# --- calibration -----------------------------------------------------------------------------

SERIES = 300


def test_false_alarm_rate_on_stationary_noise_is_at_most_one_percent() -> None:
    """200 points of 10% noise with no change: the newest values are flagged as a change in
    at most 1% of 300 seeded series, and any change point at all in at most 1%."""
    flagged = anywhere = 0
    for seed in range(SERIES):
        result = analyse("m", _points(_noise(seed, 200, 0.10)), better="higher")
        flagged += result.latest is not None
        anywhere += bool(result.change_points)
    assert flagged / SERIES <= 0.01
    assert anywhere / SERIES <= 0.01


def test_false_alarm_rate_holds_with_repeated_samples() -> None:
    flagged = 0
    for seed in range(100):
        result = analyse("m", _points(_noise(seed, 200, 0.10), per_session=4), better="higher")
        flagged += result.latest is not None
    assert flagged <= 1


def test_a_5_percent_step_under_2_percent_noise_is_found_within_5_points() -> None:
    """Points arrive one at a time after a 5% drop at index 100. In every one of 200 seeded
    series the newest values are flagged as a regression within 5 points; where that first
    flag puts the change point is the step (±2) in at least 95% of them (noise right before
    a step can make it look earlier), and the median delay is at most 3 points."""
    step, delays, misplaced = 100, [], 0
    for seed in range(200):
        values = _noise(10_000 + seed, step + 5, 0.02)
        values[step:] *= 0.95
        for after in range(1, 6):
            result = analyse("m", _points(values[: step + after]), better="higher")
            if result.regressed:
                break
        else:
            pytest.fail(f"seed {seed}: no regression flagged 5 points after the step")
        assert result.latest is not None and result.kind == "regression"
        delays.append(after)
        misplaced += abs(result.latest.index - step) > 2
    assert misplaced / len(delays) <= 0.05
    assert sorted(delays)[len(delays) // 2] <= 3  # the median delay


def test_a_second_change_in_the_window_is_the_latest() -> None:
    values = [*_noise(13, 40, 0.005, 10.0), 9.0, 9.0, 9.02, 7.0, 7.01]
    result = analyse("m", _points(values), better="higher", settings=Settings(recent=5))
    assert [c.index for c in result.change_points] == [40, 43]
    assert result.latest is not None and result.latest.index == 43
    assert result.latest.before == pytest.approx(9.007, abs=0.01)
    assert result.kind == "regression"


def test_assay_and_its_run_command_import_neither_numpy_nor_matplotlib() -> None:
    """Detection and plots load their libraries when used: `assay --version` stays fast."""
    import subprocess
    import sys

    code = (
        "import sys, assay, assay.cli, assay.config, assay.session, assay.results.regressions;"
        "print(sorted(m for m in ('numpy', 'matplotlib', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("reference", "low", "high", "expected"),
    [
        (2.0, None, 2.5, "lower"),  # only upper_abs: a time that must not grow
        (100.0, 90.0, None, "higher"),  # only lower_abs
        (10.0, 9.9, 13.0, "higher"),  # a tighter absolute lower side
        (0.0, -1e-3, 1e-3, None),  # symmetric around zero: the unit (none) decides
    ],
)
def test_better_direction_from_absolute_bounds(
    reference: float, low: float | None, high: float | None, expected: str | None
) -> None:
    """A reference with absolute bounds (``upper_abs=0.5``) tells the direction as relative
    ones do: the bounds actually accepted count, relative and absolute alike."""
    assert better_of(None, bounds=(reference, low, high)) == expected


STEADY = [10.1, 9.7, 10.4, 9.9, 10.2]


def test_one_sample_outside_every_earlier_value_is_not_judged_yet() -> None:
    """min_size = 2: one sample cannot start a level; the analysis says so instead of
    calling it no change, and the next session's sample lets the test judge it."""
    points = [Point(f"s{i}", float(i), None, v, "GB/s") for i, v in enumerate([*STEADY, 1.0])]
    result = analyse("rate", points, better="higher")
    assert result.latest is None and not result.regressed
    pending = result.pending
    assert pending is not None
    assert (pending.samples, pending.needed, pending.side) == (1, 2, "below")
    assert (pending.earlier, pending.low, pending.high) == (5, 9.7, 10.4)
    assert pending.kind == "regression" and pending.since == "s0"
    assert pending.message == (
        "rate: 1 GB/s, below every one of the 5 earlier values (9.7 ... 10.4) since session "
        "s0; one sample cannot show a new level: the next run will judge it, or rerun with "
        "--repeat 2"
    )
    assert pending.verdict == "not judged yet: 1 sample (2 needed; run with --repeat 2)"
    later = analyse("rate", [*points, Point("s6", 6.0, None, 1.0, "GB/s")], better="higher")
    assert later.pending is None and later.kind == "regression"
    assert later.latest is not None and later.latest.session == "s5"


def test_a_sample_inside_the_earlier_values_or_enough_samples_are_judged() -> None:
    inside = analyse("rate", _points([*STEADY, 9.8]), better="higher")
    assert inside.pending is None and inside.latest is None
    above = analyse("time", _points([*STEADY, 30.0]), better="lower")
    assert above.pending is not None and above.pending.side == "above"
    assert above.pending.kind == "regression"
    assert "above every one of the 5 earlier values" in (above.pending.message or "")
    unknown = analyse("n", _points([*STEADY, 30.0]), better=None)
    assert unknown.pending is not None and unknown.pending.kind == "change"
    # Two samples in the newest session: judged at once (here: a regression).
    both = analyse(
        "rate",
        [*_points(STEADY), Point("new", 9.0, None, 1.0), Point("new", 9.0, None, 1.1)],
        "higher",
    )
    assert both.pending is None and both.kind == "regression"
    # min_size = 1: one sample is judged; min_change leaves small moves out.
    assert analyse("rate", _points([*STEADY, 1.0]), "higher", Settings(min_size=1)).pending is None
    small = analyse("rate", _points([*STEADY, 9.6]), "higher", Settings(min_change=0.1))
    assert small.pending is None


def test_two_samples_of_three_needed_say_so() -> None:
    values = [*STEADY * 2, 1.0, 1.1]
    points = [*_points(values[:10]), Point("new", 10.0, None, 1.0), Point("new", 10.0, None, 1.1)]
    result = analyse("rate", points, "higher", Settings(min_size=3))
    assert result.pending is not None and result.pending.samples == 2
    assert result.pending.verdict == "not judged yet: 2 samples (3 needed; run with --repeat 3)"
    assert "2 samples cannot show a new level (3 needed): the next run" in (
        result.pending.message or ""
    )
