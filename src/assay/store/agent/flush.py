"""Writing received objects back to disk while more arrive.

Recording a version first flushes every file written on the store's file system
(:func:`~.layout.write_durable`: a version never names an object a power cut could lose). A
push of 1 GiB then waited at its end for the whole GiB to reach the disk, which the kernel
had left in its cache. Here a thread asks for that write-back (``syncfs``) after every
``EVERY`` bytes received, one at a time, while the agent goes on receiving: the flush at
the version's record then finds little left to write. Nothing waits for this thread.
"""

from __future__ import annotations

import contextlib
import threading

from .layout import sync_filesystem

EVERY = 64 << 20  # bytes received between write-backs


class Flusher:
    """Write-back of the file system of ``folder`` in the background (see the module)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.pending = 0  # bytes received since the last write-back was asked for
        self.flushes = 0  # write-backs done
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wrote(self, n: int) -> None:
        """``n`` more bytes were written to the store."""
        self.pending += n
        if self.pending < EVERY:
            return
        self.pending = 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="flush")
            self._thread.start()
        self._wake.set()  # one already running: this asks for one more after it

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            # A failure (the store went, a full disk ...) is the version's flush's to report.
            with contextlib.suppress(Exception):
                sync_filesystem(self.folder)  # ctypes lets go of the GIL while it waits
            self.flushes += 1
