"""A TCP relay in front of a server that counts the bytes each way (the HTTP-level twin of
``_relay.py``): the S3 bench points both tools at it instead of at the S3 endpoint, so both
are counted the same way, requests, headers, listings and bodies included.

    with TcpRelay("127.0.0.1", 18333) as relay:
        ...  # use f"http://127.0.0.1:{relay.port}"
        relay.take()  # (sent, received) since the last take

Runs in threads of the bench's own process (idle while the measured tool runs). Only the
counting passes go through it; timed runs go to the server directly.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

_CHUNK = 1 << 20


class TcpRelay:
    """Accept connections on a loopback port and pipe each to ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._counts = [0, 0]  # sent to the server, received from it
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TcpRelay:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._closed = True
        self._listener.close()

    def take(self) -> tuple[int, int]:
        """Bytes sent and received since the last call."""
        with self._lock:
            counts = (self._counts[0], self._counts[1])
            self._counts = [0, 0]
        return counts

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for source, target, index in ((client, server, 0), (server, client, 1)):
                threading.Thread(
                    target=self._pump, args=(source, target, index), daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket, index: int) -> None:
        try:
            while data := source.recv(_CHUNK):
                with self._lock:
                    self._counts[index] += len(data)
                target.sendall(data)
        except OSError:  # one side went away: stop this direction
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass
