"""A guard for tests that hand a reader a FIFO: the reader must refuse it, never wait."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def without_waiting(fifo: Path, work: Callable[[], Any]) -> BaseException | None:
    """Run ``work()`` in a thread; what it raised (None if nothing). A reader stuck opening
    ``fifo`` is released afterwards by a writer, so a failing test never hangs the run."""
    caught: list[BaseException | None] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed back to the test
            caught.append(exc)
        else:
            caught.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    stuck = thread.is_alive()
    if stuck:  # open a writer, so the blocked open returns, then let the thread end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert not stuck, f"reading {fifo} waited for a writer: the run would hang there"
    return caught[0]
