"""A bucket through boto3: where a store in it lives, requests, errors as messages."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import ssl
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from assay.errors import UsageError
from assay.store.objects import Corrupt, StoreError, hash_bytes
from assay.store.s3.direct import PROBE, DirectPut, Endpoint, Refused, Unreachable
from assay.store.s3.sigv4 import Credentials
from assay.store.transfer import CorruptInTransit, TransferError

SCHEME = "s3://"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PART = re.compile(r"[A-Za-z0-9._-]+")
_DIGEST = re.compile(r"[0-9a-f]{64}")
CONCURRENCY = 16  # requests in flight (uploads, downloads, questions)
LIST_FROM = 4  # keys asked about in one folder from which the folder is listed, not HEADed
LIST_COST = 2  # keys a listing may read per key asked about before HEADs are cheaper
T = TypeVar("T")


@dataclass(frozen=True)
class S3Target:
    """A store in a bucket, under a prefix ("" for the bucket's root)."""

    bucket: str
    prefix: str = ""

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def object_key(self, kind: str, digest: str) -> str:
        return self.key("objects", kind, digest[:2], digest[2:])

    def describe(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"


def is_s3(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_s3_url(text: str) -> S3Target:
    """``s3://BUCKET[/PREFIX]``: a bucket name as S3 allows it, a prefix of plain path parts."""
    bucket, _, prefix = text[len(SCHEME) :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UsageError(
            f"{text!r}: {bucket!r} is not a bucket name (3-63 lowercase letters, digits, dots "
            "and hyphens); write s3://BUCKET/PREFIX"
        )
    parts = [p for p in prefix.split("/") if p]
    for part in parts:
        if part in (".", "..") or not _PART.fullmatch(part):
            raise UsageError(
                f"{text!r}: {part!r} is not a prefix part (letters, digits, '.', '_', '-')"
            )
    return S3Target(bucket, "/".join(parts))


class S3Bucket:
    """A boto3 client for one target, with errors turned into messages (never secrets)."""

    list_page = 1000  # keys per listing request (S3's most)

    def __init__(self, target: S3Target, client: Any = None) -> None:
        self.target = target
        self.where = target.describe()
        session = None
        if client is None:
            client, session = _client()
        self.client = client
        self._session = session  # botocore's (credentials, settings); None: all through boto3
        self._direct: DirectPut | None = None
        self._direct_tried = False
        self._direct_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.honours_if_none_match: bool | None = None  # known once asked (:mod:`.records`)

    async def run(self, op: Callable[..., T], *args: Any) -> T:
        """``op(*args)`` in one of this bucket's threads (boto3 blocks; CONCURRENCY at once,
        not asyncio's default pool of a few)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="assay-s3")
        result: T = await asyncio.get_running_loop().run_in_executor(self._pool, op, *args)
        return result

    async def lacking(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` the bucket does not hold. Keys asked about by the handful in one
        folder (``objects/KIND/XX/``) are answered by listing that folder, as far as listing
        reads at most LIST_COST keys per key asked about; the rest by one HEAD each."""
        folders: dict[str, list[str]] = {}
        for key in keys:
            folders.setdefault(key.rpartition("/")[0], []).append(key)
        limit = asyncio.Semaphore(CONCURRENCY)

        async def answer(folder: str, asked: list[str]) -> set[str]:
            async with limit:
                if len(asked) >= LIST_FROM:
                    held, upto = await self.run(self._listed, folder, len(asked) * LIST_COST)
                    rest = [k for k in asked if upto is not None and k > upto]
                    gone = {k for k in asked if k not in held and k not in rest}
                else:
                    rest, gone = asked, set()
            for key in rest:
                async with limit:
                    if not await self.run(self.exists, key):
                        gone.add(key)
            return gone

        answers = await asyncio.gather(*(answer(f, a) for f, a in folders.items()))
        return set().union(*answers)

    def _listed(self, folder: str, budget: int) -> tuple[set[str], str | None]:
        """The keys under ``folder/`` in order, reading at most about ``budget`` of them;
        and the last key read if the listing stopped early (None: that is all of them)."""
        held: set[str] = set()
        kwargs: dict[str, Any] = {"Prefix": folder + "/"}
        while True:
            # never a page longer than the budget left: a folder of a huge bucket asked
            # about a few keys costs a short listing, not a thousand keys
            kwargs["MaxKeys"] = max(1, min(self.list_page, budget - len(held)))
            page = self.call(f"listing {folder}", self.client.list_objects_v2, **kwargs)
            listed = [item["Key"] for item in page.get("Contents", [])]
            held.update(listed)
            if not page.get("IsTruncated"):
                return held, None
            if len(held) >= budget or not listed:
                return held, max(held) if held else ""
            kwargs["ContinuationToken"] = page.get("NextContinuationToken")

    def call(self, what: str, op: Callable[..., T], **kwargs: Any) -> T:
        import botocore.exceptions  # lazy: only S3 remotes need boto3

        try:
            return op(Bucket=self.target.bucket, **kwargs)
        except botocore.exceptions.NoCredentialsError:
            raise _no_credentials(self.where) from None
        except botocore.exceptions.ProfileNotFound as exc:
            raise StoreError(f"{self.where}: {exc}; see ~/.aws/credentials") from None
        except botocore.exceptions.EndpointConnectionError as exc:
            raise TransferError(
                f"{self.where}: cannot reach the S3 server ({exc.kwargs.get('endpoint_url')}); "
                "check AWS_ENDPOINT_URL_S3 and the network; pushing again resumes"
            ) from None
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise _client_error(self.where, what, code) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise TransferError(f"{self.where}: {what} failed: {type(exc).__name__}") from None

    def exists(self, key: str) -> bool:
        try:
            self.call(f"looking for {key}", self.client.head_object, Key=key)
        except _Missing:
            return False
        return True

    def get(self, key: str, start: int | None = None, size: int | None = None) -> bytes:
        kwargs: dict[str, Any] = {"Key": key}
        if start is not None and size is not None:
            if size == 0:
                return b""
            kwargs["Range"] = f"bytes={start}-{start + size - 1}"
        answer = self.call(f"reading {key}", self.client.get_object, **kwargs)
        data: bytes = answer["Body"].read()
        return data

    def tree(self, digest: str) -> bytes:
        """The tree object ``digest`` from the bucket, checked to hash to its name (else
        :class:`~assay.store.objects.Corrupt`, which its caller words for its own place)."""
        try:
            data = self.get(self.target.object_key("trees", digest))
        except _Missing:
            raise StoreError(f"{self.where}: tree {digest[:16]} is missing there") from None
        if hash_bytes(data) != digest:
            raise Corrupt(f"{self.where}: tree {digest[:16]} does not hash to its name")
        return data

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, sha256: str | None = None
    ) -> None:
        """Write an object; with ``if_absent`` only if there is none under the key yet (a
        conditional write: raises :class:`Taken` if another write got there first).
        ``sha256``: the hex SHA-256 of ``data`` if the caller has it (not computed again).
        Sent by :mod:`.direct` (SigV4 on http.client), not through boto3's pipeline."""
        what = f"writing {key}"
        direct = self._direct_put()
        if direct is None:
            kwargs: dict[str, Any] = {"IfNoneMatch": "*"} if if_absent else {}
            self.call(
                what, self.client.put_object, Key=key, Body=data, ContentMD5=_md5(data), **kwargs
            )
            return
        sha = sha256 or hashlib.sha256(data).hexdigest()
        try:
            direct.put(key, data, sha, _md5(data), if_absent=if_absent)
        except Refused as exc:
            if exc.code == "NoCredentials":
                raise _no_credentials(self.where) from None
            raise _client_error(self.where, what, exc.code) from None
        except Unreachable as exc:
            raise TransferError(
                f"{self.where}: cannot reach the S3 server ({exc}); check "
                "AWS_ENDPOINT_URL_S3 and the network; pushing again resumes"
            ) from None

    def _direct_put(self) -> DirectPut | None:
        """The sender of single PUTs (made once; None for a client given from outside, or an
        address botocore makes in a shape it does not know: boto3 sends those)."""
        if self._direct_tried:
            return self._direct
        # The bucket's threads put at once: the others wait for the first to make it (had
        # they seen "tried" before it was made, they would have sent through boto3).
        with self._direct_lock:
            if not self._direct_tried:
                self._direct = self._make_direct_put()
                self._direct_tried = True
        return self._direct

    def _make_direct_put(self) -> DirectPut | None:
        if self._session is not None:
            url = self.call(
                "addressing",
                lambda **kw: self.client.generate_presigned_url("put_object", Params=kw),
                Key=PROBE,
            )
            region = self.client.meta.region_name or "us-east-1"
            try:
                endpoint = Endpoint.from_presigned(url)
            except ValueError:
                return None
            if _proxied(endpoint):
                return None  # boto3 honours HTTP(S)_PROXY; so it sends them all
            context = None
            if endpoint.scheme == "https":  # the certificates boto3 trusts (AWS_CA_BUNDLE ...)
                from botocore.httpsession import get_cert_path

                bundle = self._session.get_config_variable("ca_bundle")
                context = ssl.create_default_context(cafile=bundle or get_cert_path(True))
            return DirectPut(endpoint, region, self._credentials, context)
        return None

    def _credentials(self) -> Credentials | None:
        """boto3's chain, asked each time (refreshing credentials refresh themselves)."""
        import botocore.exceptions

        try:
            found = self._session.get_credentials() if self._session is not None else None
            frozen = found.get_frozen_credentials() if found is not None else None
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"{self.where}: cannot read S3 credentials: {exc}") from None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            return None
        # header values: a line break would be refused by http.client (or inject a header)
        if any(c in "\r\n" for c in f"{frozen.access_key}{frozen.token or ''}"):
            raise StoreError(
                f"{self.where}: the S3 access key or session token holds a line break; check "
                "AWS_ACCESS_KEY_ID and AWS_SESSION_TOKEN, or the profile (AWS_PROFILE)"
            )
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)

    def delete(self, key: str) -> None:
        self.call(f"removing {key}", self.client.delete_object, Key=key)

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.call(f"listing {prefix}", self.client.list_objects_v2, **kwargs)
            found += [item["Key"] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return found
            token = page.get("NextContinuationToken")


class _Missing(StoreError):
    """The key (or bucket) is not there."""


class Taken(StoreError):
    """A conditional write found the key taken (or being written by another request)."""


def _no_credentials(where: str) -> StoreError:
    return StoreError(
        f"{where}: no S3 credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or a profile in ~/.aws/credentials (AWS_PROFILE chooses one)"
    )


def _client_error(where: str, what: str, code: str) -> StoreError:
    if code in ("404", "NoSuchKey", "NotFound"):
        return _Missing(f"{where}: {what}: not there")
    if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
        return Taken(f"{where}: {what}: another write got there first")
    if code == "NoSuchBucket":
        return StoreError(f"{where}: the bucket does not exist; create it first")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied"):
        return StoreError(
            f"{where}: the S3 server refused the credentials ({code}) while {what}; check "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile (AWS_PROFILE)"
        )
    if code in ("BadDigest", "InvalidDigest"):
        return CorruptInTransit(
            f"{where}: {what}: the bytes did not arrive as sent ({code}); nothing was "
            "stored; push again"
        )
    return TransferError(f"{where}: {what} failed ({code}); pushing again resumes")


def _proxied(endpoint: Endpoint) -> bool:
    """Whether the environment sends requests to ``endpoint`` through a proxy."""
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    host = endpoint.host.rpartition(":")[0] if endpoint.host.count(":") == 1 else endpoint.host
    return bool(proxy) and not urllib.request.proxy_bypass(host)


def _md5(data: bytes) -> str:
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _client() -> tuple[Any, Any]:
    """An S3 client from the standard configuration (see the module's docstring), and the
    botocore session it came from."""
    try:
        import boto3
        import botocore.session
        from botocore.config import Config
    except ImportError:
        raise StoreError(
            "S3 remotes need boto3: pip install 'assay[s3]' (or pip install boto3)"
        ) from None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=CONCURRENCY,
        s3={"addressing_style": "path"} if endpoint else {},
        signature_version="s3v4",  # presigned links too (boto3 would make SigV2 ones)
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        core = botocore.session.get_session()  # credentials and settings for .direct too
        session = boto3.session.Session(botocore_session=core)
        client = session.client(
            "s3", endpoint_url=endpoint, config=config, region_name=region or "us-east-1"
        )
        return client, core
    except Exception as exc:  # a broken profile: name the problem, not the secrets
        raise StoreError(f"cannot set up S3 access: {type(exc).__name__}: {exc}") from None
