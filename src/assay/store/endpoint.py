"""The receiving side of a transfer as plain calls: the :class:`Endpoint` protocol and
:class:`LocalEndpoint`, the one over a store on this machine (see :mod:`assay.store.sync`)."""

from __future__ import annotations

import os
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import msgspec

from assay.store.agent import layout as agent_layout
from assay.store.agent import trees as agent_trees
from assay.store.agent.uploads import append_piece
from assay.store.locking import store_lock
from assay.store.names import Version, check_name
from assay.store.objects import KINDS, StoreError, hash_file, locked
from assay.store.store import Store
from assay.store.transfer import (
    CorruptInTransit,
    ObjectId,
    OffsetMismatch,
    TransferError,
)

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
        # The store as the agent sees one (its tree walks; decoded tree objects kept).
        self._layout = agent_layout.Layout(os.path.abspath(store.root))
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
            try:
                return append_piece(str(path), kind, digest, offset, data)
            except agent_layout.OffsetMismatch as refused:
                held = refused.extra["held"]
                assert isinstance(held, int)
                raise OffsetMismatch(refused.message, held) from None

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
        with store_lock(self.store.root):
            self.store.pin_trees(trees)
            try:
                absent, _ = agent_trees.lacking_below(self._layout, trees)
            except agent_layout.AgentError as exc:
                raise TransferError(f"{exc.message} (here)") from None
            return [(kind, digest) for kind, digest in absent]

    def _lacking_ids(self, digest: str) -> list[tuple[str, str]]:
        """What the stored tree ``digest`` lacks here: the agent's own walk over this store
        (one answer to "is it in the store", for a local store and a store on a host)."""
        try:
            absent, _ = agent_trees.lacking(self._layout, digest)
        except agent_layout.AgentError as exc:
            raise TransferError(f"{exc.message} (here)") from None
        return [(kind, key) for kind, _, key in (a.partition("/") for a in absent)]

    def _lacking(self, digest: str) -> list[str]:
        return [f"{k}/{d}" for k, d in self._lacking_ids(digest)]
