"""assay's host agent (:mod:`assay.transports.hostagent`) run here, in-process: its daemon's
life cycle and its requests, without SSH."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

from assay.transports.hostagent import daemon as agent_daemon
from assay.transports.hostagent.protocol import frame, read_frame


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
    daemon = agent_daemon.Daemon(str(tmp_path / "a.sock"), linger=3600.0)
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


_DAEMON = """
import os, sys
sys.path.insert(0, {src!r})
import time
from assay.transports.hostagent.daemon import Daemon

class SlowChannelFault(Daemon):  # a fault: each answer takes a while to go out
    def send(self, message):
        time.sleep(0.2)
        super().send(message)

daemon = SlowChannelFault({path!r}, linger=3600.0)
print("ready", flush=True)
try:
    daemon.serve()
finally:
    os._exit(0)  # as the real daemon ends: its threads do not outlive serve()
"""


def test_the_answer_to_shutdown_goes_out_before_the_daemon_ends(tmp_path: Path) -> None:
    # The run's report takes the agent's statistics from this answer: a daemon that stopped
    # serving before sending it ended with the answer unsent, now and then (under load; a
    # slow channel, injected here, shows it every time).
    import subprocess
    import sys

    src = str(Path(agent_daemon.__file__).parents[3])
    for attempt in range(3):
        path = str(tmp_path / f"d{attempt}.sock")
        proc = subprocess.Popen(
            [sys.executable, "-c", _DAEMON.format(src=src, path=path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(path)
                sock.sendall(frame({"rid": "1", "op": "shutdown"}))
                answer = read_frame(sock)
            assert answer is not None, f"attempt {attempt}: no answer to shutdown"
            assert answer["ok"] and answer["stats"]["requests"] == {"shutdown": 1}, answer
            assert proc.wait(30) == 0
        finally:
            proc.kill()
            proc.wait()
