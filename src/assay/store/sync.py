"""Sending versions and trees from one store to another, resumably.

The receiving side is an ``Endpoint``: five operations on plain data (strings, integers,
bytes, lists and dicts), so the same code can answer at the far end of an SSH channel.
``LocalEndpoint`` is the one over a ``Store`` on this machine.

``push`` sends the tree and then the objects the destination lacks, each in pieces from
where an interrupted upload stopped (:mod:`assay.store.transfer`, the one sending algorithm
for every direction), has the destination re-hash and publish each, and records the version
last: an interrupted push leaves no version and no unverified object. A remote store is
reached through its agent (:mod:`assay.store.remote`), which answers the same operations.

Unfinished uploads live in the destination's ``incoming/``, one file per object. Every
append happens under a lock and only at the file's current size, so concurrent pushes of
the same object cooperate: one is refused an offset, asks again and continues from there
(or finds the object already published by the other).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import msgspec

from assay.store.locking import store_lock
from assay.store.names import Version, check_name
from assay.store.objects import KINDS, Corrupt, StoreError, hash_file, locked
from assay.store.store import Store
from assay.store.transfer import (
    PIECE,
    Appended,
    CorruptInTransit,
    Finish,
    Incomplete,
    ObjectId,
    OffsetMismatch,
    ProgressCallback,
    Sink,
    Source,
    Transfer,
    TransferError,
    TransferReport,
    done,
    tree_level,
    tree_objects,
)
from assay.store.trees import file_objects, lacking_objects, read_tree_object

__all__ = [
    "CorruptInTransit",
    "Endpoint",
    "EndpointSink",
    "LocalEndpoint",
    "LocalSource",
    "OffsetMismatch",
    "TransferError",
    "TransferReport",
    "push",
    "push_async",
    "push_tree",
    "push_tree_async",
    "tree_objects",
]

DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_PIECE = 64 * 2**20  # the most one receive() accepts


class Endpoint(Protocol):
    """The receiving side of a transfer (all arguments and results are plain data)."""

    def missing(self, objects: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (kind, digest) pairs it does not have."""
        ...

    def partial(self, kind: str, digest: str) -> int:
        """Bytes of an unfinished upload of this object it holds (0 if none)."""
        ...

    def receive(self, kind: str, digest: str, offset: int, data: bytes) -> int:
        """Append ``data`` at ``offset`` (which must be the held size); the new size."""
        ...

    def finish(self, kind: str, digest: str) -> None:
        """Verify the upload hashes to ``digest`` and publish it (no-op if already stored)."""
        ...

    def add_version(self, version: dict[str, object]) -> dict[str, object]:
        """Record a version of a name whose tree it has in full: {"version", "created"}."""
        ...

    def lacking_in_tree(self, tree: str) -> list[tuple[str, str]]:
        """The objects of the tree it lacks, found by walking the tree on its own disk (a
        lacking tree object is named, not entered); the tree is pinned."""
        ...

    def lacking_below(self, trees: list[str]) -> list[tuple[str, str]]:
        """Of the objects the stored tree objects ``trees`` name directly, those it lacks;
        the trees are pinned."""
        ...


def check_object(kind: str, digest: str) -> None:
    """Refuse an object id that is not a kind and a BLAKE3 hex digest (it names a path)."""
    if kind not in KINDS:
        raise TransferError(f"{kind!r} is not an object kind ({', '.join(KINDS)})")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise TransferError(f"{digest!r} is not an object name (64 lowercase hex digits)")


def _ids(pairs: list[tuple[str, str]]) -> set[ObjectId]:
    """Pairs as tuples (a JSON channel turns them into lists)."""
    return {(str(kind), str(digest)) for kind, digest in pairs}


# --- the receiving side on this machine ---------------------------------------------------


class LocalEndpoint:
    """An ``Endpoint`` over a store on this machine (also what a remote side runs).

    It holds a lease on the store (the store's own, or one of its own, ended by ``close``)
    that pins every object a sender asks about or sends: gc, running between one object
    and the next, neither removes what has arrived before the version that uses it is
    recorded, nor the unfinished upload of an object still to come.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.incoming = store.root / "incoming"
        try:
            store.objects.ensure()
            (self.incoming / ".locks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot use the store at {store.root}: {exc.strerror}") from None
        self._own_lease = store.lease is None
        store.take_lease("transfer")

    def close(self) -> None:
        """End the lease this endpoint took (the store's own lease is the store's to end)."""
        if self._own_lease:
            self.store.release_lease()

    def _partial_path(self, kind: str, digest: str) -> Path:
        check_object(kind, digest)
        return self.incoming / f"{kind}-{digest}"

    def _lock(self, digest: str) -> AbstractContextManager[None]:
        # 256 lock files that are never deleted: locking a file that a finish removes would
        # let a waiter hold a lock on a dead inode.
        return locked(self.incoming / ".locks" / digest[:2], exclusive=True)

    def missing(self, objects: list[tuple[str, str]]) -> list[tuple[str, str]]:
        ids = [(str(kind), str(digest)) for kind, digest in objects]
        for kind, digest in ids:
            check_object(kind, digest)
        with store_lock(self.store.root):  # what is here now stays until the version is
            self.store.pin_objects(ids)
            return [(k, d) for k, d in ids if not self.store.objects.has(k, d)]

    def partial(self, kind: str, digest: str) -> int:
        try:
            return self._partial_path(kind, digest).stat().st_size
        except FileNotFoundError:
            return 0

    def receive(self, kind: str, digest: str, offset: int, data: bytes) -> int:
        path = self._partial_path(kind, digest)
        if len(data) > MAX_PIECE:
            raise TransferError(
                f"refused {len(data)} bytes of {kind}/{digest} in one piece (at most {MAX_PIECE})"
            )
        self.store.pin_objects([(kind, digest)])  # its unfinished upload is in use
        with self._lock(digest):
            flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT if offset == 0 else 0)
            try:
                fd = os.open(path, flags, 0o600)
            except FileNotFoundError:
                fd = -1
            try:
                held = os.fstat(fd).st_size if fd >= 0 else 0
                if offset != held:
                    raise OffsetMismatch(
                        f"refused {len(data)} bytes of {kind}/{digest} at offset {offset}: "
                        f"the unfinished upload holds {held} bytes, so the next piece must "
                        f"start at offset {held}",
                        held,
                    )
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                return held + len(data)
            finally:
                if fd >= 0:
                    os.close(fd)

    def finish(self, kind: str, digest: str) -> None:
        path = self._partial_path(kind, digest)
        with self._lock(digest), store_lock(self.store.root):
            self.store.pin_objects([(kind, digest)])
            if self.store.objects.has(kind, digest):  # another push published it first
                path.unlink(missing_ok=True)
                return
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise TransferError(
                    f"nothing was received for {kind}/{digest}; send it before finishing"
                ) from None
            actual = hash_file(path)
            if actual != digest:
                path.unlink()
                raise CorruptInTransit(
                    f"{kind}/{digest} was corrupt in transit: the {size} bytes received hash "
                    f"to {actual[:16]}..., so they were discarded and nothing was stored; "
                    "push again"
                )
            self.store.objects.adopt(path, kind, digest)

    def add_version(self, version: dict[str, object]) -> dict[str, object]:
        try:
            record = msgspec.convert(version, Version)
        except msgspec.ValidationError as exc:
            raise TransferError(f"not a version record: {exc}") from None
        check_name(record.name)
        check_object("trees", record.tree)
        with store_lock(self.store.root):  # no gc in between
            lacking = self._lacking(record.tree)
            if lacking:
                raise TransferError(
                    f"cannot record {record.name}: tree {record.tree[:16]} lacks "
                    f"{len(lacking)} object(s) here (first: {lacking[0]}); push them first"
                )
            provenance: dict[str, object] = {
                "created": record.created,
                "user": record.user,
                "host": record.host,
                "source": record.source,
                "source_kind": "transfer",
                "archive_hash": record.archive_hash,
                "git_commit": record.git_commit,
                "message": record.message,
                "files": record.files,
                "bytes": record.bytes,
            }
            added, created = self.store.refs.add(record.name, record.tree, provenance)
        return {"version": msgspec.to_builtins(added), "created": created}

    def lacking_in_tree(self, tree: str) -> list[tuple[str, str]]:
        check_object("trees", tree)
        with store_lock(self.store.root):
            self.store.pin_trees([tree])
            return self._lacking_ids(tree)

    def lacking_below(self, trees: list[str]) -> list[tuple[str, str]]:
        for tree in trees:
            check_object("trees", tree)
        objects = self.store.objects
        with store_lock(self.store.root):
            self.store.pin_trees(trees)
            lacking: dict[tuple[str, str], None] = {}
            for tree in trees:
                try:
                    level = tree_level(read_tree_object(objects, tree), tree, "")
                except Corrupt as exc:
                    raise TransferError(
                        f"tree {tree[:16]} is not a valid tree here: {exc}"
                    ) from None
                for entry, subtree in level:
                    named = [("trees", subtree)] if subtree else []
                    named += [(k, d) for k, d, _ in file_objects(entry)]
                    for obj in named:
                        if obj not in lacking and not objects.has(*obj):
                            lacking[obj] = None
            return list(lacking)

    def _lacking_ids(self, digest: str) -> list[tuple[str, str]]:
        try:
            return lacking_objects(self.store.objects, digest)
        except Corrupt as exc:
            raise TransferError(f"tree {digest[:16]} is not a valid tree here: {exc}") from None

    def _lacking(self, digest: str) -> list[str]:
        return [f"{k}/{d}" for k, d in self._lacking_ids(digest)]


# --- sending from a store on this machine ------------------------------------------------------


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


def version_record(store: Store, version: Version) -> dict[str, object]:
    """A version as the destination is asked to record it (with where it came from)."""
    record: dict[str, object] = msgspec.to_builtins(version)
    record["source"] = f"{version.ref} in {socket.gethostname()}:{store.root.resolve()}"
    return record


async def pull_version(
    source: Source,
    version: Version,
    dest: Store,
    where: str,
    progress: ProgressCallback | None = None,
) -> TransferReport:
    """Bring ``version`` (held by ``source``, which ``where`` names) into ``dest``, each
    object checked with BLAKE3 as it lands, and record it there."""
    endpoint = LocalEndpoint(dest)
    try:
        sink = EndpointSink(endpoint, f"the store at {dest.root}")
        transfer = Transfer(source, sink, progress=progress)
        report = await transfer.send_tree(version.tree)
        transfer.tell("recording")
        record: dict[str, object] = msgspec.to_builtins(version)
        record["source"] = f"{version.ref} in {where}"
        result = await sink.add_version(record)
    finally:
        endpoint.close()
    report.version = msgspec.convert(result["version"], Version).ref
    report.version_created = bool(result["created"])
    transfer.tell("done")
    return report


def push(source: Store, ref: str, dest: Endpoint, chunk_size: int = PIECE) -> TransferReport:
    """Send the version ``ref`` names (NAME, NAME@N, NAME#tag) and record it at ``dest``
    (for callers outside an event loop; :class:`assay.store.remote.RemoteStore` pushes
    from inside one)."""
    return asyncio.run(push_async(source, ref, EndpointSink(dest), chunk_size))


def push_tree(source: Store, tree: str, dest: Endpoint, chunk_size: int = PIECE) -> TransferReport:
    """Send every object ``tree`` needs that ``dest`` lacks (no name is recorded)."""
    return asyncio.run(push_tree_async(source, tree, EndpointSink(dest), chunk_size))


async def push_async(
    source: Store,
    ref: str,
    sink: Sink,
    piece: int = PIECE,
    progress: ProgressCallback | None = None,
) -> TransferReport:
    """:func:`push` to any sink, from inside an event loop."""
    version = source.resolve(ref)
    transfer = Transfer(LocalSource(source), sink, piece, progress=progress)
    record = version_record(source, version)
    with store_lock(source.root):  # no gc of the source meanwhile
        report = await transfer.send_tree(version.tree, complete=not sink.checks_versions)
        transfer.tell("recording")
        try:
            result = await sink.add_version(record)
        except Incomplete:  # a subtree there lacks what a repair there removed: send it
            await transfer.complete(version.tree)
            result = await sink.add_version(record)
    report.version = msgspec.convert(result["version"], Version).ref
    report.version_created = bool(result["created"])
    transfer.tell("done")
    return report


async def push_tree_async(
    source: Store,
    tree: str,
    sink: Sink,
    piece: int = PIECE,
    progress: ProgressCallback | None = None,
) -> TransferReport:
    """:func:`push_tree` to any sink, from inside an event loop."""
    transfer = Transfer(LocalSource(source), sink, piece, progress=progress)
    with store_lock(source.root):
        report = await transfer.send_tree(tree)
    transfer.tell("done")
    return report
