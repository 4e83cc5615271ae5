"""The daemon's worker threads (:class:`Pool`)."""

from __future__ import annotations

import sys
import threading
from queue import SimpleQueue

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Pool:
    """Threads that run what is submitted, at most ``most`` of them, started as needed (what
    the daemon used of ``ThreadPoolExecutor``, whose import costs a start 5 ms)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.lock = threading.Lock()
        self.queue: SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]] | None]
        self.queue = SimpleQueue()
        self.threads = 0
        self.queued = 0  # submitted, not taken yet
        self.waiting = 0  # threads waiting for work: a long request holds none of them
        self.closed = False

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        with self.lock:
            if self.closed:
                raise RuntimeError("the pool is shut down")
            self.queue.put((fn, args))
            self.queued += 1
            if self.queued > self.waiting and self.threads < self.most:
                self.threads += 1
                threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            with self.lock:
                self.waiting += 1
            item = self.queue.get()
            with self.lock:
                self.waiting -= 1
                self.queued -= 1
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception as exc:  # a bug here: say what, keep serving
                sys.stderr.write(f"assay agent: {getattr(fn, '__name__', fn)}: {exc!r}\n")

    def shutdown(self, wait: bool = False) -> None:
        """Take no more; each thread ends once what was submitted before has run."""
        with self.lock:
            self.closed = True
            threads = self.threads
            self.queued += threads
        for _ in range(threads):
            self.queue.put(None)
