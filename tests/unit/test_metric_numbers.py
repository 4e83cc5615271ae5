"""How a metric's value is written in the terminal, history and HTML tables: a byte count
or an iteration count shown in full, so that a change of a few units is visible (46487 and
46490 bytes were both shown as 4.649e+04)."""

from __future__ import annotations

import pytest

from assay.results.numbers import metric_value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (46487.0, "46487"),
        (46490.0, "46490"),
        (100.0, "100"),
        (0.0, "0"),
        (-3.0, "-3"),
        (22410.5, "22410"),  # at least 5 digits, no exponent
        (22411.5, "22412"),
        (1234567.25, "1234567"),
        (9.809, "9.809"),
        (0.007191, "0.007191"),
        (2.4e-05, "2.4e-05"),
        (1e300, "1e+300"),
        (float("inf"), "inf"),
        (float("nan"), "nan"),
        (1.5e7, "15000000"),
        (1234567890.0, "1234567890"),
        (1.23456789e13, "1.235e+13"),
        (0.5, "0.5"),
        (-22410.5, "-22410"),
    ],
)
def test_a_metric_value_is_written_with_every_integer_digit(value, shown):
    assert metric_value(value) == shown


def test_two_byte_counts_a_few_bytes_apart_are_written_differently():
    assert metric_value(46487.0) != metric_value(46490.0)
