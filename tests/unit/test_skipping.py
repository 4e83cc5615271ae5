"""The reason of a case its command skipped (``skip_exit_codes``), and the hint a failure
with 77 gets (assay.run.skipping)."""

from __future__ import annotations

import pytest

from assay.run.context import StageFailed
from assay.run.skipping import HINT_77, StageSkipped, check_skip, hint_77, skip_reason


def test_the_reason_is_the_last_non_empty_line_of_stderr() -> None:
    said = skip_reason(77, ["checking...\nrequires python3-yaml\n\n  \n", "stdout line\n"])
    assert said == "the command exited 77 (skip_exit_codes): requires python3-yaml"


def test_stdout_when_stderr_says_nothing_and_no_line_at_all() -> None:
    assert skip_reason(5, ["\n", "collected 0 items\n"]) == (
        "the command exited 5 (skip_exit_codes): collected 0 items"
    )
    assert skip_reason(77, ["", ""]) == "the command exited 77 (skip_exit_codes)"
    assert skip_reason(77, []) == "the command exited 77 (skip_exit_codes)"


def test_a_long_line_is_cut() -> None:
    said = skip_reason(77, ["x" * 5000])
    tail = said.split(": ", 1)[1]
    assert len(tail) == 200 and tail.endswith("...")


def test_check_skip_skips_fails_or_lets_be() -> None:
    check_skip({0}, [77], 0, ["out"])  # not a skip code: nothing
    check_skip({0}, [77], None, [])  # no exit code: nothing
    with pytest.raises(StageSkipped, match="exited 77"):
        check_skip({0}, [77], 77, ["why"])
    # A pair that only -S or a variant could set apart: the case fails, naming both.
    with pytest.raises(StageFailed, match=r"in both exit_codes .* and skip_exit_codes"):
        check_skip(None, [77], 77, ["why"])


def test_the_hint_is_for_77_without_skip_exit_codes_only() -> None:
    assert hint_77(77, []) == HINT_77
    assert hint_77(77, [5]) == ""
    assert hint_77(1, []) == ""
    assert hint_77(None, []) == ""
