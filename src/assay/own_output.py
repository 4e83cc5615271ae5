"""The display's own descriptor on the terminal, written only while it still is that.

Test files are imported, and their hooks called, in assay's own process, so test code can
close any descriptor of it: ``os.closerange(3, 1024)`` at import time takes the display's
dup of fd 1 with it. A stream on a bare number then writes, once the number is given to
the next file opened (a test's file, assay's own journal), the progress lines into that
file. Here the descriptor's file (device, inode) is noted when it is made and checked
before every write: a descriptor that is closed or is another file now is let go (never
closed: the number is someone else's), and a new dup of fd 1 is taken while fd 1 still
is the same terminal or pipe (the guard puts fds 0-2 back after test code); else the
output is dropped, as for a terminal that went away. The check (an ``fstat``) is made
before a write only when test code ran since the last one, or runs now.
"""

from __future__ import annotations

import fcntl
import io
import os
from typing import TYPE_CHECKING

from assay import procstate
from assay.procstate import fd_identity

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class OwnOutput(io.RawIOBase):
    """Writes to a dup of ``source`` (fd 1), while that dup is still the file it was made
    on (see the module's docstring)."""

    def __init__(self, source: int = 1) -> None:
        super().__init__()
        self._source = source
        self._fd: int | None = fcntl.fcntl(source, fcntl.F_DUPFD_CLOEXEC, 3)
        self._identity = fd_identity(self._fd)
        self._seen = -1  # procstate.entered at the last check (-1: check at the first write)
        self.lost = 0  # times the descriptor was found taken (for tests and messages)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        fd = self._current()
        if fd is None:
            raise OSError("the display's output is gone (closed by test code)")
        return fd

    def isatty(self) -> bool:
        fd = self._current()
        return fd is not None and os.isatty(fd)

    def write(self, data: ReadableBuffer, /) -> int:
        fd = self._current()
        if fd is None:
            return memoryview(data).nbytes  # nowhere to show it: dropped, the run goes on
        return os.write(fd, data)

    def _current(self) -> int | None:
        """The descriptor, checked to be the file it was made on; else a new dup of the
        source while that still is that file; else None. Checked only when test code ran
        since the last check or runs now (``procstate``'s counts): nothing else of assay's
        closes it, and an fstat per line costs a plain run's display most of its time."""
        fd = self._fd
        entered = procstate.entered
        if fd is not None and entered == self._seen and entered == procstate.left:
            return fd
        self._seen = entered
        if fd is not None:
            if fd_identity(fd) == self._identity:  # (None: closed)
                return fd
            self._fd = None  # let go, never closed: the number may be another file's now
            self.lost += 1
        if fd_identity(self._source) != self._identity:
            return None
        try:
            self._fd = fcntl.fcntl(self._source, fcntl.F_DUPFD_CLOEXEC, 3)
        except OSError:
            return None
        return self._fd

    def close(self) -> None:
        if not self.closed:
            fd = self._fd
            if fd is not None and fd_identity(fd) == self._identity:
                os.close(fd)
            self._fd = None
        super().close()


def own_output(encoding: str, errors: str | None) -> io.TextIOWrapper:
    """A text stream on an :class:`OwnOutput` of fd 1 (as ``open(dup(1), "w")`` was:
    line-buffered on a terminal)."""
    raw = OwnOutput()
    return io.TextIOWrapper(
        io.BufferedWriter(raw), encoding=encoding, errors=errors, line_buffering=raw.isatty()
    )
