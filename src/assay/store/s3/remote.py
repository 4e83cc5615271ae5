"""The store in a bucket as a remote: names, versions, push and pull."""

from __future__ import annotations

import asyncio

from assay.store.names import Version
from assay.store.objects import StoreError
from assay.store.s3.bucket import S3Bucket, parse_s3_url
from assay.store.s3.ends import S3Sink, S3Source
from assay.store.s3.records import add_version, read_versions
from assay.store.store import Store
from assay.store.sync import pull_version, push_async
from assay.store.transfer import PIECE, ProgressCallback, TransferReport


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
        return read_versions(self.bucket, name)

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

    async def record(self, record: dict[str, object]) -> dict[str, object]:
        """Record a version whose tree the bucket holds (what a push does last)."""
        return await self.bucket.run(add_version, self.bucket, record)

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
        return await push_async(source, ref, S3Sink(self.bucket, piece, source), piece, progress)

    async def pull(
        self, dest: Store, ref: str, *, progress: ProgressCallback | None = None
    ) -> TransferReport:
        """Bring the version ``ref`` names into ``dest`` (each object checked with BLAKE3 as
        it lands) and record it there."""
        version = await asyncio.to_thread(self.resolve, ref)
        return await pull_version(S3Source(self.bucket), version, dest, self.where, progress)
