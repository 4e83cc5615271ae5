"""Which ready case starts next: slots per partition and the run's global caps, handed out
highest priority first, to cases that have no task yet.

The runner gives every case its task only once the case has its slots (see
:class:`Dispatch`): a case that waits for a slot is an entry in a heap, not a task parked
on a future (for 200 cases, 200 tasks made before the first job started, each run to its
wait and woken again later). A retry's task, which exists already, waits on a future of
its entry instead.

Slots are handed out on the next turn of the event loop, so that every case that becomes
ready at the same moment competes, not only the first one; a slot given back by a case that
ended for good goes to the best waiting case at once (see :meth:`Dispatch.release`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")

# (-priority, order, case, the retry's future or None for a case without a task yet)
_Entry = tuple[float, int, C, "asyncio.Future[None] | None"]


class Dispatch(Generic[C]):
    """Queues of waiting cases, one per pool of slots (a partition's, or one for all under
    ``--serial``), and the caps every case shares besides (``--max-cases``, the serial
    slot). A case starts when its queue's pool and every shared cap have a free slot, the
    highest priority first across the queues (ties: first come); ``begin`` is called for
    it with the slots taken (the caller gives them back with :meth:`release`)."""

    def __init__(
        self, pools: dict[str, int], shared: list[int], begin: Callable[[C], None]
    ) -> None:
        self._free = dict(pools)
        self._queues: dict[str, list[_Entry[C]]] = {name: [] for name in pools}
        self._shared = list(shared)  # free slots of each cap every case takes
        self._begin = begin
        self._order = itertools.count()
        self._handing_out = False
        self.closed = False  # (the run is being stopped: nothing starts any more)

    def ready(self, pool: str, case: C, priority: float) -> None:
        """``case`` (in the queue of ``pool``) may start once it has its slots."""
        heapq.heappush(self._queues[pool], (-priority, next(self._order), case, None))
        self._hand_out_soon()

    async def again(self, pool: str, case: C, priority: float) -> None:
        """Wait for the slots of another attempt at ``case`` (its task waits: a retry);
        none is kept if the wait is cancelled."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queues[pool], (-priority, next(self._order), case, future))
        self._hand_out_soon()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # given its slots, then cancelled
                self.release(pool)
            raise

    def release(self, pool: str, at_once: bool = False) -> None:
        """Give back the slots of a case of ``pool``. ``at_once``: the case ended for good
        (it will not ask again now): they go to the best waiting case now, not a turn of
        the loop later; a hand-out already due next turn is left to serve every case
        queued by then."""
        self._free[pool] += 1
        shared = self._shared
        for i in range(len(shared)):
            shared[i] += 1
        if at_once and not self._handing_out:
            self._hand_out()
        else:
            self._hand_out_soon()

    def close(self) -> None:
        """Start nothing more (the run is cancelled)."""
        self.closed = True

    def waiting(self) -> int:
        """The cases (and retries) waiting for slots."""
        return sum(1 for q in self._queues.values() for e in q if e[3] is None or not e[3].done())

    def _hand_out_soon(self) -> None:
        if not self._handing_out:
            self._handing_out = True
            asyncio.get_running_loop().call_soon(self._hand_out)

    def _hand_out(self) -> None:
        self._handing_out = False
        free = self._free
        shared = self._shared
        queues = self._queues
        while not self.closed and min(shared, default=1) > 0:
            best: list[_Entry[C]] | None = None
            pool = ""
            for name, queue in queues.items():
                while queue and queue[0][3] is not None and queue[0][3].done():
                    heapq.heappop(queue)  # a retry whose task was cancelled while it waited
                if queue and free[name] > 0 and (best is None or queue[0] < best[0]):
                    best, pool = queue, name
            if best is None:
                return
            _, _, case, future = heapq.heappop(best)
            free[pool] -= 1
            for i in range(len(shared)):
                shared[i] -= 1
            if future is None:
                self._begin(case)
            else:
                future.set_result(None)
