"""Work a session starts once its first process has started.

Before that, only what the first case needs is on the way to it: every thread started
earlier (the results database made, git asked, the modules of the session's end imported)
takes the interpreter from that path, on a small machine its second core too. After it,
the case runs and the runner waits on the event loop: that is when such work is free.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Sequence


class Kickoff:
    """Starts what is handed to :meth:`then` when :meth:`fire` is first called (the first
    process started; at the latest a moment into the run, or at its end), in the order
    handed; once fired, starts it at once."""

    def __init__(self) -> None:
        self.fired = False
        self._waiting: list[Callable[[], object]] = []

    def then(self, start: Callable[[], object]) -> None:
        """Call ``start`` (which must not block: it starts work) once fired."""
        if self.fired:
            start()
        else:
            self._waiting.append(start)

    def fire(self) -> None:
        """Start everything waiting (once; later calls do nothing)."""
        if self.fired:
            return
        self.fired = True
        waiting, self._waiting = self._waiting, []
        for start in waiting:
            start()


def import_in_background(modules: Sequence[str]) -> Callable[[], None]:
    """A start (for :meth:`Kickoff.then`) that imports ``modules`` in a thread of its own,
    so that the end of the session finds them loaded. A module that fails to import is
    left to whoever imports it later (who then says why)."""

    def work() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    return threading.Thread(target=work, name="assay-warm-up", daemon=True).start
