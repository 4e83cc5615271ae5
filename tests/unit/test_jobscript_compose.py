"""compose's quick path (no "#S" in a script: no directive to check) says what the full
check says."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assay.schedulers import jobscript

# Pieces that make directives, near-directives, commands, comments and blanks.
_PIECES = st.sampled_from(
    ["#SBATCH -N 1", "#SLURM x", "#S", "#", " ", "\t", "echo hi", "SBATCH", "#!/bin/bash", ""]
)
_LINES = st.lists(st.lists(_PIECES, max_size=3).map("".join), max_size=8)


@given(_LINES)
def test_a_script_without_directive_words_has_no_directive_to_misplace(lines):
    text = "\n".join(lines) + "\n"
    if "#S" in text:
        return  # the full check runs for these, as before
    assert jobscript._directive_check(lines, text) == []  # (would raise on a problem)
    assert jobscript.compose(lines) == text


def test_a_directive_after_a_command_is_still_refused():
    import pytest

    with pytest.raises(jobscript.ScriptError, match="comes after a command"):
        jobscript.compose(["#!/bin/bash", "echo hi", "#SBATCH -N 1"])
