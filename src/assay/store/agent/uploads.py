"""Receiving objects: which are missing, unfinished uploads, pieces, and publishing.

An object small enough for one piece arrives whole in one request: it is hashed in memory,
written to a temporary file and published, so nothing of a damaged one touches the disk.
Larger objects arrive in pieces appended to ``incoming/KIND-DIGEST``, each only at the
unfinished upload's current size (under the lock of the object's two-digit prefix, as
:class:`assay.store.sync.LocalEndpoint` does, so concurrent uploads of the same object, by
agents or by assay itself, cooperate); the last piece says to finish, and the whole file is
then re-hashed from disk before it is published.

What arrival checks: the bytes are those the client hashed with SHA-256 (and sent that hash
with the object). The client names the object by its BLAKE3 hash, which the standard library
cannot compute: the name is the client's word (see the package docstring).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import AgentStore

from .layout import (
    SHA256,
    CorruptInTransit,
    ObjectId,
    OffsetMismatch,
    Refused,
    check_object,
    new_temp,
    publish,
    seal,
)
from .leases import object_pin
from .trees import lacking as tree_lacking
from .trees import lacking_below as tree_lacking_below
from .wire import MAX_PIECE

_BUF = 1 << 20
_SEAL_FD = os.chmod in os.supports_fd and os.utime in os.supports_fd


def _ids(raw: object) -> list[ObjectId]:
    if not isinstance(raw, list):
        raise Refused("objects must be a list of [kind, digest] pairs")
    ids: list[ObjectId] = []
    for item in raw:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise Refused(f"{item!r} is not a [kind, digest] pair")
        check_object(item[0], item[1])
        ids.append((item[0], item[1]))
    return ids


def missing(store: AgentStore, raw: object) -> list[list[str]]:
    """The objects of ``raw`` the store lacks; all of them pinned (what is here stays)."""
    ids = _ids(raw)
    layout = store.layout
    with store.lock.shared():
        store.pin_objects(ids)
        return [[k, d] for k, d in ids if not layout.has(k, d)]


def missing_in_tree(store: AgentStore, tree: str) -> list[list[str]]:
    """The objects the stored tree ``tree`` needs that the store lacks (walking it on this
    disk; a lacking tree object is named and not entered); the tree is pinned, and with it
    everything it reaches."""
    layout = store.layout
    with store.lock.shared():
        absent, held = tree_lacking(layout, tree)
        store.pin_trees([tree], held)
        return [item.split("/") for item in absent]


def missing_below(store: AgentStore, raw: object) -> list[list[str]]:
    """Of the objects the stored directory objects ``raw`` name directly, those the store
    lacks; the trees are pinned, and with them what they reach: the objects held now, and
    those that arrive later (gc keeps whatever a pinned tree names when it runs), so
    receiving them pins nothing more (each pin is a write and a sync of the lease)."""
    if not isinstance(raw, list):
        raise Refused("trees must be a list of tree digests")
    for tree in raw:
        check_object("trees", tree)
    with store.lock.shared():
        absent, held = tree_lacking_below(store.layout, raw)
        store.pin_trees(raw, [*held, *absent])
        return [[k, d] for k, d in absent]


def partials(store: AgentStore, raw: object) -> list[int]:
    """Bytes held of the unfinished upload of each object (0 if none)."""
    held: list[int] = []
    for kind, digest in _ids(raw):
        try:
            held.append(os.stat(store.layout.partial(kind, digest)).st_size)
        except FileNotFoundError:
            held.append(0)
    return held


def _finish_args(raw: object) -> tuple[int, str]:
    if not isinstance(raw, dict):
        raise Refused("finish must be {size, sha256}")
    size, sha = raw.get("size"), raw.get("sha256")
    if not isinstance(size, int) or size < 0 or not isinstance(sha, str) or not SHA256.match(sha):
        raise Refused("finish must give the object's size and SHA-256 (64 hex digits)")
    return size, sha


def receive(
    store: AgentStore,
    kind: Any,
    digest: Any,
    offset: object,
    data: bytes | bytearray,
    finish: object,
) -> dict[str, Any]:
    """Append ``data`` at ``offset`` of the object's upload, then (with ``finish``) check and
    publish it. The result: ``{"held": N}``, plus ``"published"`` when finished, or
    ``{"present": true}`` when the object was already stored (nothing written)."""
    check_object(kind, digest)
    if not isinstance(offset, int) or offset < 0:
        raise Refused(f"offset must be a byte count, not {offset!r}")
    if len(data) > MAX_PIECE:
        raise Refused(
            f"refused {len(data)} bytes of {kind}/{digest} in one piece (at most {MAX_PIECE})"
        )
    done = None if finish is None else _finish_args(finish)
    layout = store.layout
    if (kind, digest) not in store.covered:
        with store.lock.shared():
            store.pin_objects([(kind, digest)])
    if offset == 0 and done is not None and done[0] == len(data):
        # No look first (a stat per object): the sender asked which objects are lacking
        # just before, and publishing is create-if-absent, so an object that arrived
        # meanwhile costs one discarded write and is reported as not published by this one.
        return _whole(store, kind, digest, data, done[1])
    if layout.has(kind, digest):
        return {"present": True}
    if (kind, digest) in store.covered:
        # A pinned tree keeps the object once it is published; its unfinished upload is
        # kept from gc (which drops those it finds abandoned) only by a pin of its name.
        with store.lock.shared():
            store.lease.pin([object_pin(kind, digest)])
    with layout.upload_lock(digest):
        if layout.has(kind, digest):  # published meanwhile: what is left of an upload goes
            with contextlib.suppress(FileNotFoundError):
                os.unlink(layout.partial(kind, digest))
            return {"present": True}
        held = append_piece(layout.partial(kind, digest), kind, digest, offset, data)
        store.flusher.wrote(len(data))
        if done is None:
            return {"held": held}
        return {"held": held, "published": _finish(store, kind, digest, done)}


def receive_many(store: AgentStore, raw: object, payload: bytearray) -> list[dict[str, Any]]:
    """Whole objects in one request: ``raw`` lists ``[kind, digest, size, sha256]`` of each,
    ``payload`` holds their bytes one after another. Each is checked and published as a
    whole ``receive`` would; the result lists what came of each. The first that fails stops
    the rest (those before it are published; the error names the object)."""
    if not isinstance(raw, list) or not raw:
        raise Refused("objects must be a non-empty list of [kind, digest, size, sha256]")
    items: list[tuple[str, str, int, str]] = []
    total = 0
    for item in raw:
        if not isinstance(item, list) or len(item) != 4:
            raise Refused(f"{item!r} is not a [kind, digest, size, sha256] list")
        kind, digest, size, sha = item
        check_object(kind, digest)
        if not isinstance(size, int) or size < 0:
            raise Refused(f"{size!r} is not the size of {kind}/{digest}")
        if not isinstance(sha, str) or not SHA256.match(sha):
            raise Refused(f"{sha!r} is not a SHA-256 (64 hex digits) of {kind}/{digest}")
        items.append((kind, digest, size, sha))
        total += size
    if total != len(payload):
        raise Refused(
            f"the objects of a batch add up to {total} bytes, but {len(payload)} came with it"
        )
    uncovered = [(k, d) for k, d, _, _ in items if (k, d) not in store.covered]
    if uncovered:
        with store.lock.shared():
            store.pin_objects(uncovered)
    view = memoryview(payload)  # slices, not copies
    results = []
    offset = 0
    for kind, digest, size, sha in items:
        results.append(_whole(store, kind, digest, view[offset : offset + size], sha))
        offset += size
    return results


def _corrupt(kind: str, digest: str, size: int, actual: str) -> CorruptInTransit:
    return CorruptInTransit(
        f"{kind}/{digest} was corrupt in transit: the {size} bytes received hash to "
        f"{actual[:16]}... (SHA-256), not what the sender hashed, so they were discarded "
        "and nothing was stored; push again",
        object=[kind, digest],
    )


def _whole(
    store: AgentStore, kind: str, digest: str, data: bytes | bytearray | memoryview, sha: str
) -> dict[str, Any]:
    """An object that arrived whole: checked in memory, then written and published."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
        raise _corrupt(kind, digest, len(data), actual)
    layout = store.layout
    fd, tmp = new_temp(layout.tmp, "obj-")
    try:
        try:
            _write_all(fd, data)
            seal(fd if _SEAL_FD else tmp, kind)  # the descriptor: no path lookup
        finally:
            os.close(fd)
        # No upload lock: nothing here touches an unfinished upload, and publishing is a
        # link (create if absent), so a concurrent upload of the same object, whole or in
        # pieces, by an agent or by assay, finds it published or publishes first; a sum
        # recorded twice is the same line twice.
        with store.lock.shared():
            layout.record_sum(kind, digest, sha)
            published = publish(layout, tmp, kind, digest, sealed=True)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    store.flusher.wrote(len(data))
    return {"held": len(data), "published": published}


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append_piece(path: str, kind: str, digest: str, offset: int, data: bytes | bytearray) -> int:
    """Append at ``offset``, which must be the upload's size; the new size. A failed write
    (a full disk) is taken back: an upload only ever holds whole pieces. The one writer of
    unfinished uploads, for the agent and for a local store (:mod:`assay.store.endpoint`);
    the caller holds the upload's lock."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | (os.O_CREAT if offset == 0 else 0)
    if not data and offset > 0:  # nothing to write: a finished upload may be read-only
        flags = os.O_RDONLY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        fd = -1
    try:
        held = os.fstat(fd).st_size if fd >= 0 else 0
        if offset != held:
            raise OffsetMismatch(
                f"refused {len(data)} bytes of {kind}/{digest} at offset {offset}: the "
                f"unfinished upload holds {held} bytes, so the next piece must start at "
                f"offset {held}",
                held=held,
            )
        if data:
            try:
                _write_all(fd, data)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, held)
                raise
        return held + len(data)
    finally:
        if fd >= 0:
            os.close(fd)


def _finish(store: AgentStore, kind: str, digest: str, done: tuple[int, str]) -> bool:
    """Check the upload (size, then SHA-256 re-read from disk) and publish it; False if the
    object was published meanwhile by another upload. The caller holds the prefix lock."""
    size, sha = done
    layout = store.layout
    path = layout.partial(kind, digest)
    with store.lock.shared():
        if layout.has(kind, digest):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return False
        try:
            held = os.stat(path).st_size
        except FileNotFoundError:
            raise Refused(
                f"nothing was received for {kind}/{digest}; send it before finishing"
            ) from None
        if held != size:
            os.unlink(path)
            raise CorruptInTransit(
                f"{kind}/{digest}: the unfinished upload holds {held} bytes, not the "
                f"object's {size}, so it was discarded and nothing was stored; push again"
            )
        actual = _hash_file(path)
        if actual != sha:
            os.unlink(path)
            raise _corrupt(kind, digest, size, actual)
        layout.record_sum(kind, digest, sha)
        return publish(layout, path, kind, digest)


def _hash_file(path: str) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            data = fh.read(_BUF)
            if not data:
                return hasher.hexdigest()
            hasher.update(data)
