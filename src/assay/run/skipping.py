"""A case whose command says "skipped" by its exit code (``skip_exit_codes``: automake's
77, pytest's 5): the reason its result carries, and the hint a failure with 77 gets.
(Imported only by a case that exits with such a code, or fails with 77: most runs never
load it.)"""

from __future__ import annotations

from collections.abc import Sequence

from assay.define.field_checks import describe_overlap, skip_overlap
from assay.run.context import StageFailed, StageSkipped
from assay.run.stage_check import AUTOMAKE_SKIP

MAX_SAID = 200
"""How much of the command's own last line goes into the skip reason."""


HINT_77 = (
    ' (77 means "skipped" in automake-style suites: set skip_exit_codes = [77] if that '
    "is what it means here)"
)


def check_skip(
    accepted: object, skip: Sequence[int], status: int | None, texts: Sequence[str]
) -> None:
    """Raise :class:`StageSkipped` when ``status`` is one of ``skip`` (``texts``: the ends
    of the run's stderr, then stdout); :class:`StageFailed` when ``exit_codes`` accepts it
    too (a pair set apart, by ``-S`` or per variant, that no load could check)."""
    if status is None or status not in skip:
        return
    if skip_overlap(accepted, [status]):
        raise StageFailed(describe_overlap(accepted, [status], ("exit_codes", "skip_exit_codes")))
    raise StageSkipped(skip_reason(status, texts))


def skip_reason(status: int, texts: Sequence[str]) -> str:
    """``the command exited 77 (skip_exit_codes): <its last line>``: the last non-empty
    line of the first of ``texts`` that has one, cut to :data:`MAX_SAID` characters."""
    reason = f"the command exited {status} (skip_exit_codes)"
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            said = lines[-1]
            if len(said) > MAX_SAID:
                said = said[: MAX_SAID - 3] + "..."
            return f"{reason}: {said}"
    return reason


def hint_77(status: int | None, skip: Sequence[int]) -> str:
    """What a failure's reason adds when the command exited 77 and nothing skips."""
    return HINT_77 if status == AUTOMAKE_SKIP and not skip else ""
