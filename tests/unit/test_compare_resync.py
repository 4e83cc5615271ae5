"""A line missing from the output, or extra in it: said as diff would, and the lines after
it compared with their own (within a look-ahead of resync.WINDOW lines)."""

from __future__ import annotations

import pytest

from assay.compare import resync
from tests.unit.compare_cases import text

LINES = [f"step {i} energy {i}.5 converged\n" for i in range(1, 201)]
EXPECTED = "".join(LINES)


def test_a_missing_line_is_one_difference_and_the_rest_still_pairs(case):
    actual = "".join(LINES[:11] + LINES[12:])
    result = text(EXPECTED, actual, case)
    (diff,) = result["differences"]
    assert diff["message"] == (
        "expected line 12 is missing from the output: 'step 12 energy 12.5 converged'"
    )
    assert (diff["line"], diff["output_line"], diff["expected"]) == (
        12,
        12,
        "step 12 energy 12.5 converged",
    )
    assert (result["differing_lines"], result["differing_values"]) == (1, 0)


def test_an_extra_line_is_one_difference(case):
    actual = "".join([*LINES[:39], "WARNING: deprecated\n", *LINES[39:]])
    result = text(EXPECTED, actual, case)
    (diff,) = result["differences"]
    assert diff["message"] == "output line 40 is extra: 'WARNING: deprecated'"
    assert (diff["line"], diff["output_line"], diff["actual"]) == (40, 40, "WARNING: deprecated")
    assert result["differing_lines"] == 1


def test_a_block_of_extra_lines_is_one_difference_counting_its_lines(case):
    block = [f"  File x.py, line {i}\n" for i in range(5)]
    actual = "".join(LINES[:3] + block + LINES[3:])
    result = text(EXPECTED, actual, case)
    (diff,) = result["differences"]
    assert (
        diff["message"] == "output lines 4 to 8 are extra: '  File x.py, line 0' (the first of 5)"
    )
    assert result["differing_lines"] == 5


def test_lines_after_an_inserted_one_are_named_by_both_their_numbers(case):
    changed = LINES[50].replace("51.5", "51.7")
    actual = "".join([*LINES[:10], "extra\n", *LINES[10:50], changed, *LINES[51:]])
    result = text(EXPECTED, actual, case, rtol=1e-3)
    first, second = result["differences"]
    assert first["message"] == "output line 11 is extra: 'extra'"
    assert second["message"].startswith("line 51 (output line 52), token 4: expected 51.5")
    assert (second["line"], second["output_line"]) == (51, 52)
    assert result["where_max"] == "line 51 (output line 52), token 4"
    assert (result["differing_lines"], result["differing_values"]) == (2, 1)


def test_an_insertion_and_a_deletion_leave_the_lines_between_alone(case):
    actual = "".join([*LINES[:5], "inserted\n", *LINES[5:20], *LINES[21:]])
    result = text(EXPECTED, actual, case)
    messages = [d["message"] for d in result["differences"]]
    assert messages == [
        "output line 6 is extra: 'inserted'",
        "expected line 21 is missing from the output: 'step 21 energy 21.5 converged'",
    ]
    assert result["differing_lines"] == 2


def test_numbers_that_moved_are_changed_lines_not_missing_ones(case):
    # Every line differs (alike: the numbers moved) and one repeats: no looking ahead.
    expected = "0.0 0.0\n1.0 2.0\n0.0 0.0\n"
    actual = "0.1 0.0\n1.0 2.0\n0.0 0.0\n"
    result = text(expected, actual, case)
    (diff,) = result["differences"]
    assert diff["message"].startswith("line 1, token 1: expected 0.0, got 0.1")


def test_a_changed_line_stays_one_changed_line(case):
    actual = "".join([*LINES[:5], "something else entirely\n", *LINES[6:]])
    result = text(EXPECTED, actual, case)
    (diff,) = result["differences"]
    assert diff["message"].startswith("line 6, token 1: expected 5 tokens, got 3")
    assert result["differing_lines"] == 1


def test_mode_text_resyncs_too(case):
    actual = "".join([*LINES[:2], "x\n", *LINES[2:]])
    result = text(EXPECTED, actual, case, mode="text")
    (diff,) = result["differences"]
    assert diff["message"] == "output line 3 is extra: 'x'"


def test_a_line_beyond_the_window_is_not_found(case):
    block = [f"noise {i}\n" for i in range(resync.WINDOW)]
    actual = "".join(LINES[:3] + block + LINES[3:])
    result = text(EXPECTED, actual, case)
    assert result["differing_lines"] > resync.WINDOW  # (paired line by line, as before)


@pytest.mark.parametrize("count", [1, 2, 7])
def test_files_that_differ_everywhere_are_still_paired_line_by_line(case, count):
    expected = "".join(f"alpha {i}\n" for i in range(300))
    actual = "".join(f"beta {i} {'x' * count}\n" for i in range(300))
    result = text(expected, actual, case, max_differences=1000)
    assert result["differing_lines"] == 300
    assert all(d["message"].startswith(f"line {d['line']}, token") for d in result["differences"])
