"""SSH connections begun while a run still loads its tests and plans (issue 10).

Connecting to a host and starting assay's agent there takes round trips and the host's own
work (the SSH handshake, a Python started there): a few hundred milliseconds in which this
side would wait. :class:`EarlyHosts` begins them in a thread of their own as soon as the
config names the hosts, while the main thread goes on importing, loading the test files and
planning. Each agent's connector is started without its daemon's name (the session is not
known yet) and waits for it (:func:`~assay.transports.ssh_start.begin_agent`).

The thread runs the event loop that the run itself then uses: :meth:`EarlyHosts.take` stops
the thread and hands its loop over to the main thread, where the connections go on as if
begun there. Each transport claims its host's connection (:meth:`EarlyHosts.claim`); one
the plan does not use is closed unnamed, so no daemon starts there. A connection that
failed fails only if it is claimed, with the message connecting gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from assay.config import Ssh

if TYPE_CHECKING:
    from assay.transports.ssh_start import Waiting

T = TypeVar("T")


class EarlyHosts:
    """The connections to ``hosts`` (SSH settings, one per connection), begun in a thread."""

    def __init__(self, hosts: Sequence[Ssh]) -> None:
        self.loop = asyncio.new_event_loop()
        # Name lookups (getaddrinfo) of hosts the plan may not use run in threads nobody
        # waits for: a slow resolver must not hold up the end of a run that never needed it.
        self.loop.set_default_executor(_Unwaited())
        self._hosts = list(hosts)
        self._tasks: dict[tuple[Any, ...], tuple[str, asyncio.Task[Waiting]]] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="assay ssh early", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.loop.call_soon(self._begin)
        self.loop.run_forever()

    def _begin(self) -> None:
        task = self.loop.create_task(self._connect_all())
        task.add_done_callback(lambda _: self._stop())

    async def _connect_all(self) -> None:
        try:
            # asyncssh is imported here, in this thread, while the main thread goes on.
            from assay.transports.ssh_connect import connect_host, connection_key

            for settings in self._hosts:
                key = connection_key(settings)
                if key not in self._tasks:
                    task = asyncio.create_task(self._one(settings, connect_host))
                    self._tasks[key] = (settings.workdir, task)
        except Exception:  # the run connects as it always did, and says why
            return
        await asyncio.gather(*(t for _, t in self._tasks.values()), return_exceptions=True)

    @staticmethod
    async def _one(settings: Ssh, connect_host: Callable[[Ssh], Any]) -> Waiting:
        from assay.transports.ssh_start import begin_agent

        conn = await connect_host(settings)
        try:
            linger = str(float(settings.detach_timeout))
            return await begin_agent(
                conn, settings.host, settings.python, settings.workdir, [linger]
            )
        except BaseException:
            conn.close()
            raise

    def _stop(self) -> None:
        """Stop the thread's loop once (whichever asks first: the work done, or take)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self.loop.call_soon_threadsafe(self.loop.stop)

    def take(self) -> asyncio.AbstractEventLoop:
        """The loop, the thread stopped: the main thread runs it from now on (what was
        under way goes on there)."""
        self._stop()
        self._thread.join()
        if not self.loop.is_closed():  # the run's own work in threads is waited for again
            self.loop.set_default_executor(ThreadPoolExecutor())
        return self.loop

    def claim(self, key: tuple[Any, ...], workdir: str) -> asyncio.Task[Waiting] | None:
        """The connection begun with the SSH settings whose :func:`connection_key` is
        ``key``, if its connector was started from ``workdir`` (where the agent is kept)."""
        held = self._tasks.get(key)
        if held is None or held[0] != workdir:
            return None
        del self._tasks[key]
        return held[1]

    async def release(self) -> None:
        """Close the connections nobody claimed (on the loop, once taken): their connectors
        end unnamed, having started nothing."""
        tasks = [t for _, t in self._tasks.values()]
        self._tasks.clear()
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)  # (their errors stay theirs; a cancel of this one is not)
        conns = [t.result().conn for t in tasks if not t.cancelled() and t.exception() is None]
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)

    def abandon(self) -> None:
        """The run ends before it started: close every connection and the loop (nothing
        if the run had the loop, and closed it)."""
        loop = self.take()
        if loop.is_closed():
            return
        try:
            loop.run_until_complete(self.release())
        finally:
            loop.close()


class _Unwaited(ThreadPoolExecutor):
    """An executor whose work runs in daemon threads, one each, waited for by nobody (not
    at its shutdown, nor at the interpreter's exit)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=work, name="assay ssh early lookup", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass
