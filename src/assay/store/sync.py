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
import socket

import msgspec

from assay.store.endpoint import Endpoint, LocalEndpoint
from assay.store.locking import store_lock
from assay.store.names import Version
from assay.store.store import Store
from assay.store.sync_ends import EndpointSink, LocalSource
from assay.store.transfer import (
    PIECE,
    CorruptInTransit,
    Incomplete,
    OffsetMismatch,
    ProgressCallback,
    Sink,
    Source,
    Transfer,
    TransferError,
    TransferReport,
    tree_objects,
)

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
