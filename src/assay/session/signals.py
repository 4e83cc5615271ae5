"""What a signal does to a running session."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

from assay.results.model import CaseResult, Session
from assay.transports.base import Transport

# What interrupts a run (SIGHUP: the terminal was closed); each ends it with 128 + its number.
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


def on_signals(
    session: Session, task: asyncio.Task[list[CaseResult]], transports: Sequence[Transport]
) -> Callable[[int], None]:
    """What a signal does: the first cancels the run (each case ends within its grace
    period), a second kills every process still running."""
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if session.interrupted is None:
            session.interrupted = sig.name
            task.cancel()
        else:  # a second signal: no more grace for anything still running
            for transport in transports:
                transport.kill_all()

    def forward(signum: int) -> None:
        loop.call_soon_threadsafe(on_signal, signal.Signals(signum))

    return forward
