"""AWS Signature Version 4 for one request, in headers (standard library only).

What :mod:`.direct` needs to send a PUT without botocore's request pipeline: the payload's
SHA-256 is given by the caller (a push already computed it for the sums a bucket keeps,
:mod:`.sums`), so the body is not hashed a second time to sign it. The derived signing key
is kept per day, region and secret, as AWS allows.

Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    """One set of credentials (``token``: a session token, or None). Its repr names no
    secret, so a traceback under --debug cannot show one."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


def uri_path(path: str) -> str:
    """A key's path as S3 signs and sends it: each byte outside the unreserved set
    percent-encoded once, slashes kept."""
    return quote(path, safe="/-_.~")


def sign(
    method: str,
    host: str,
    path: str,
    headers: dict[str, str],
    payload_sha256: str,
    credentials: Credentials,
    region: str,
    *,
    service: str = "s3",
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """The headers to send: ``headers`` (lowercase names) plus ``host``, ``x-amz-date``,
    ``x-amz-content-sha256``, the session token if any, and ``authorization`` signing them
    all. ``path`` is already encoded (:func:`uri_path`); the request has no query."""
    moment = now or datetime.datetime.now(datetime.UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed = {
        **{k.lower(): " ".join(str(v).split()) for k, v in headers.items()},
        "host": host,
        "x-amz-date": stamp,
        "x-amz-content-sha256": payload_sha256,
    }
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    canonical = "\n".join(
        (
            method,
            path,
            "",  # no query string
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        )
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        (ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    )
    key = _signing_key(credentials.secret_key, day, region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


@lru_cache(maxsize=8)
def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
