"""A local job process: the child that leads its own process group, awaited through a pidfd
(or, without one, a thread of its own) and reaped here."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from assay.transports.exits import ExitWatch

_HAVE_PIDFD = hasattr(os, "pidfd_open")


class LocalProcess:
    """A child process that leads its own process group."""

    def __init__(
        self,
        pid: int,
        loop: asyncio.AbstractEventLoop,
        token: str = "",
        popen: subprocess.Popen[bytes] | None = None,
        watch: ExitWatch | None = None,
    ) -> None:
        self._popen = popen  # when Popen started it: Popen reaps it
        self.pid = pid
        self.token = token  # ASSAY_CASE_TOKEN: marks everything this process starts
        self.started = time.monotonic()
        self._loop = loop
        self._code: int | None = None  # the exit status, once reaped
        # Each wait() has a future of its own, so that cancelling one waiter (a time limit)
        # leaves the others, and the process, waitable: what asyncio.shield does, with no
        # callbacks in between (one loop step less per job).
        self._waiters: list[asyncio.Future[int]] = []
        self.on_end: Callable[[LocalProcess], None] | None = None  # told before any waiter
        self._pidfd = -1
        if _HAVE_PIDFD:
            # (ENOSYS on kernels before 5.3, RHEL 8's 4.18 among them; EMFILE when no
            # descriptor is left: the job started anyway, posix_spawn needs none)
            with contextlib.suppress(OSError):
                self._pidfd = os.pidfd_open(self.pid)
        self.fds = 1 if self._pidfd >= 0 else 0  # what it holds in the runner (FdBudget)
        if self._pidfd >= 0:
            if watch is not None:
                watch.add(self._pidfd, self._exited)
            else:
                loop.add_reader(self._pidfd, self._on_exit)
        else:
            # No pidfd to watch it by: a thread of its own waits. Not the loop's executor:
            # its few threads (min(32, CPUs + 4)) would each block on one job, leaving the
            # ends of the jobs beyond them unnoticed until one of theirs ended, and starting
            # one may need a module imported, a descriptor there may be none of.
            name = f"assay-wait-{pid}"
            threading.Thread(
                target=self._wait_blocking, args=(loop,), name=name, daemon=True
            ).start()

    def _reap(self) -> int:
        """Wait for the process (it has exited, or is about to) and return its status:
        ``>= 0`` an exit code, ``< 0`` the signal that killed it."""
        if self._popen is not None:
            return self._popen.wait()
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _on_exit(self) -> None:
        """The loop's own reader of this process's pidfd: it exited."""
        self._loop.remove_reader(self._pidfd)
        self._exited()

    def _exited(self) -> None:
        """The pidfd became readable (no longer watched): the process exited."""
        os.close(self._pidfd)
        self._pidfd = -1
        self._finish(self._reap())

    def _wait_blocking(self, loop: asyncio.AbstractEventLoop) -> None:
        code = self._reap()
        loop.call_soon_threadsafe(self._finish, code)

    def _finish(self, code: int) -> None:
        if self._code is not None:
            return
        self._code = code
        if self.on_end is not None:
            self.on_end(self)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # (a cancelled waiter is done)
                waiter.set_result(code)

    @property
    def returncode(self) -> int | None:
        return self._code

    async def wait(self) -> int:
        """The exit status: ``>= 0`` an exit code, ``< 0`` the signal that killed it."""
        if self._code is not None:
            return self._code
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter in self._waiters:  # (a cancelled wait leaves nothing behind)
                self._waiters.remove(waiter)
            raise

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to every process in the group (quietly if none is left)."""
        try:  # (not contextlib.suppress: once for every job)
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def terminate(self, grace: float) -> int:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds; return the exit status."""
        self.signal_group(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await self.wait()
        except TimeoutError:
            pass
        except asyncio.CancelledError:  # asked to hurry: no more grace
            self.signal_group(signal.SIGKILL)
            raise
        self.signal_group(signal.SIGKILL)  # stragglers that ignored SIGTERM
        return await self.wait()
