"""A job the daemon started, and the one thread that sees every job end and every time
limit pass (:class:`Watcher`)."""

from __future__ import annotations

import heapq
import os
import selectors
import threading
import time
import weakref

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    import subprocess
    from typing import Any

    from .spawn import Spawned


class Job:
    """A job process the daemon started, until it ended and its leftovers were killed."""

    def __init__(self, jid: str, proc: subprocess.Popen[bytes] | Spawned, token: str) -> None:
        self.jid = jid
        self.proc = proc
        self.token = token
        self.status: int | None = None
        self.ended = threading.Event()
        self.started = time.monotonic()
        self.timer: threading.Timer | None = None  # its time limit, cancelled as it ends
        self.grace = 2.0  # seconds between SIGTERM and SIGKILL at its time limit
        # What to bring back as it ends (the collect request's fields, and the directory
        # and its listing when it started): sent with its exit event, a request saved.
        self.collect: dict[str, Any] | None = None

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class Watcher:
    """One thread that sees every job end (a pidfd per job: Linux >= 5.3, Python >= 3.9)
    and every time limit pass, instead of two threads started per job: each start costs
    the agent CPU and a hand-over of the interpreter lock, on every case. :meth:`add`
    answers False where pidfds are missing; the caller then gives the job its own threads.
    """

    def __init__(self, ended: Any, late: Any) -> None:
        self.ended = ended  # called with a job that ended (not reaped yet)
        self.late = late  # called with a job past its time limit
        self.lock = threading.Lock()
        self.added: list[tuple[Job, int, float | None]] = []
        self.thread: threading.Thread | None = None
        self.selector: selectors.BaseSelector | None = None
        self.wake_r = self.wake_w = -1
        self.stopping = False

    def add(self, job: Job, limit: float | None) -> bool:
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is None:
            return False
        try:
            fd = pidfd_open(job.proc.pid)
        except OSError:  # an old kernel, or a sandbox that refuses it
            return False
        deadline = None if limit is None else time.monotonic() + limit
        with self.lock:
            if self.stopping:  # the thread has gone or is going: threads of its own
                os.close(fd)
                return False
            if self.thread is None:
                self.selector = selectors.DefaultSelector()
                self.wake_r, self.wake_w = os.pipe()
                os.set_blocking(self.wake_r, False)
                self.selector.register(self.wake_r, selectors.EVENT_READ, None)
                self.thread = threading.Thread(target=self.run, daemon=True)
                self.thread.start()
            self.added.append((job, fd, deadline))
        self.wake()
        return True

    def wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:  # woken already
            pass
        except OSError:
            pass

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            started = self.thread is not None
        if started:
            self.wake()

    def run(self) -> None:
        selector = self.selector
        assert selector is not None
        # A heap of time limits; an ended job's entry stays until it comes up, holding
        # nothing of the job (a weak reference), or until the heap is compacted.
        limits: list[tuple[float, int, weakref.ref[Job]]] = []
        count = 0
        while True:
            timeout = None
            if limits:
                timeout = max(0.0, limits[0][0] - time.monotonic())
            for key, _events in selector.select(timeout):
                if key.data is None:
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except OSError:
                        pass
                    continue
                job = key.data
                selector.unregister(key.fd)
                os.close(key.fd)
                self.ended(job)
            with self.lock:
                added, self.added = self.added, []
                stopping = self.stopping
            if stopping:
                for fd in [k.fd for k in selector.get_map().values()]:
                    selector.unregister(fd)
                    if fd != self.wake_r:
                        os.close(fd)
                for _job, fd, _deadline in added:
                    os.close(fd)
                os.close(self.wake_r)
                os.close(self.wake_w)
                selector.close()
                return
            for job, fd, deadline in added:
                selector.register(fd, selectors.EVENT_READ, job)
                if deadline is not None:
                    count += 1
                    heapq.heappush(limits, (deadline, count, weakref.ref(job)))
            now = time.monotonic()
            while limits and limits[0][0] <= now:
                late = heapq.heappop(limits)[2]()
                if late is not None and not late.ended.is_set():
                    self.late(late)
            if len(limits) > 1024 and len(limits) > 2 * len(selector.get_map()):
                limits = [e for e in limits if _running(e[2])]
                heapq.heapify(limits)


def _running(ref: weakref.ref[Job]) -> bool:
    job = ref()
    return job is not None and not job.ended.is_set()
