"""S3-compatible object storage as a remote store: ``s3://BUCKET/PREFIX``.

The bucket holds the store's own layout under PREFIX: ``objects/KIND/XX/REST`` (the same
objects, under the same names, as a store on disk) and ``names/NAME/vN.json`` (version
records). Pushing and pulling use the one sending algorithm (:mod:`assay.store.transfer`):
only the tree objects the bucket lacks are read and sent, a level at a time, and of the files
they name only those the bucket lacks. Every object is sent after everything it names (files,
then directories deepest first, the root last), so a tree object in the bucket means all it
reaches is there too; the bucket cannot walk trees itself, and this is what lets a push skip
a directory the bucket holds without reading it.

An object of one piece (every blob and chunk: files of 8 MiB or more are stored as chunks of
at most 4 MiB) is one PUT; a larger one (a directory of a few hundred thousand entries, or any
object with a smaller ``piece``) is a multipart upload, one part per piece, that a later push
resumes from its last whole part. Every PUT carries the MD5 of its bytes, which the server
checks on arrival; a pull checks each object's BLAKE3 hash as it lands.

Credentials come from where every AWS tool looks (boto3's chain: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and ``~/.aws/credentials``, ``~/.aws/config``,
instance roles); the endpoint of a non-AWS server from ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``. No message names a secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from assay.errors import UsageError
from assay.store.names import Version, check_name
from assay.store.objects import StoreError, hash_bytes
from assay.store.store import Store
from assay.store.sync import pull_version, push_async
from assay.store.transfer import (
    PIECE,
    Appended,
    CorruptInTransit,
    Finish,
    ObjectId,
    OffsetMismatch,
    ProgressCallback,
    TransferError,
    TransferReport,
    done,
)

SCHEME = "s3://"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PART = re.compile(r"[A-Za-z0-9._-]+")
_DIGEST = re.compile(r"[0-9a-f]{64}")
CONCURRENCY = 16  # requests in flight when asking which objects the bucket holds
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

    def __init__(self, target: S3Target, client: Any = None) -> None:
        self.target = target
        self.where = target.describe()
        self.client = client if client is not None else _client()

    def call(self, what: str, op: Callable[..., T], **kwargs: Any) -> T:
        import botocore.exceptions  # lazy: only S3 remotes need boto3

        try:
            return op(Bucket=self.target.bucket, **kwargs)
        except botocore.exceptions.NoCredentialsError:
            raise StoreError(
                f"{self.where}: no S3 credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE "
                "chooses one)"
            ) from None
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

    def put(self, key: str, data: bytes) -> None:
        self.call(
            f"writing {key}", self.client.put_object, Key=key, Body=data, ContentMD5=_md5(data)
        )

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


def _client_error(where: str, what: str, code: str) -> StoreError:
    if code in ("404", "NoSuchKey", "NotFound"):
        return _Missing(f"{where}: {what}: not there")
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


def _md5(data: bytes) -> str:
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _client() -> Any:
    """An S3 client from the standard configuration (see the module's docstring)."""
    try:
        import boto3
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
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        session = boto3.session.Session()
        return session.client(
            "s3", endpoint_url=endpoint, config=config, region_name=region or "us-east-1"
        )
    except Exception as exc:  # a broken profile: name the problem, not the secrets
        raise StoreError(f"cannot set up S3 access: {type(exc).__name__}: {exc}") from None


# --- the two ends of a transfer -----------------------------------------------------------


class S3Sink:
    """A :class:`~assay.store.transfer.Sink` into a bucket (see the module's docstring)."""

    needs_sha256 = False
    takes_whole = False  # as its partials say: a multipart upload resumes from its last part
    walks_trees = False  # a bucket reads nothing: each tree goes after all it names
    checks_versions = False  # a bucket checks nothing

    def __init__(self, bucket: S3Bucket, piece: int = PIECE) -> None:
        self.bucket, self.piece = bucket, piece
        self.where = bucket.where
        self._uploads: dict[ObjectId, tuple[str, list[dict[str, Any]]]] = {}

    async def missing(self, objects: list[ObjectId]) -> set[ObjectId]:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def absent(obj: ObjectId) -> bool:
            async with limit:
                key = self.bucket.target.object_key(*obj)
                return not await asyncio.to_thread(self.bucket.exists, key)

        found = await asyncio.gather(*(absent(o) for o in objects))
        return {o for o, gone in zip(objects, found, strict=True) if gone}

    async def missing_in_tree(self, tree: str) -> set[ObjectId]:
        # A tree object is sent only after all it names: its presence says the rest is there.
        return set() if not await self.missing([("trees", tree)]) else {("trees", tree)}

    async def missing_below(self, trees: list[str]) -> set[ObjectId]:
        raise NotImplementedError("a bucket does not read trees (walks_trees is False)")

    async def partials(self, objects: list[ObjectId]) -> dict[ObjectId, int]:
        uploads = await asyncio.to_thread(self._unfinished)  # one listing, not one per object
        held = {}
        for obj in objects:
            key = self.bucket.target.object_key(*obj)
            held[obj] = (
                await asyncio.to_thread(self._held, obj, uploads[key]) if key in uploads else 0
            )
        return held

    def _unfinished(self) -> dict[str, str]:
        """The oldest unfinished multipart upload of each key under the prefix."""
        found: dict[str, str] = {}
        kwargs: dict[str, Any] = {"Prefix": self.bucket.target.key("objects") + "/"}
        while True:
            page = self.bucket.call(
                "listing unfinished uploads", self.bucket.client.list_multipart_uploads, **kwargs
            )
            for upload in sorted(page.get("Uploads", []), key=lambda u: str(u.get("Initiated"))):
                found.setdefault(upload["Key"], upload["UploadId"])
            if not page.get("IsTruncated"):
                return found
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")

    def _held(self, obj: ObjectId, upload_id: str) -> int:
        """Bytes of an unfinished multipart upload in whole parts of this piece size, counted
        from the first part."""
        key = self.bucket.target.object_key(*obj)
        listed = self.bucket.call(
            f"listing the parts of {key}",
            self.bucket.client.list_parts,
            Key=key,
            UploadId=upload_id,
        ).get("Parts", [])
        parts = []
        for number, part in enumerate(sorted(listed, key=lambda p: p["PartNumber"]), 1):
            if part["PartNumber"] != number or part["Size"] != self.piece:
                break
            parts.append({"PartNumber": number, "ETag": part["ETag"]})
        self._uploads[obj] = (upload_id, parts)
        return len(parts) * self.piece

    async def append(
        self, obj: ObjectId, offset: int, data: bytes, finish: Finish | None
    ) -> asyncio.Future[Appended]:
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(await asyncio.to_thread(self._append, obj, offset, data, finish))
        except Exception as exc:  # told through the future, as a pipelined sink does
            future.set_exception(exc)
        return future

    def _append(self, obj: ObjectId, offset: int, data: bytes, finish: Finish | None) -> Appended:
        key = self.bucket.target.object_key(*obj)
        client = self.bucket.client
        if offset == 0 and finish is not None and finish.size == len(data):
            self.bucket.put(key, data)  # one piece: one PUT
            return Appended(len(data), published=True)
        upload_id, parts = self._uploads.get(obj, ("", []))
        held = len(parts) * self.piece
        if offset != held or (data and finish is None and len(data) != self.piece):
            raise OffsetMismatch(f"{self.where}: {key} holds {held} bytes, not {offset}", held)
        if not upload_id:
            created = self.bucket.call(
                f"starting an upload of {key}", client.create_multipart_upload, Key=key
            )
            upload_id = created["UploadId"]
        if data:
            number = len(parts) + 1
            answer = self.bucket.call(
                f"writing part {number} of {key}",
                client.upload_part,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ContentMD5=_md5(data),
            )
            parts = [*parts, {"PartNumber": number, "ETag": answer["ETag"]}]
        self._uploads[obj] = (upload_id, parts)
        if finish is None:
            return Appended(offset + len(data))
        self.bucket.call(
            f"finishing the upload of {key}",
            client.complete_multipart_upload,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        del self._uploads[obj]
        return Appended(offset + len(data), published=True)

    async def add_version(self, record: dict[str, object]) -> dict[str, object]:
        return await asyncio.to_thread(self._add_version, record)

    def _add_version(self, record: dict[str, object]) -> dict[str, object]:
        try:
            version = msgspec.convert(record, Version)
        except msgspec.ValidationError as exc:
            raise TransferError(f"not a version record: {exc}") from None
        check_name(version.name)
        if not self.bucket.exists(self.bucket.target.object_key("trees", version.tree)):
            raise TransferError(
                f"cannot record {version.name}: tree {version.tree[:16]} is not in "
                f"{self.where}; push it first"
            )
        existing = S3Remote(self.bucket).versions(version.name)
        if existing and existing[-1].tree == version.tree:
            return {"version": msgspec.to_builtins(existing[-1]), "created": False}
        number = existing[-1].version + 1 if existing else 1
        added = msgspec.structs.replace(version, version=number, source_kind="transfer")
        key = self.bucket.target.key("names", version.name, f"v{number}.json")
        self.bucket.put(key, msgspec.json.encode(added))
        return {"version": msgspec.to_builtins(added), "created": True}


class S3Source:
    """A :class:`~assay.store.transfer.Source` from a bucket (pulling): trees are checked
    here with BLAKE3 before anything they name is asked for; every other object is checked
    as it lands in the local store."""

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket
        self.where = bucket.where

    async def tree_object(self, digest: str) -> bytes:
        key = self.bucket.target.object_key("trees", digest)
        try:
            data = await asyncio.to_thread(self.bucket.get, key)
        except _Missing:
            raise StoreError(f"{self.where}: tree {digest[:16]} is missing there") from None
        if hash_bytes(data) != digest:
            raise CorruptInTransit(
                f"{self.where}: tree {digest[:16]} does not hash to its name on arrival; "
                "nothing was stored"
            )
        return data

    def fetch(self, obj: ObjectId, offset: int, size: int) -> asyncio.Future[bytes]:
        key = self.bucket.target.object_key(*obj)
        loop = asyncio.get_running_loop()
        if size == 0:
            return done(b"")
        return asyncio.ensure_future(
            asyncio.to_thread(self.bucket.get, key, offset, size), loop=loop
        )

    async def sound(self, obj: ObjectId) -> bool:
        return True  # a bucket's objects are checked by the server; blame the transit


# --- the remote ----------------------------------------------------------------------------


class S3Remote:
    """The store in a bucket: push to it, pull from it, list it."""

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket
        self.where = bucket.where

    @classmethod
    def open(cls, url: str) -> S3Remote:
        return cls(S3Bucket(parse_s3_url(url)))

    def names(self) -> list[str]:
        prefix = self.bucket.target.key("names") + "/"
        return sorted({k[len(prefix) :].split("/")[0] for k in self.bucket.keys(prefix)})

    def versions(self, name: str) -> list[Version]:
        check_name(name)
        prefix = self.bucket.target.key("names", name) + "/"
        found = []
        for key in self.bucket.keys(prefix):
            leaf = key[len(prefix) :]
            number = re.fullmatch(r"v([0-9]+)\.json", leaf)
            if number is None:
                continue
            try:
                version = msgspec.json.decode(self.bucket.get(key), type=Version)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise StoreError(f"{self.where}: {key} is not a version record") from None
            # a record is believed only for the name and number its key gives it
            if (version.name, version.version) != (
                name,
                int(number.group(1)),
            ) or not _DIGEST.fullmatch(version.tree):
                raise StoreError(
                    f"{self.where}: {key} records {version.ref} (tree {version.tree[:20]!r}), "
                    f"not {name}@{number.group(1)}: not a record this store wrote"
                )
            found.append(version)
        return sorted(found, key=lambda v: v.version)

    def resolve(self, ref: str) -> Version:
        name, _, number = ref.partition("@")
        versions = self.versions(name)
        if not versions:
            raise StoreError(f"{self.where} has no versions of {name!r}")
        if not number:
            return versions[-1]
        for version in versions:
            if str(version.version) == number:
                return version
        have = ", ".join(str(v.version) for v in versions)
        raise StoreError(f"{self.where} has no {ref} (versions of {name}: {have})")

    async def push(
        self,
        source: Store,
        ref: str,
        *,
        progress: ProgressCallback | None = None,
        piece: int = PIECE,
    ) -> TransferReport:
        """Send the version ``ref`` names and record it in the bucket (a new number in the
        bucket's own sequence of that name, unless its newest version already is that tree)."""
        return await push_async(source, ref, S3Sink(self.bucket, piece), piece, progress)

    async def pull(
        self, dest: Store, ref: str, *, progress: ProgressCallback | None = None
    ) -> TransferReport:
        """Bring the version ``ref`` names into ``dest`` (each object checked with BLAKE3 as
        it lands) and record it there."""
        version = await asyncio.to_thread(self.resolve, ref)
        return await pull_version(S3Source(self.bucket), version, dest, self.where, progress)
