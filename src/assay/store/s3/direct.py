"""Single PUTs without botocore's request pipeline: SigV4 (:mod:`.sigv4`) on http.client.

A first push of a build is thousands of small PUTs; boto3 spends about 1.5 ms of CPU on
each (its event hooks, request model, serialisers, and a second SHA-256 of the body to sign
it), more than hashing and sending the bytes. This sender signs with the SHA-256 the push
already has, sends the MD5 of the body (the server refuses bytes that do not match it: the
integrity check on arrival), and keeps one HTTP connection per thread.

Where to send comes from botocore once (a presigned URL for a probe key: scheme, host and
path prefix, so virtual-hosted and path-style addressing, regions and endpoints are
botocore's); credentials from boto3's chain, asked again at every request (refreshing ones
stay fresh). Errors become the same messages as boto3's (:func:`.bucket._client_error`):
connection failures and answers of 500 and up are tried again (5 attempts in all, with
jittered backoff, as botocore's standard mode); anything else is told at once.
"""

from __future__ import annotations

import http.client
import random
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from assay.store.s3.sigv4 import Credentials, sign, uri_path

ATTEMPTS = 5
BACKOFF = 0.05  # seconds before the second attempt; doubled each time, jittered
TIMEOUT = 60.0  # seconds without progress on a connection
PROBE = "assay-probe-key"
_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")


@dataclass(frozen=True)
class Endpoint:
    """Where a bucket's keys are: ``scheme://host/PREFIX`` + the encoded key."""

    scheme: str
    host: str  # host[:port], as signed and sent
    prefix: str  # the path before the key ("/BUCKET/" path-style, "/" virtual-hosted)

    @classmethod
    def from_presigned(cls, url: str) -> Endpoint:
        """From botocore's presigned URL of the key ``assay-probe-key``."""
        parts = urlsplit(url)
        if not parts.path.endswith("/" + PROBE) or parts.scheme not in ("http", "https"):
            raise ValueError(f"unexpected presigned URL shape ({parts.scheme}, path)")
        return cls(parts.scheme, parts.netloc, parts.path[: -len(PROBE)])


class Refused(Exception):
    """The server answered with an error: its code (``Code`` of the XML, else the status)."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code, self.status = code, status


class Unreachable(Exception):
    """No answer after every attempt (the connection failed or was cut each time)."""


class DirectPut:
    """PUTs of whole objects to one bucket (thread-safe: one connection per thread)."""

    def __init__(
        self,
        endpoint: Endpoint,
        region: str,
        credentials: Callable[[], Credentials | None],
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint, self.region, self.credentials = endpoint, region, credentials
        self.context = context  # https: the certificates to trust (None: the system's)
        self._local = threading.local()

    def put(self, key: str, data: bytes, sha256: str, md5: str, *, if_absent: bool = False) -> None:
        """Store ``data`` under ``key`` (``sha256``: its hex SHA-256, ``md5``: its base64
        MD5); with ``if_absent`` only if the key is free (412: :class:`Refused`)."""
        path = self.endpoint.prefix + uri_path(key)
        extra = {"content-md5": md5, "content-length": str(len(data))}
        if if_absent:
            extra["if-none-match"] = "*"
        for attempt in range(1, ATTEMPTS + 1):
            credentials = self.credentials()
            if credentials is None:
                raise Refused("NoCredentials", 0)
            headers = sign("PUT", self.endpoint.host, path, extra, sha256, credentials, self.region)
            try:
                status, body = self._send(path, headers, data)
            except (OSError, http.client.HTTPException):
                self._drop()
                if attempt == ATTEMPTS:
                    raise Unreachable(self._where()) from None
            else:
                if status < 300:
                    return
                code = _error_code(body, status)
                if status < 500 and code not in ("SlowDown", "RequestTimeout"):
                    raise Refused(code, status)
                if attempt == ATTEMPTS:
                    raise Refused(code, status)
            time.sleep(random.uniform(0, BACKOFF * 2 ** (attempt - 1)))  # noqa: S311 (jitter)
        raise AssertionError("unreachable")  # pragma: no cover

    def _where(self) -> str:
        return f"{self.endpoint.scheme}://{self.endpoint.host}"

    def _send(self, path: str, headers: dict[str, str], data: bytes) -> tuple[int, bytes]:
        conn = self._connection()
        # the host header as signed (http.client's own would drop a default port)
        conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(data)
        answer = conn.getresponse()
        body = answer.read()
        if answer.will_close:
            self._drop()
        return answer.status, body

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.endpoint.scheme == "https":
                conn = http.client.HTTPSConnection(
                    self.endpoint.host, timeout=TIMEOUT, context=self.context
                )
            else:
                conn = http.client.HTTPConnection(self.endpoint.host, timeout=TIMEOUT)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()


def _error_code(body: bytes, status: int) -> str:
    found = _CODE.search(body)
    return found.group(1).decode("ascii", "replace") if found else str(status)
