"""An HTTP proxy in front of the real S3 server, for tests: it forwards every request as it
came (the Host header too, so signatures still match) and records what it saw. Faults a real
server does not show on demand are injected only when a test asks (``answer_503``,
``cut``, ``ignore_if_none_match``), and the class is named for it."""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body_sha256: str
    status: int = 0


@dataclass
class Faults:
    answer_503: int = 0  # the next N requests get a 503 SlowDown-less error, not forwarded
    cut: int = 0  # the next N requests: the connection is closed without an answer
    # a PUT with If-None-Match on a taken key is made to overwrite it, as a server that
    # ignores the header would (the proxy signs its own unconditional PUT with ``resign``)
    ignore_if_none_match: Callable[[str, bytes], int] | None = None
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultInjectingS3Proxy:
    """``with FaultInjectingS3Proxy(endpoint) as proxy: ... proxy.url ... proxy.faults``."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults = Faults()
        faults, upstream = self.faults, self.upstream

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    hashlib.sha256(body).hexdigest(),
                )
                with faults.lock:
                    faults.seen.append(seen)
                    cut = faults.cut > 0
                    faults.cut -= cut
                    busy = not cut and faults.answer_503 > 0
                    faults.answer_503 -= busy
                if cut:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if busy:
                    self._answer(503, b"<Error><Code>ServiceUnavailable</Code></Error>")
                    seen.status = 503
                    return
                conn = http.client.HTTPConnection(*upstream, timeout=60)
                try:
                    conn.putrequest(
                        self.command, self.path, skip_host=True, skip_accept_encoding=True
                    )
                    for name, value in self.headers.items():
                        conn.putheader(name, value)
                    conn.endheaders(body or None)
                    answer = conn.getresponse()
                    data = answer.read()
                    status = answer.status
                    if (
                        status == 412
                        and faults.ignore_if_none_match is not None
                        and self.command == "PUT"
                    ):
                        status = faults.ignore_if_none_match(self.path, body)
                        data = b""
                    seen.status = status
                    self._answer(status, data, answer.getheaders())
                finally:
                    conn.close()

            def _answer(
                self, status: int, data: bytes, headers: list[tuple[str, str]] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in headers or []:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultInjectingS3Proxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def proxied(endpoint: str) -> Iterator[FaultInjectingS3Proxy]:
    with FaultInjectingS3Proxy(endpoint) as proxy:
        yield proxy
