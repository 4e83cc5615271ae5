"""The results database of a first session, made while its cases run.

A session whose database does not exist yet, under a prefix with no session before it,
has no history to plan with: its cases need not wait while the database is made (a
schema, and the syncs that make it durable). :class:`LateRecorder` stands in for the
session's :class:`~assay.results.recorder.Recorder` meanwhile: cases that finish first
wait, in order, and go to the recorder once it is open, after the session's own record.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.results.model import CaseResult
    from assay.results.recorder import Recorder


class LateRecorder:
    """The session's recorder while ``open_recorder`` runs in a thread of its own;
    ``start`` records the session once it is open (on the event loop's thread). The thread
    starts at once, or with ``deferred`` at :meth:`open` (at the latest :meth:`settled`)."""

    def __init__(
        self,
        open_recorder: Callable[[], Recorder],
        start: Callable[[Recorder], None],
        deferred: bool = False,
    ) -> None:
        self._start = start
        self._recorder: Recorder | None = None
        self._pending: list[CaseResult] = []
        self._failed: Exception | None = None  # what recording the session raised
        opened: Future[Recorder] = Future()

        def work() -> None:
            try:
                opened.set_result(open_recorder())
            except BaseException as exc:  # a bug: raised again by settled()
                opened.set_exception(exc)

        self._work: Callable[[], None] | None = work
        self._opening = asyncio.wrap_future(opened)
        self._opening.add_done_callback(lambda _: self._opened_in_callback())
        if not deferred:
            self.open()

    def open(self) -> None:
        """Start opening the database (once)."""
        work, self._work = self._work, None
        if work is not None:
            threading.Thread(target=work, name="assay-results-open", daemon=True).start()

    def _opened_in_callback(self) -> None:
        """:meth:`_opened`, its error kept for :meth:`settled` to raise (out of descriptors,
        say): raised in a callback, the event loop would log it with a traceback."""
        try:
            self._opened()
        except Exception as exc:
            self._failed = exc

    def _opened(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._recorder is not None or self._opening.cancelled():
            return
        if self._opening.exception() is not None:
            return
        recorder = self._opening.result()
        self._start(recorder)
        self._recorder = recorder
        pending, self._pending = self._pending, []
        for result in pending:
            recorder.case_finished(result)

    def case_finished(self, result: CaseResult) -> None:
        """A case finished: recorded now, or once the database is open."""
        if self._recorder is None:
            self._pending.append(result)
        else:
            self._recorder.case_finished(result)

    def last_running(self) -> None:
        """See :meth:`Recorder.last_running` (a recorder not open yet: nothing waits in it)."""
        if self._recorder is not None:
            self._recorder.last_running()

    def drain(self) -> None:
        """See :meth:`Recorder.drain` (a recorder not open yet gets its cases when it is)."""
        if self._recorder is not None:
            self._recorder.drain()

    async def settled(self) -> Recorder:
        """The recorder, once open, with every case that finished handed to it."""
        self.open()
        await asyncio.shield(self._opening)
        self._opened()  # (its callback may not have run yet)
        assert self._recorder is not None
        return self._recorder
