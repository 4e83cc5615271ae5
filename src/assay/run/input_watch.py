"""Which store objects linked into stage dirs were opened for writing: inotify watches.

A case's store inputs are read-only hard links to the store's objects. A job can still
write to one (root; or the objects' owner, after ``chmod u+w``) and set its mode and
modification time back, so the check at cleanup (:func:`assay.run.artifacts.modified_inputs`)
cannot trust them. The inode change time cannot be set back, but every other case's link
to the same object moves it too: read alone, it would mean hashing every shared input at
every case's cleanup (gigabytes of reference data, once per case).

The kernel says more: an inotify watch on the object reports ``IN_MODIFY`` for a write
and ``IN_CLOSE_WRITE`` when a descriptor opened for writing is closed (a write through a
shared mapping needs one). Links and unlinks report neither. So an object is hashed again
only when one of those came; where the kernel gives no answer (no inotify, no watch left,
the event queue overflowed) :meth:`InputWatch.written` says so, and the caller falls back
to the change time.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import threading

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_IGNORED = 0x8000
IN_Q_OVERFLOW = 0x4000
_WRITES = IN_MODIFY | IN_CLOSE_WRITE
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class InputWatch:
    """One inotify instance for the process; :meth:`add` a linked object when staged,
    :meth:`written` at cleanup."""

    def __init__(self, fd: int, libc: ctypes.CDLL) -> None:
        self._fd = fd
        self._add_watch = libc.inotify_add_watch
        self._add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._add_watch.restype = ctypes.c_int
        self._watched: dict[str, int] = {}  # object path -> the watch of the inode there
        self._written: set[int] = set()  # watches that reported a write
        self._gone: set[int] = set()  # watches the kernel removed (their inode is gone)
        self._blind = False  # the queue overflowed: events were lost
        self._lock = threading.Lock()

    def add(self, blob: str) -> None:
        """Watch the object at ``blob``: the inode there now (the kernel answers the same
        watch for an inode watched already; an object set aside and stored again is a new
        inode). A watch refused (no more for this user, a file system without inotify)
        leaves it unwatched."""
        with self._lock:
            wd = self._add_watch(self._fd, os.fsencode(blob), _WRITES)
            if wd < 0:
                self._watched.pop(blob, None)
            else:
                self._watched[blob] = wd

    def written(self, blob: str) -> bool | None:
        """Whether the object at ``blob`` was opened for writing (or written) since it was
        added or last :meth:`cleared`; None where the kernel cannot tell (unwatched, or
        events were lost)."""
        with self._lock:
            self._drain()
            wd = self._watched.get(blob)
            if self._blind or wd is None or wd in self._gone:
                return None
            return wd in self._written

    def cleared(self, blob: str) -> None:
        """The object was hashed and holds its content: what came before is settled."""
        with self._lock:
            wd = self._watched.get(blob)
            if wd is not None:
                self._written.discard(wd)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                self._blind = True
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    self._blind = True
                if mask & _WRITES:
                    self._written.add(wd)
                if mask & IN_IGNORED:  # (its inode is gone: the last link removed)
                    self._gone.add(wd)


_lock = threading.Lock()
_watch: InputWatch | None = None
_tried = False


def input_watch() -> InputWatch | None:
    """This process's :class:`InputWatch`, made on the first call; None where inotify is
    not to be had (the answer is kept)."""
    global _watch, _tried
    if _tried:
        return _watch
    with _lock:
        if not _tried:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                init = libc.inotify_init1
                init.argtypes = [ctypes.c_int]
                fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
                _watch = InputWatch(fd, libc) if fd >= 0 else None
            except (OSError, AttributeError):  # no such C library call here
                _watch = None
            _tried = True
    return _watch
