"""How the local transport notices that its job processes exited: the pidfds of one event
loop's jobs in an epoll set of their own, which the loop watches as one reader."""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable

HAVE_EPOLL = hasattr(select, "epoll")


class ExitWatch:
    """The pidfds of one event loop's job processes in an epoll set of their own, which the
    loop watches as one reader for as long as the loop lives.

    A reader per job costs the loop about twenty Python calls to add and remove (its
    handle, the selector's bookkeeping); a pidfd in this set costs one C call each way.
    Readable pidfds are handed to their callbacks when the set is; the set is
    level-triggered, so nothing is missed if some are left for a later pass.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._exited: dict[int, Callable[[], None]] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def add(self, pidfd: int, exited: Callable[[], None]) -> None:
        """Call ``exited`` once ``pidfd`` becomes readable (its process exited); the pidfd
        is no longer watched by then, and is the callback's to close."""
        self._epoll.register(pidfd, select.EPOLLIN)
        self._exited[pidfd] = exited

    def _ready(self) -> None:
        for pidfd, _events in self._epoll.poll(0):
            exited = self._exited.pop(pidfd, None)
            self._epoll.unregister(pidfd)
            if exited is not None:
                exited()

    @property
    def busy(self) -> bool:
        """Whether processes are still watched for."""
        return bool(self._exited)

    def close(self) -> None:
        """Stop watching (only once :attr:`busy` is false: no process is left unnoticed)."""
        if not self.loop.is_closed():
            self.loop.remove_reader(self._epoll.fileno())
        self._epoll.close()


def watch_in(loop: asyncio.AbstractEventLoop, current: ExitWatch | None) -> ExitWatch | None:
    """The exit watch for ``loop``: ``current`` if it is that loop's, else a new one (an idle
    ``current`` of another loop is closed); None where there is no epoll (not Linux): then
    each process needs a reader of its own."""
    if current is not None and current.loop is loop:
        return current
    if not HAVE_EPOLL:
        return None
    if current is not None and not current.busy:
        current.close()
    return ExitWatch(loop)
