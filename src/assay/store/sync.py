"""Sending versions and trees from one store to another, resumably.

The receiving side is an ``Endpoint``: five operations on plain data (strings, integers,
bytes, lists and dicts), so the same code can answer at the far end of an SSH channel.
``LocalEndpoint`` is the one over a ``Store`` on this machine.

``push`` asks which objects of a tree the destination lacks, sends each in pieces from
where an interrupted upload stopped, has the destination re-hash and publish it, and
records the version last: an interrupted push leaves no version and no unverified object.

Unfinished uploads live in the destination's ``incoming/``, one file per object. Every
append happens under a lock and only at the file's current size, so concurrent pushes of
the same object cooperate: one is refused an offset, asks again and continues from there
(or finds the object already published by the other).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import msgspec

from assay.store.locking import store_lock
from assay.store.names import Version, check_name
from assay.store.objects import KINDS, Corrupt, StoreError, blob_kind, hash_file, locked
from assay.store.store import Store
from assay.store.trees import Tree, load_tree

__all__ = [
    "CorruptInTransit",
    "Endpoint",
    "LocalEndpoint",
    "OffsetMismatch",
    "TransferError",
    "TransferReport",
    "push",
    "push_tree",
    "tree_objects",
]

DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_PIECE = 64 * 2**20  # the most one receive() accepts
_MAX_REFUSALS = 1000  # offset refusals tolerated per object (each means another pusher moved)

ObjectId = tuple[str, str]  # (kind, digest)


class TransferError(StoreError):
    """A transfer between stores failed; pushing again resumes it."""


class OffsetMismatch(TransferError):
    """A piece was sent for an offset other than the unfinished upload's size."""

    def __init__(self, message: str, held: int) -> None:
        super().__init__(message)
        self.held = held


class CorruptInTransit(TransferError):
    """What arrived does not hash to the object's name; it was discarded, not published."""


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


def check_object(kind: str, digest: str) -> None:
    """Refuse an object id that is not a kind and a BLAKE3 hex digest (it names a path)."""
    if kind not in KINDS:
        raise TransferError(f"{kind!r} is not an object kind ({', '.join(KINDS)})")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise TransferError(f"{digest!r} is not an object name (64 lowercase hex digits)")


def tree_objects(digest: str, tree: Tree) -> list[ObjectId]:
    """Every object a tree needs, once each: its files' blobs or chunks, then the tree."""
    seen: dict[ObjectId, None] = {}
    for entry in tree.entries:
        if entry.type != "file" or entry.hash is None:
            continue
        if entry.chunks is None:
            seen[(blob_kind(entry.executable), entry.hash)] = None
        else:
            seen.update(dict.fromkeys(("chunks", h) for h, _ in entry.chunks))
    seen[("trees", digest)] = None
    return list(seen)


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

    def _lacking(self, digest: str) -> list[str]:
        objects = self.store.objects
        if not objects.has("trees", digest):
            return [f"trees/{digest}"]
        try:
            tree = load_tree(objects, digest)
        except msgspec.DecodeError as exc:
            raise TransferError(f"tree {digest[:16]} is not a valid tree: {exc}") from None
        return [f"{k}/{d}" for k, d in tree_objects(digest, tree) if not objects.has(k, d)]


# --- the sending side ---------------------------------------------------------------------


@dataclass
class TransferReport:
    """What a push needed, sent, and found already there."""

    tree: str
    objects_needed: int = 0
    objects_sent: int = 0  # objects this push finished (published, or found published)
    bytes_needed: int = 0
    bytes_sent: int = 0  # every piece sent, including any refused (a concurrent push)
    bytes_skipped: int = 0  # objects the destination had (or another push completed)
    bytes_resumed: int = 0  # parts of unfinished uploads it already held
    version: str | None = None  # the destination's reference, e.g. "solver@4"
    version_created: bool = False


def push(source: Store, ref: str, dest: Endpoint, chunk_size: int = 1 << 20) -> TransferReport:
    """Send the version ``ref`` names (NAME, NAME@N, NAME#tag) and record it at ``dest``."""
    version = source.resolve(ref)
    report = push_tree(source, version.tree, dest, chunk_size)
    record: dict[str, object] = msgspec.to_builtins(version)
    record["source"] = f"{version.ref} in {socket.gethostname()}:{source.root.resolve()}"
    result = dest.add_version(record)
    report.version = msgspec.convert(result["version"], Version).ref
    report.version_created = bool(result["created"])
    return report


def push_tree(
    source: Store, tree: str, dest: Endpoint, chunk_size: int = 1 << 20
) -> TransferReport:
    """Send every object ``tree`` needs that ``dest`` lacks (no name is recorded)."""
    if not 0 < chunk_size <= MAX_PIECE:
        raise ValueError(f"chunk_size must be between 1 and {MAX_PIECE}, not {chunk_size}")
    loaded = source.tree(tree)
    objects = tree_objects(tree, loaded)
    sizes: dict[ObjectId, int] = {("trees", tree): len(source.objects.read_tree_bytes(tree))}
    where: dict[ObjectId, str] = {("trees", tree): f"tree {tree[:16]}"}
    for entry in loaded.entries:
        if entry.type != "file" or entry.hash is None:
            continue
        if entry.chunks is None:
            pieces = [(blob_kind(entry.executable), entry.hash, entry.size)]
        else:
            pieces = [("chunks", h, n) for h, n in entry.chunks]
        for kind, digest, size in pieces:
            sizes.setdefault((kind, digest), size)
            where.setdefault((kind, digest), f"file {entry.path}")
    report = TransferReport(
        tree=tree, objects_needed=len(objects), bytes_needed=sum(sizes[o] for o in objects)
    )
    with store_lock(source.root):  # no gc of the source meanwhile
        lacking = _ids(dest.missing(objects))
        for obj in objects:
            if obj in lacking:
                _send(source, dest, obj, sizes[obj], chunk_size, report, where[obj])
            else:
                report.bytes_skipped += sizes[obj]
    return report


def _send(
    source: Store,
    dest: Endpoint,
    obj: ObjectId,
    size: int,
    chunk_size: int,
    report: TransferReport,
    where: str,
) -> None:
    """Send one object from where the destination's unfinished upload stops, then finish."""
    kind, digest = obj
    offset = dest.partial(kind, digest)
    if offset > size:  # more than the object holds: damaged; finishing discards it
        with contextlib.suppress(CorruptInTransit):
            dest.finish(kind, digest)
        if not _ids(dest.missing([obj])):
            report.bytes_skipped += size
            return
        offset = dest.partial(kind, digest)
        if offset > size:
            raise TransferError(f"{kind}/{digest} ({where}): the destination holds too much")
    report.bytes_resumed += offset
    refusals = 0
    with _open_source(source, obj, size, where) as fh:
        if size == 0:
            dest.receive(kind, digest, 0, b"")
        while offset < size:
            fh.seek(offset)
            data = fh.read(min(chunk_size, size - offset))
            report.bytes_sent += len(data)  # refused or not, it went over the wire
            try:
                offset = dest.receive(kind, digest, offset, data)
            except OffsetMismatch as exc:  # another push of the same object moved it on
                refusals += 1
                if refusals > _MAX_REFUSALS:
                    raise
                if not _ids(dest.missing([obj])):
                    report.bytes_skipped += size - offset
                    return
                if exc.held > offset:
                    report.bytes_resumed += min(exc.held, size) - offset
                offset = exc.held
    try:
        dest.finish(kind, digest)
    except CorruptInTransit as exc:
        if not source.objects.verify_object(kind, digest):
            raise Corrupt(
                f"the source store's {kind}/{digest} ({where}) is damaged; "
                "run `assay store verify --repair` there and put it again"
            ) from exc
        raise CorruptInTransit(f"{exc} ({where})") from exc
    report.objects_sent += 1


@contextlib.contextmanager
def _open_source(source: Store, obj: ObjectId, size: int, where: str) -> Iterator[BinaryIO]:
    kind, digest = obj
    path = source.objects.path(kind, digest)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the size check
    except FileNotFoundError:
        raise StoreError(
            f"the source store lacks {kind}/{digest} ({where}); run `assay store verify`"
        ) from None
    with fh:
        actual = os.fstat(fh.fileno()).st_size
        if actual != size:
            raise Corrupt(
                f"the source store's {kind}/{digest} ({where}) has {actual} bytes, not "
                f"{size}; run `assay store verify --repair` there"
            )
        yield fh
