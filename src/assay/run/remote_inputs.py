"""What a case reads, put on a remote host: sources, artifacts (builds) and reference data.

**This module is the seam where the remote store plugs in.** Everything that gets store
content to a remote host goes through :class:`RemoteInputs`, which speaks to an
:class:`InputStore` on that host: ``push_tree`` (send what the host lacks of a stored tree),
``stage`` (a tree into a case's stage dir, by hard links) and ``checkout`` (a tree as a
shared read-only directory: an artifact, the expected outputs of a comparison). Those are
the methods, names and arguments of the remote store's client (``RemoteStore``, made by
``open_remote_store(pipe, root=...)`` over a byte pipe); plugging it in is one change in
:meth:`assay.hosts.Hosts.site`: make the :class:`InputStore` with

    pipe = await transport.open_pipe([python, "-I", "-c", BOOTSTRAP])  # agent_command()
    inputs = await open_remote_store(pipe, root=str(workdir / "store"), where=host)

instead of :class:`ObjectDirectory`. Until then, :class:`ObjectDirectory` keeps the
simplest correct thing under the partition's remote workdir:

* ``objects/<blake3>`` (``.x`` for executable content): one read-only file per content,
  sent once (through SFTP, under a temporary name, renamed into place when complete, so a
  name is only ever taken by a whole object); what the host has is asked first, in one
  request per tree, so a second run sends nothing it sent before. (What arrives is not
  hashed again there: SSH protects it in transit, and the rename publishes only complete
  files; the remote store verifies every object with SHA-256.)
* ``trees/<tree digest>/``: checkouts made of hard links to those objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from assay.run.artifacts import SessionStore
from assay.store import Store
from assay.store.stage import writable_path
from assay.store.trees import Entry, Tree
from assay.transports.base import RemoteHost


@dataclass
class Sent:
    """What was sent to one host during a session (the report shows it)."""

    objects: int = 0
    object_bytes: int = 0
    files: int = 0  # a case's own files: scripts, rendered inputs, files hooks wrote
    file_bytes: int = 0


class InputStore(Protocol):
    """Store content on a remote host (the remote store's client has these methods)."""

    async def push_tree(self, source: Store, tree: str) -> Any:
        """Send every object the stored ``tree`` needs that the host lacks."""

    async def stage(self, tree: str, target: str, writable: Sequence[str] = ()) -> Any:
        """Write ``tree`` into ``target`` there by hard links (``writable``: copies)."""

    async def checkout(self, tree: str) -> str:
        """The read-only directory there that holds ``tree`` (made once, shared)."""

    async def close(self) -> None:
        """Let go of the host."""


def object_name(entry: Entry) -> str:
    assert entry.hash is not None
    return entry.hash + (".x" if entry.executable else "")


class ObjectDirectory:
    """An :class:`InputStore` that is a directory of objects and checkouts under ``root``
    on the host (see the module's docstring)."""

    def __init__(self, host: RemoteHost, root: PurePosixPath) -> None:
        self.host = host
        self.objects = root / "objects"
        self.trees = root / "trees"
        self.sent = Sent()
        self._uploads: dict[str, asyncio.Future[None]] = {}
        self._ready: asyncio.Future[None] | None = None
        self._loaded: dict[str, Tree] = {}

    async def push_tree(self, source: Store, tree: str) -> Sent:
        loaded = self._loaded.get(tree)
        if loaded is None:
            loaded = self._loaded[tree] = await asyncio.to_thread(source.tree, tree)
        if self._ready is None:
            self._ready = asyncio.ensure_future(self.host.mkdir(self.objects))
        await asyncio.shield(self._ready)
        wanted = {object_name(e): e for e in loaded.entries if e.type == "file"}
        new = [n for n in wanted if n not in self._uploads]
        if new:
            for name in await self.host.missing(self.objects, new):
                if name not in self._uploads:
                    self._uploads[name] = asyncio.ensure_future(
                        self._upload(source, name, wanted[name])
                    )
        waits = [self._uploads[n] for n in wanted if n in self._uploads]
        if waits:
            await asyncio.gather(*(asyncio.shield(w) for w in waits))
        return self.sent

    async def _upload(self, source: Store, name: str, entry: Entry) -> None:
        assert entry.hash is not None
        local = await asyncio.to_thread(
            source.objects.blob_path, entry.hash, entry.size, entry.chunk_list(), entry.executable
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

    async def stage(self, tree: str, target: str, writable: Sequence[str] = ()) -> None:
        await self.host.link_tree(
            self.objects, PurePosixPath(target), _entries(self._loaded[tree], writable)
        )

    async def checkout(self, tree: str) -> str:
        final = self.trees / tree
        if not await self.host.missing(self.trees, [tree]):
            return str(final)
        partial = self.trees / f".{tree}.{secrets.token_hex(4)}"
        await self.stage(tree, str(partial))
        try:
            await self.host.rename(partial, final)
        except OSError:  # made meanwhile by another session: theirs is as good
            await self.host.remove(partial)
        return str(final)

    async def close(self) -> None:
        pass


class RemoteInputs:
    """The pipeline's side of the seam: store content for the cases of one host's
    partitions with one remote workdir, each tree sent and checked out once per session."""

    def __init__(self, host: RemoteHost, backend: InputStore, store: SessionStore) -> None:
        self.host = host
        self.backend = backend
        self.store = store
        self.sent = backend.sent if isinstance(backend, ObjectDirectory) else Sent()
        self._pushed: dict[str, asyncio.Future[Any]] = {}
        self._checkouts: dict[str, asyncio.Future[str]] = {}

    async def _digest(self, tree: Tree | str) -> str:
        """A stored tree's digest (a tree made here, e.g. of a directory's files without
        some, is stored first)."""
        if isinstance(tree, str):
            return tree
        return await asyncio.to_thread(self.store.store.put_tree, tree)

    async def _push(self, digest: str) -> None:
        task = self._pushed.get(digest)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(self.backend.push_tree(self.store.store, digest))
            self._pushed[digest] = task
        await asyncio.shield(task)

    async def stage(
        self, tree: Tree | str, target: PurePosixPath, writable: Sequence[str] = ()
    ) -> None:
        """Put ``tree`` (or the stored tree of that digest) into ``target`` on the host:
        read-only hard links to the objects; the ``writable`` paths as private copies."""
        digest = await self._digest(tree)
        await self._push(digest)
        await self.backend.stage(digest, str(target), list(writable))

    async def checkout(self, tree: Tree | str) -> PurePosixPath:
        """A read-only directory holding ``tree`` (or the stored tree of that digest) on
        the host."""
        digest = await self._digest(tree)
        task = self._checkouts.get(digest)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(self._checkout(digest))
            self._checkouts[digest] = task
        return PurePosixPath(await asyncio.shield(task))

    async def _checkout(self, digest: str) -> str:
        await self._push(digest)
        return await self.backend.checkout(digest)


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
