"""Durations as users write them, and how assay prints them."""

from __future__ import annotations

import math

import pytest

from assay.durations import format_duration, parse_duration, slurm_time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2.5s", 2.5),
        ("250ms", 0.25),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("  45s  ", 45.0),
        ("01:30:00", 5400.0),
        ("02:30", 150.0),
        ("1-00:00:00", 86400.0),
        ("2-01:00:05", 2 * 86400 + 3600 + 5.0),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_parse_duration_returns_float_for_int_input() -> None:
    value = parse_duration(90)
    assert isinstance(value, float)
    assert value == 90.0


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty duration"),
        ("   ", "empty duration"),
        ("ten", "'ten' is not a duration"),
        ("5 minutes", "is not a duration"),
        ("5x", "is not a duration"),
        ("m5", "is not a duration"),
        ("1h30", "is not a duration"),
        (-1, "must be positive"),
        (0, "must be positive"),
        ("0s", "must be positive"),
        ("-5", "must be positive"),
        (True, "True is not a duration"),
        (False, "False is not a duration"),
        (None, "None is not a duration"),
        ([90], "is not a duration"),
        (math.nan, "must be positive"),
    ],
)
def test_parse_duration_rejects_nonsense_with_a_message(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="duration") as info:
        parse_duration(value)
    assert fragment in str(info.value)


def test_parse_duration_error_shows_accepted_forms() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("soon")
    message = str(info.value)
    assert "'90s'" in message
    assert "'01:30:00'" in message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (0.0004, "0ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (10, "10s"),
        (59.94, "59.9s"),
        (60, "1m"),
        (90, "1m30s"),
        (300, "5m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (3661, "1h1m1s"),
        (7200.4, "2h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["1m30s", "5m", "1h30m", "250ms", "2.5s", "1h1m1s"])
def test_format_duration_round_trips_through_parse(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "00:00:01"),
        (0.2, "00:00:01"),
        (59.01, "00:01:00"),
        (90, "00:01:30"),
        (5400, "01:30:00"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (90061, "1-01:01:01"),
        (3 * 86400 + 5, "3-00:00:05"),
    ],
)
def test_slurm_time_rounds_up_to_whole_seconds(seconds: float, text: str) -> None:
    assert slurm_time(seconds) == text


@pytest.mark.parametrize("text", ["00:01:30", "01:30:00", "1-00:00:00", "2-03:04:05"])
def test_slurm_time_is_readable_by_parse_duration(text: str) -> None:
    assert slurm_time(parse_duration(text)) == text
