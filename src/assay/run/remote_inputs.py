"""What a case reads, put on a remote host: sources, artifacts (builds) and reference data.

**This module is the seam where the remote store plugs in.** Everything that gets store
content to a remote host goes through :class:`RemoteInputs` and its two methods,
:meth:`RemoteInputs.stage` (a tree into a case's stage dir, by hard links) and
:meth:`RemoteInputs.checkout` (a tree as a shared read-only directory: an artifact, the
expected outputs of a comparison). Until the remote store lands (its agent spoken to over a
:class:`~assay.transports.base.BytePipe`, ``open_remote_store(pipe, root=...)``), they keep
the simplest correct thing under the partition's remote workdir:

* ``objects/<blake3>`` (``.x`` for executable content): one read-only file per content,
  sent once (through SFTP, under a temporary name, renamed into place when complete, so a
  name is only ever taken by a whole object); what the host has is asked first, in one
  request per tree, so a second run sends nothing it sent before;
* ``trees/<tree digest>/``: checkouts made of hard links to those objects.

Plugging the remote store in replaces :meth:`RemoteInputs._upload` and the two
``link_tree`` calls with the store's own push and stage; the pipeline does not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from assay.run.artifacts import SessionStore
from assay.store.objects import hash_bytes
from assay.store.stage import writable_path
from assay.store.trees import Entry, Tree, encode
from assay.transports.base import RemoteHost


@dataclass
class Sent:
    """What was sent to one host during a session (the report shows it)."""

    objects: int = 0
    object_bytes: int = 0
    files: int = 0  # a case's own files: scripts, rendered inputs, files hooks wrote
    file_bytes: int = 0


def object_name(entry: Entry) -> str:
    assert entry.hash is not None
    return entry.hash + (".x" if entry.executable else "")


class RemoteInputs:
    """Store content on one remote host, under ``root`` (the partition's workdir)."""

    def __init__(self, host: RemoteHost, root: PurePosixPath, store: SessionStore) -> None:
        self.host = host
        self.root = root
        self.objects = root / "objects"
        self.trees = root / "trees"
        self.store = store
        self.sent = Sent()
        self._uploads: dict[str, asyncio.Task[None]] = {}
        self._checkouts: dict[str, asyncio.Task[PurePosixPath]] = {}
        self._ready: asyncio.Task[None] | None = None

    async def stage(self, tree: Tree, target: PurePosixPath, writable: Sequence[str]) -> None:
        """Put ``tree`` into ``target`` on the host: read-only hard links to the objects;
        the ``writable`` paths as private copies."""
        await self._send(tree)
        await self.host.link_tree(self.objects, target, _entries(tree, writable))

    async def checkout(self, tree: Tree, digest: str | None = None) -> PurePosixPath:
        """A read-only directory holding ``tree`` on the host (made once, shared by every
        session there)."""
        digest = digest or hash_bytes(encode(tree))
        task = self._checkouts.get(digest)
        if task is None:
            task = asyncio.ensure_future(self._checkout(tree, digest))
            self._checkouts[digest] = task
        return await asyncio.shield(task)

    async def _checkout(self, tree: Tree, digest: str) -> PurePosixPath:
        final = self.trees / digest
        if not await self.host.missing(self.trees, [digest]):
            return final
        await self._send(tree)
        partial = self.trees / f".{digest}.{secrets.token_hex(4)}"
        await self.host.link_tree(self.objects, partial, _entries(tree, ()))
        try:
            await self.host.rename(partial, final)
        except OSError:  # made meanwhile by another session: theirs is as good
            await self.host.remove(partial)
        return final

    async def _send(self, tree: Tree) -> None:
        """Send the objects of ``tree`` the host lacks."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self.host.mkdir(self.objects))
        await asyncio.shield(self._ready)
        wanted = {object_name(e): e for e in tree.entries if e.type == "file"}
        new = [n for n in wanted if n not in self._uploads]
        if new:
            for name in await self.host.missing(self.objects, new):
                if name not in self._uploads:
                    self._uploads[name] = asyncio.ensure_future(self._upload(name, wanted[name]))
        waits = [self._uploads[n] for n in wanted if n in self._uploads]
        if waits:
            await asyncio.gather(*(asyncio.shield(w) for w in waits))

    async def _upload(self, name: str, entry: Entry) -> None:
        assert entry.hash is not None
        store = self.store.store
        local = await asyncio.to_thread(
            store.objects.blob_path, entry.hash, entry.size, entry.chunk_list(), entry.executable
        )
        partial = self.objects / f".{name}.{secrets.token_hex(4)}"
        try:
            await self.host.put(Path(local), partial)  # its mode (read-only) and mtime too
            await self.host.rename(partial, self.objects / name)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.host.remove(partial)
            raise
        self.sent.objects += 1
        self.sent.object_bytes += entry.size


def _entries(tree: Tree, writable: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in tree.entries:
        item: dict[str, Any] = {"path": e.path, "type": e.type, "mode": e.mode}
        if e.type == "file":
            item["object"] = object_name(e)
            item["writable"] = writable_path(e.path, writable)
        elif e.type == "symlink":
            item["target"] = e.target or ""
        out.append(item)
    return out
