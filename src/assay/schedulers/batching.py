"""Collecting job submissions that arrive together, so that they can go to the scheduler
as one job (a pack) or one job array instead of many jobs."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass

from assay.schedulers.base import JobOutcome, JobSpec

WINDOW = 0.25  # seconds of quiet before a batch is formed
MAX_WINDOW = 2.0  # never wait longer than this for more


@dataclass
class Waiting:
    """A submission waiting in a batch, and where its outcome goes."""

    spec: JobSpec
    future: asyncio.Future[JobOutcome]


class Collector(abc.ABC):
    """Gathers submissions for a short quiet window, then hands the batch to ``dispatch``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._pending: list[Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, spec: JobSpec) -> JobOutcome:
        waiting = Waiting(spec, asyncio.get_running_loop().create_future())
        self._pending.append(waiting)
        self._arrived.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=self.label)
        return await asyncio.shield(waiting.future)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            self._arrived.clear()
            try:
                async with asyncio.timeout(WINDOW):
                    await self._arrived.wait()
            except TimeoutError:
                break
            if loop.time() - started > MAX_WINDOW:
                break
        batch, self._pending = self._pending, []
        for group in self.dispatch(batch):
            task = asyncio.create_task(self.submit(group))
            self._tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._tasks.discard)
        if self._pending:  # arrivals while dispatching: another round
            self._flusher = asyncio.create_task(self._flush(), name=self.label)

    @abc.abstractmethod
    def dispatch(self, batch: list[Waiting]) -> list[list[Waiting]]:
        """Split a batch into the groups that each become one submission."""

    @abc.abstractmethod
    async def submit(self, group: list[Waiting]) -> None:
        """Submit one group and set each member's future."""


def fail_all(group: list[Waiting], exc: BaseException) -> None:
    """Pass a failed submission on to every member still waiting."""
    for member in group:
        if member.future.done():
            continue
        if isinstance(exc, asyncio.CancelledError):
            member.future.cancel()
        else:
            member.future.set_exception(exc)
