"""How many descriptors this machine's running jobs may hold in the runner at once.

A running local job holds one descriptor in the runner: its pidfd, until it exits (its
output files are opened by ``posix_spawn`` in the child, or opened and closed around
``Popen``: none stays open here). Under a low ``ulimit -n`` with many jobs at once, the
runner would run out of them and fail whatever opens a file next (a job's script, an
output being read, the results database, a module imported in a thread). Instead a job
waits for a running one to end where the budget is spent; a reserve stays for the
runner's own short-lived files. A job that still meets EMFILE as it starts (something
else took the room) waits the same way, and starts once a running one ended.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

RESERVE = 16
"""Descriptors kept for the runner's own files: a script being written, an output being
read, the results database and its journal files, an import in a thread, the transient
descriptors of a start (``Popen``'s error pipe, the child's output files)."""

OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)

T = TypeVar("T")


def fd_limit() -> int:
    """The soft ``ulimit -n`` of this process: what sysconf says glibc's getrlimit says
    (no import of :mod:`resource`, a shared library to load, on the way to the first job)."""
    try:
        limit = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 1 << 20
    return limit if limit > 0 else 1 << 20  # (-1: no limit)


def _open_now() -> int:
    """How many descriptors this process has open (a guess where /proc is not there)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # (less the listing's own)
    except OSError:
        return 16


class FdBudget:
    """The descriptors running jobs hold, against what the limit leaves them; jobs wait
    their turn where it is spent."""

    def __init__(self) -> None:
        # Found at the first job: the limit less what is open then, less the reserve.
        self._room: int | None = None
        self.held = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def room(self) -> int:
        if self._room is None:
            self._room = fd_limit() - _open_now() - RESERVE
        return self._room

    @property
    def free(self) -> int:
        return self.room - self.held

    async def wait(self) -> None:
        """Until a job has given its descriptors back."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:  # (cancelled: nothing left behind)
                self._waiters.remove(waiter)

    def take(self, count: int) -> None:
        self.held += count

    def give_back(self, count: int) -> None:
        self.held -= count
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:  # (each looks again; those still short wait again)
            if not waiter.done():
                waiter.set_result(None)

    async def start(self, live: Collection[object], start: Callable[[], T]) -> T:
        """``start()`` once a descriptor is free or no job is running (``live`` empty: none
        would give one back, so the job starts and may fail). An EMFILE or ENFILE from it
        while jobs run waits for one to end and tries again: nothing was started (the
        output files are opened before the program is, and a failed ``posix_spawn`` has
        reaped its child)."""
        while True:
            if self.free < 1 and live:
                await self.wait()
                continue
            try:
                return start()
            except OSError as exc:
                if exc.errno not in OUT_OF_FDS or not live:
                    raise
                await self.wait()

    async def start_async(self, live: Collection[object], start: Callable[[], Awaitable[T]]) -> T:
        """:meth:`start` of a start that is awaited (one in the starter thread)."""
        while True:
            if self.free < 1 and live:
                await self.wait()
                continue
            try:
                return await start()
            except OSError as exc:
                if exc.errno not in OUT_OF_FDS or not live:
                    raise
                await self.wait()
