"""assay's host agent (:mod:`assay.transports.hostagent`) run here, in-process: its daemon's
life cycle and its requests, without SSH."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

from assay.transports import hostagent


class _CountingListener:
    """The daemon's listening socket, counting the accept() calls that only timed out."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.waiting = threading.Event()
        self.timeouts = 0

    def accept(self) -> tuple[socket.socket, Any]:
        self.waiting.set()
        try:
            return self.real.accept()
        except TimeoutError:
            self.timeouts += 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_shutdown_wakes_the_daemon_at_once_not_at_its_next_poll(tmp_path: Path) -> None:
    # A run's last request: the daemon must exit when asked, not when its accept() next times
    # out (half a second added to the end of every run over SSH).
    daemon = hostagent.Daemon(str(tmp_path / "a.sock"), linger=3600.0)
    listener = _CountingListener(daemon.listener)
    daemon.listener = listener  # type: ignore[assignment]
    serving = threading.Thread(target=daemon.serve, daemon=True)
    serving.start()
    assert listener.waiting.wait(30)
    daemon.stop()
    serving.join(60)
    assert not serving.is_alive()
    assert listener.timeouts == 0
    assert not (tmp_path / "a.sock").exists()
