"""What the session needs of the user interface: the CLI builds the display and hands it
in; the session talks to it only through these protocols."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from assay.results.model import Session
from assay.run.remote_inputs import Links, Uploads
from assay.run.runner import Events

HintT = TypeVar("HintT", contravariant=True)


class JobStates(Protocol):
    """Where a scheduler's jobs' states are shown (queued, running, why pending)."""

    def job_state(
        self, partition: str, job: str, state: str, reason: str | None, cases: Sequence[str] = ()
    ) -> None:
        """``job`` is in ``state``; ``cases``: the job names of the cases it runs (a pack's
        members, or the job itself)."""


class Display(Events, JobStates, Uploads, Links, Protocol[HintT]):
    """What shows a session to the user (the CLI's live or plain display): the runner's
    events, the jobs' states, uploads to remote hosts and their connections' drops, a
    header at the start and the summary at the end, which gets the ``hint`` the CLI handed
    to :func:`assay.session.run` (how to rerun a failed case)."""

    def start(
        self, total: int, header: str, time_left: Callable[[], float | None] | None = None
    ) -> None:
        """The run begins; ``time_left`` answers the seconds still to go from recorded
        durations (None: nothing known, the display estimates itself)."""
        ...

    def finish(self, session: Session, hint: HintT, report: Path | None) -> None: ...
