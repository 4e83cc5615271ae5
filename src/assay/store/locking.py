"""The store's lock: shared for everything that writes or uses objects, exclusive for gc and
repair.

A process holds one ``flock`` on the store's ``lock`` file, shared by all its threads and
re-entrant: a put that imports several layers, or a transfer that publishes an object and
then pins it, takes the lock again without a second file descriptor. That matters on NFS,
where ``flock`` is emulated with POSIX locks that belong to the process and vanish when any
descriptor of the file is closed: two descriptors in one process would drop each other's lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from assay.store.objects import StoreError


class _ProcessLock:
    """A readers-writer lock over one lock file for the threads of this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cond = threading.Condition()
        self.fd = -1
        self.readers: dict[int, int] = {}  # thread -> shared holds (re-entrant)
        self.writer: int | None = None  # the thread holding it exclusively
        self.depth = 0  # the writer's holds

    def acquire(self, exclusive: bool) -> None:
        me = threading.get_ident()
        with self.cond:
            if self.writer == me:  # the exclusive holder may take it again in any mode
                self.depth += 1
                return
            if exclusive:
                if me in self.readers:
                    raise RuntimeError("assay bug: the store lock cannot be upgraded")
                while self.readers or self.writer is not None:
                    self.cond.wait()
                self._flock(fcntl.LOCK_EX)
                self.writer, self.depth = me, 1
                return
            while self.writer is not None:
                self.cond.wait()
            if not self.readers:
                self._flock(fcntl.LOCK_SH)
            self.readers[me] = self.readers.get(me, 0) + 1

    def release(self) -> None:
        me = threading.get_ident()
        with self.cond:
            if self.writer == me:
                self.depth -= 1
                if self.depth == 0:
                    self.writer = None
                    self._unlock()
            else:
                left = self.readers[me] - 1
                if left:
                    self.readers[me] = left
                else:
                    del self.readers[me]
                    if not self.readers:
                        self._unlock()
            self.cond.notify_all()

    def _flock(self, mode: int) -> None:
        # Called with the condition held and no holder in this process: the only wait is
        # for other processes.
        self.fd = _open(self.path)
        try:
            fcntl.flock(self.fd, mode)
        except BaseException:
            os.close(self.fd)
            self.fd = -1
            raise

    def _unlock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


def _open(path: Path) -> int:
    """The lock file, created if need be; opened read-only where it cannot be written (a
    read-only store still takes a shared lock: ``flock`` needs no write access)."""
    try:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            # A new store: its folder is made only then, not at every hold (a suite case
            # takes the lock a few times; each mkdir would fail with EEXIST).
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreError(f"cannot lock the store: {path}: {exc.strerror}") from None
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:
            raise StoreError(
                f"cannot lock the store: {path}: {exc.strerror}; give a store you may write "
                "(--store DIR or $ASSAY_STORE)"
            ) from None


_registry: dict[str, _ProcessLock] = {}
_registry_lock = threading.Lock()


def _process_lock(path: Path) -> _ProcessLock:
    key = os.path.abspath(path)
    with _registry_lock:
        lock = _registry.get(key)
        if lock is None:
            lock = _registry[key] = _ProcessLock(Path(key))
        return lock


def _forget_after_fork() -> None:
    # A forked child holds none of its parent's locks (and must not release them).
    global _registry_lock
    _registry.clear()
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


@contextlib.contextmanager
def store_lock(root: Path, exclusive: bool = False) -> Iterator[None]:
    """Hold the store at ``root`` shared (puts, stagings, pins) or exclusively (gc, repair)."""
    lock = _process_lock(root / "lock")
    lock.acquire(exclusive)
    try:
        yield
    finally:
        lock.release()
