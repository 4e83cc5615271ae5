"""The two ends of a transfer with a bucket: a sink to push into, a source to pull from."""

from __future__ import annotations

import asyncio
from typing import Any

from assay.store.objects import Corrupt
from assay.store.s3.bucket import CONCURRENCY, S3Bucket, _md5
from assay.store.s3.records import add_version
from assay.store.s3.sums import write_sums
from assay.store.store import Store
from assay.store.transfer import (
    PIECE,
    Appended,
    CorruptInTransit,
    Finish,
    ObjectId,
    OffsetMismatch,
    done,
)


class S3Sink:
    """A :class:`~assay.store.transfer.Sink` into a bucket (see the module's docstring)."""

    needs_sha256 = True  # kept in ``sha256``: the sums a push writes (:mod:`.sums`)
    takes_whole = False  # as its partials say: a multipart upload resumes from its last part
    walks_trees = False  # a bucket reads nothing: each tree goes after all it names
    checks_versions = False  # a bucket checks nothing

    def __init__(self, bucket: S3Bucket, piece: int = PIECE, source: Store | None = None) -> None:
        self.bucket, self.piece = bucket, piece
        self.source = source  # with it, recording a version writes its tree's sums first
        self.sha256: dict[ObjectId, str] = {}
        self.where = bucket.where
        self._uploads: dict[ObjectId, tuple[str, list[dict[str, Any]]]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._last: dict[ObjectId, asyncio.Future[Appended]] = {}  # each object's newest piece

    async def missing(self, objects: list[ObjectId]) -> set[ObjectId]:
        keys = {self.bucket.target.object_key(*obj): obj for obj in objects}
        return {keys[key] for key in await self.bucket.lacking(list(keys))}

    async def missing_in_tree(self, tree: str) -> set[ObjectId]:
        # A tree object is sent only after all it names: its presence says the rest is there.
        return set() if not await self.missing([("trees", tree)]) else {("trees", tree)}

    async def missing_below(self, trees: list[str]) -> set[ObjectId]:
        raise NotImplementedError("a bucket does not read trees (walks_trees is False)")

    async def partials(self, objects: list[ObjectId]) -> dict[ObjectId, int]:
        uploads = await self.bucket.run(self._unfinished)  # one listing, not one per object
        held = {}
        for obj in objects:
            key = self.bucket.target.object_key(*obj)
            held[obj] = (
                await self.bucket.run(self._held, obj, uploads[key]) if key in uploads else 0
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
        """Send a piece in a thread of the bucket's once one of CONCURRENCY slots is free;
        pieces of different objects go at once, the pieces of one object one after another
        (a multipart upload resumes from its last whole part: parts arrive in order)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(CONCURRENCY)
        slots = self._slots
        await slots.acquire()
        before = self._last.get(obj)

        async def send() -> Appended:
            try:
                if before is not None:
                    await asyncio.wait([before])  # its failure is told through its own future
                return await self.bucket.run(self._append, obj, offset, data, finish)
            finally:
                slots.release()

        sent = asyncio.ensure_future(send())
        self._last[obj] = sent
        sent.add_done_callback(lambda fut: self._forget(obj, fut))
        return sent

    def _forget(self, obj: ObjectId, sent: asyncio.Future[Appended]) -> None:
        if self._last.get(obj) is sent:
            del self._last[obj]

    def _append(self, obj: ObjectId, offset: int, data: bytes, finish: Finish | None) -> Appended:
        key = self.bucket.target.object_key(*obj)
        if finish is not None and finish.sha256:
            self.sha256[obj] = finish.sha256
        client = self.bucket.client
        if offset == 0 and finish is not None and finish.size == len(data):
            self.bucket.put(key, data, sha256=finish.sha256)  # one piece: one PUT
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
        tree = record.get("tree")
        if self.source is not None and isinstance(tree, str):
            await write_sums(self.bucket, self.source, tree, self.sha256)
        return await self.bucket.run(add_version, self.bucket, record)


class S3Source:
    """A :class:`~assay.store.transfer.Source` from a bucket (pulling): trees are checked
    here with BLAKE3 before anything they name is asked for; every other object is checked
    as it lands in the local store."""

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket
        self.where = bucket.where

    async def tree_object(self, digest: str) -> bytes:
        try:
            return await self.bucket.run(self.bucket.tree, digest)
        except Corrupt:
            raise CorruptInTransit(
                f"{self.where}: tree {digest[:16]} does not hash to its name on arrival; "
                "nothing was stored"
            ) from None

    def fetch(self, obj: ObjectId, offset: int, size: int) -> asyncio.Future[bytes]:
        key = self.bucket.target.object_key(*obj)
        loop = asyncio.get_running_loop()
        if size == 0:
            return done(b"")
        return asyncio.ensure_future(self.bucket.run(self.bucket.get, key, offset, size), loop=loop)

    async def sound(self, obj: ObjectId) -> bool:
        return True  # a bucket's objects are checked by the server; blame the transit
