"""Threads that start local job processes while the event loop goes on.

``posix_spawn`` returns once its child has exec'd: the child first creates its output
files (50-300 us each on some file systems) and the kernel loads the program. On the event
loop's thread that is the whole runner standing still for every job (about 1-2 ms a job on
a loaded 2-core machine, as much as the rest of a trivial case's Python work). Here the C
call runs in a starter thread (ctypes lets go of the GIL for it) and the loop hears of the
child through :meth:`asyncio.AbstractEventLoop.call_soon_threadsafe`.

A few threads (:data:`THREADS`), never ending: a child's ``PR_SET_PDEATHSIG`` fires when
the *thread* that started it ends. :class:`~assay.transports.spawn.Spawner` is safe to call
from several at once (its kept environment is one pair, read and replaced whole). What
containment must know while a start is under way is the caller's
(:meth:`assay.transports.contain.Containment.starting`).
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

THREADS = 2
"""Starter threads. Two starts at once keep the kernel's part of one (the clone, the child's
file creation, the exec) from queueing the next behind it; more only contend for the same
address space's locks (220 cases, 8 slots, load ~12: the median from submit to the loop
hearing of the child 19 ms with one thread, 12-17 ms with two or four; each start's call
2.2 ms with one, 2.8-3.7 ms with two, 4-5 ms with four)."""


class Starter:
    """Runs start calls in threads of its own (see the module's text)."""

    def __init__(self, threads: int = THREADS) -> None:
        self._requests: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._main, name=f"assay-starter-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def submit(
        self, loop: asyncio.AbstractEventLoop, function: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """``function(*args)`` run in the thread; its result (or what it raised) in the
        future, set in ``loop``. Nobody but the caller may cancel the future: a start under
        way goes on, and its child must be taken in."""
        future: asyncio.Future[T] = StartFuture(loop=loop)
        self._requests.put((loop, future, function, args))
        return future

    def _main(self) -> None:
        get = self._requests.get
        while True:
            run_and_settle(*get())


class StartFuture(asyncio.Future[T]):
    """The outcome of a start under way, which no cancel can take away: a task cancelled
    while it awaits one is told (``CancelledError``) once the start is over, with the
    outcome still here to take in (the child, to kill and reap). What ``asyncio.shield``
    gives, without its second future and the two callbacks that copy one into the other
    (two steps of the event loop per job)."""

    def cancel(self, msg: Any = None) -> bool:
        return False


def run_and_settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[T],
    function: Callable[..., T],
    args: tuple[Any, ...],
) -> None:
    """``function(*args)`` here, in the calling thread; its result (or what it raised) set
    in ``future`` in ``loop``. Raises nothing."""
    try:
        result, error = function(*args), None
    except BaseException as exc:  # handed to the future, raised in the loop
        result, error = None, exc
    try:
        loop.call_soon_threadsafe(settle, future, result, error)
    except RuntimeError:  # the loop closed meanwhile: nobody is left to tell
        pass


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@functools.cache
def starter() -> Starter:
    """This process's starter threads (started on the first job that needs them)."""
    return Starter()
