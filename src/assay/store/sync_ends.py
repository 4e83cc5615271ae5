"""The two ends of a transfer on this machine: :class:`LocalSource` (sending from a store
here) and :class:`EndpointSink` (a sink over an :class:`~assay.store.endpoint.Endpoint`)."""

from __future__ import annotations

import asyncio
import os

from assay.store.endpoint import Endpoint, _ids
from assay.store.objects import Corrupt, StoreError
from assay.store.store import Store
from assay.store.transfer import (
    Appended,
    Finish,
    ObjectId,
    done,
)
from assay.store.trees import read_tree_object


class LocalSource:
    """A :class:`~assay.store.transfer.Source` over a store on this machine."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.where = f"the store at {store.root}"
        self._sizes: dict[ObjectId, int] = {}
        self._objects = str(store.objects.objects)  # paths as text: one fetch per piece
        # The loop of the first fetch, kept: get_running_loop() is a getpid() per piece.
        self._loop: asyncio.AbstractEventLoop | None = None

    async def tree_object(self, digest: str) -> bytes:
        data = read_tree_object(self.store.objects, digest)  # re-hashed
        self._sizes[("trees", digest)] = len(data)
        return data

    def fetch(self, obj: ObjectId, offset: int, size: int) -> asyncio.Future[bytes]:
        fd = self._open(obj, self._sizes.get(obj))
        try:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            return done(os.pread(fd, size, offset), self._loop)
        finally:
            os.close(fd)

    def fetch_many(self, objects: list[tuple[ObjectId, int]]) -> asyncio.Future[bytearray]:
        """Whole objects of these sizes, one after another in one buffer (each read straight
        into its place: no bytes object per object, no joining)."""
        buffer = bytearray(sum(size for _, size in objects))
        with memoryview(buffer) as view:
            at = 0
            for obj, size in objects:
                self._sizes.setdefault(obj, size)
                if self._read_into(obj, view[at : at + size]) != size:
                    raise Corrupt(
                        f"the source store's {obj[0]}/{obj[1]} is shorter than its {size} "
                        "bytes; run `assay store verify --repair` there"
                    )
                at += size
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        future: asyncio.Future[bytearray] = self._loop.create_future()
        future.set_result(buffer)
        return future

    def _open(self, obj: ObjectId, expected: int | None) -> int:
        """The object's file, opened, once its size is ``expected`` (when known)."""
        kind, digest = obj
        path = f"{self._objects}/{kind}/{digest[:2]}/{digest[2:]}"  # ObjectStore.path's
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise StoreError(
                f"the source store lacks {kind}/{digest}; run `assay store verify`"
            ) from None
        try:
            actual = os.fstat(fd).st_size
            if expected is not None and actual != expected:
                raise Corrupt(
                    f"the source store's {kind}/{digest} has {actual} bytes, not {expected}; "
                    "run `assay store verify --repair` there"
                )
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read_into(self, obj: ObjectId, into: memoryview) -> int:
        fd = self._open(obj, len(into))
        try:
            got = 0
            while got < len(into):
                n = os.preadv(fd, [into[got:]], got)
                if n == 0:
                    break
                got += n
            return got
        finally:
            os.close(fd)

    async def sound(self, obj: ObjectId) -> bool:
        return self.store.objects.verify_object(*obj)


class EndpointSink:
    """A :class:`~assay.store.transfer.Sink` over an :class:`Endpoint` (its calls run in a
    worker thread, one at a time, each answered before the next piece is sent)."""

    needs_sha256 = False
    takes_whole = False  # a piece must start where an unfinished upload stops
    walks_trees = True
    checks_versions = False  # its refusal is a plain TransferError

    def __init__(self, endpoint: Endpoint, where: str = "the destination") -> None:
        self.endpoint = endpoint
        self.where = where

    async def missing(self, objects: list[ObjectId]) -> set[ObjectId]:
        return _ids(await asyncio.to_thread(self.endpoint.missing, list(objects)))

    async def missing_in_tree(self, tree: str) -> set[ObjectId]:
        return _ids(await asyncio.to_thread(self.endpoint.lacking_in_tree, tree))

    async def missing_below(self, trees: list[str]) -> set[ObjectId]:
        return _ids(await asyncio.to_thread(self.endpoint.lacking_below, trees))

    async def partials(self, objects: list[ObjectId]) -> dict[ObjectId, int]:
        def ask() -> dict[ObjectId, int]:
            return {obj: self.endpoint.partial(*obj) for obj in objects}

        return await asyncio.to_thread(ask)

    async def append(
        self, obj: ObjectId, offset: int, data: bytes, finish: Finish | None
    ) -> asyncio.Future[Appended]:
        kind, digest = obj

        def run() -> Appended:
            held = offset
            if data or offset == 0:
                held = self.endpoint.receive(kind, digest, offset, data)
            if finish is None:
                return Appended(held)
            self.endpoint.finish(kind, digest)
            return Appended(held, published=True)

        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(await asyncio.to_thread(run))
        except Exception as exc:  # told through the future, as a pipelined sink does
            future.set_exception(exc)
        return future

    async def add_version(self, record: dict[str, object]) -> dict[str, object]:
        return await asyncio.to_thread(self.endpoint.add_version, record)
