"""Durations as users write them, and how assay prints them."""

from __future__ import annotations

import json
import math
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.durations import MAX_SECONDS, Duration, format_duration, parse_duration, slurm_time


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


# --- Duration: decoded once, read as seconds -------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds", "text"),
    [
        (90, 90.0, "1m30s"),
        ("90s", 90.0, "1m30s"),
        ("1h30m", 5400.0, "1h30m"),
        ("01:30:00", 5400.0, "1h30m"),
        ("1-00:00:00", 86400.0, "24h"),
        (0.25, 0.25, "0.25s"),
        ("250ms", 0.25, "0.25s"),
        (90.5, 90.5, "1m30.5s"),
        ("3661s", 3661.0, "1h1m1s"),
        (1e-5, 1e-5, "0.00001s"),
    ],
)
def test_duration_holds_seconds_and_prints_compact_text(
    written: object, seconds: float, text: str
) -> None:
    duration = Duration(written)
    assert isinstance(duration, float)
    assert duration.seconds == seconds
    assert duration == seconds
    assert str(duration) == text
    assert f"{duration}" == text
    assert repr(duration) == f"Duration({text!r})"


@given(st.floats(min_value=1e-9, max_value=MAX_SECONDS, allow_nan=False, allow_infinity=False))
def test_duration_text_reads_back_to_the_same_seconds(seconds: float) -> None:
    assert Duration(str(Duration(seconds))).seconds == seconds


def test_duration_of_a_duration_is_itself() -> None:
    duration = Duration("5m")
    assert Duration(duration) is duration


@pytest.mark.parametrize(("written", "text"), [(90, "00:01:30"), ("1-01:01:01", "1-01:01:01")])
def test_duration_slurm_form(written: object, text: str) -> None:
    assert Duration(written).slurm() == text


def test_duration_is_plain_seconds_to_json_and_pickle() -> None:
    duration = Duration("1m")
    assert json.dumps({"t": duration}) == '{"t": 60.0}'
    again = pickle.loads(pickle.dumps(duration))
    assert type(again) is Duration and again == 60.0


@pytest.mark.parametrize("value", ["ten", 0, -1, True, None, [1]])
def test_duration_rejects_what_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        Duration(value)


@pytest.mark.parametrize("value", [math.inf, "inf", "1e400", "Infinity"])
def test_infinite_durations_are_refused(value: object) -> None:
    # An infinite time limit would crash the Slurm directive (int(inf)) far from the test.
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)
