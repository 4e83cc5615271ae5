"""A progress bar for transfers between stores (bytes, rate, time left), on the terminal.

:class:`TransferBar` takes the :class:`~assay.store.transfer.TransferProgress` a transfer
reports (its ``update`` is a transfer's progress callback) and draws on stderr, only when
stderr is a terminal and only once a transfer has more than ``threshold`` bytes to send: a
small update stays silent. The live display of ``assay run`` can draw the same figures.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from assay.store.transfer_types import TransferProgress

THRESHOLD = 8 * 10**6  # bytes: smaller transfers draw no bar


class TransferBar:
    def __init__(self, label: str, threshold: int = THRESHOLD, force: bool = False) -> None:
        self.label = label
        self.threshold = threshold
        self.enabled = force or sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def update(self, status: TransferProgress) -> None:
        """A transfer's progress callback."""
        if not self.enabled:
            return
        if self._progress is None:
            if status.bytes_total < self.threshold:
                return
            self._start()
        self._progress.update(
            self._task,
            total=max(status.bytes_total, 1),
            completed=min(status.bytes_done, status.bytes_total),
            description=f"{self.label} ({status.objects_done:,}/{status.objects_total:,} objects)",
        )

    def _start(self) -> None:
        # lazy: start-up time (rich: 30 ms), and only large transfers draw
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=1)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> TransferBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
