"""The report's timestamps: ``iso`` says what ``datetime`` says, to the millisecond."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from assay.results.report import iso


def _datetime_says(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


# Whole seconds of today's clock, the epoch and the last second datetime can show.
_SECONDS = [0, 1, 59, 1_796_150_641, 1_796_169_599, 253_402_300_798]


@pytest.mark.parametrize("second", _SECONDS)
def test_every_rounding_edge_of_a_second_is_told_as_datetime_tells_it(second: int) -> None:
    """The microseconds round half to even and carry into the next second (a different
    minute, day or year then), as ``fromtimestamp`` rounds them; the milliseconds are cut."""
    values = [second + micro / 1e6 for micro in range(0, 1_000_000, 997)]
    values += [second + (micro + 0.5) / 1e6 for micro in (0, 499, 500, 999, 999_998, 999_999)]
    values += [math.nextafter(second + 1.0, 0.0), second + 0.9995, second + 0.0005]
    for value in values:
        assert iso(value) == _datetime_says(value), repr(value)


def test_random_timestamps_are_told_as_datetime_tells_them() -> None:
    rng = random.Random(12)
    values = [rng.uniform(0, 253_402_300_798) for _ in range(20_000)]
    values += [1_796_150_641 + rng.uniform(-1e6, 1e6) for _ in range(20_000)]
    for value in values:
        assert iso(value) == _datetime_says(value), repr(value)


def test_timestamps_outside_the_usual_range_are_told_or_refused_as_before() -> None:
    assert iso(None) is None
    assert iso(-1.25) == _datetime_says(-1.25)
    for odd in (float("nan"), float("inf"), 1e20):
        with pytest.raises((ValueError, OverflowError, OSError)) as ours:
            iso(odd)
        with pytest.raises((ValueError, OverflowError, OSError)) as theirs:
            _datetime_says(odd)
        assert ours.type is theirs.type
