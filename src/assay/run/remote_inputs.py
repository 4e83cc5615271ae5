"""What a case reads, put on a remote host: sources, artifacts (builds) and reference data.

Everything that gets store content to a remote host goes through :class:`RemoteInputs`,
which speaks to an :class:`InputStore` on that host: ``push_tree`` (send what the host lacks
of a stored tree), ``stage`` (a tree into a case's stage dir, by hard links) and
``checkout`` (a tree as a shared read-only directory: an artifact, the expected outputs of a
comparison). In a run that is :class:`HostStore`: the remote store (:mod:`assay.store.remote`)
at the partition's ``ssh.store`` (default ``WORKDIR/store``), reached through its stdlib
agent, run with ``python3 -I`` over one exec channel of the host's SSH connection (the
transport's :meth:`~assay.transports.base.RemoteHost.open_pipe`, a ``BytePipe``). So the
one transfer algorithm of ``assay store push`` moves a run's inputs too: only the objects
the host lacks are sent, a piece cut off resumes where it stopped, every object is checked
with SHA-256 on arrival, and cases are staged there by hard links.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from assay.run.artifacts import SessionStore
from assay.transports.base import RemoteHost

if TYPE_CHECKING:  # the store's remote side is imported by a remote site's first use
    from assay.store import Store
    from assay.store.remote import RemoteStore
    from assay.store.transfer import TransferProgress, TransferReport
    from assay.store.trees import Tree


class Sent(msgspec.Struct):
    """What was sent to one host during a session (the report shows it)."""

    objects: int = 0  # store objects (blobs, chunks, trees) the host lacked
    object_bytes: int = 0  # bytes of them put on the wire (resumed parts are not sent again)
    files: int = 0  # a case's own files: scripts, rendered inputs, files hooks wrote
    file_bytes: int = 0


class Uploads(Protocol):
    """Who is told how the uploads to a host go (the live display of ``assay run``)."""

    def upload(self, where: str, progress: TransferProgress) -> None:
        """``progress`` of a transfer to ``where`` (on every acknowledged piece, and when
        it is done)."""
        ...


class Links(Protocol):
    """Who is told that a host's connection dropped and came back (the run's display)."""

    def connection(self, where: str, event: str, detail: str) -> None:
        """``event`` is ``"lost"`` (``detail``: what happens now) or ``"back"``
        (``detail``: after how long)."""
        ...


class InputStore(Protocol):
    """Store content on a remote host (the methods of the remote store's client)."""

    async def push_tree(self, source: Store, tree: str) -> TransferReport:
        """Send every object the stored ``tree`` needs that the host lacks."""
        ...

    async def stage(self, tree: str, target: str, writable: Sequence[str] = ()) -> Any:
        """Write ``tree`` into ``target`` there by hard links (``writable``: copies)."""
        ...

    async def checkout(self, tree: str) -> str:
        """The read-only directory there that holds ``tree`` (made once, shared)."""
        ...

    async def set_aside(self, objects: Sequence[tuple[str, str]]) -> list[str]:
        """Remove those of ``objects`` there that a test modified through a link."""
        ...

    async def close(self) -> None:
        """Let go of the host."""
        ...


_ATTEMPTS = 5  # a request cut off by a dropped connection is made again this often


class HostStore:
    """An :class:`InputStore`: the store at ``root`` on ``host``, through the store agent
    over one exec channel (``python -I``, the agent's code sent down the channel: nothing
    is installed there). Opened at first use; when the SSH connection drops, the channel is
    opened again once the transport has reconnected, the trees pushed so far are pinned
    again, and the request is made again: an upload resumes from what the host holds."""

    def __init__(
        self,
        host: RemoteHost,
        root: PurePosixPath,
        python: str,
        where: str,
        uploads: Uploads | None = None,
    ) -> None:
        self.host = host
        self.root = root
        self.python = python
        self.where = where
        self.uploads = uploads
        self._store: RemoteStore | None = None
        self._opening: asyncio.Future[RemoteStore] | None = None
        self._pinned: list[str] = []
        self._pushing = asyncio.Lock()  # one transfer at a time on the channel

    async def _open(self) -> RemoteStore:
        from assay.store.remote import agent_command, open_remote_store

        pipe = await self.host.open_pipe(["sh", "-c", agent_command(self.python)])
        store = await open_remote_store(pipe, root=str(self.root), where=self.where, purpose="run")
        if self._pinned:  # the leases of the lost channel ended with it
            await store.pin(self._pinned)
        return store

    async def _current(self) -> RemoteStore:
        if self._store is not None:
            return self._store
        if self._opening is None or self._opening.done():
            self._opening = asyncio.ensure_future(self._open())
        store = await asyncio.shield(self._opening)
        self._store = store
        return store

    async def _again(self, lost: RemoteStore) -> None:
        """Forget a store whose channel broke (once, whoever notices first)."""
        if self._store is lost:
            self._store = None
            await lost.close()

    async def _call(self, what: str, request: Any) -> Any:
        from assay.store.remote import ConnectionLost

        for attempt in range(1, _ATTEMPTS + 1):
            store = await self._current()
            try:
                return await request(store)
            except ConnectionLost:
                if attempt == _ATTEMPTS:
                    raise
                await self._again(store)
        raise AssertionError(what)  # pragma: no cover - the loop returns or raises

    def _progress(self, progress: TransferProgress) -> None:
        if self.uploads is not None:
            self.uploads.upload(self.where, progress)

    async def push_tree(self, source: Store, tree: str) -> TransferReport:
        async with self._pushing:
            report: TransferReport = await self._call(
                "push", lambda store: store.push_tree(source, tree, progress=self._progress)
            )
        self._pinned.append(tree)
        return report

    async def stage(self, tree: str, target: str, writable: Sequence[str] = ()) -> Any:
        return await self._call("stage", lambda store: store.stage(tree, target, writable))

    async def checkout(self, tree: str) -> str:
        path: str = await self._call("checkout", lambda store: store.checkout(tree))
        return path

    async def set_aside(self, objects: Sequence[tuple[str, str]]) -> list[str]:
        removed: list[str] = await self._call(
            "set_aside", lambda store: store.set_aside(list(objects))
        )
        return removed

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()


def _file_objects(store: SessionStore, digest: str) -> list[tuple[str, str]]:
    """(kind, digest) of every whole file the stored tree ``digest`` names."""
    from assay.store.objects import blob_kind

    entries = store.store.tree(digest).entries
    return [(blob_kind(e.executable), e.hash) for e in entries if e.type == "file" and e.hash]


class RemoteInputs:
    """The pipeline's side of the seam: store content for the cases of one host's
    partitions with one remote workdir, each tree sent and checked out once per session."""

    def __init__(self, host: RemoteHost, backend: InputStore, store: SessionStore) -> None:
        self.host = host
        self.backend = backend
        self.store = store
        self.sent = Sent()
        self._pushed: dict[str, asyncio.Future[Any]] = {}
        self._checkouts: dict[str, asyncio.Future[str]] = {}
        self._shipped: dict[PurePosixPath, asyncio.Future[None]] = {}

    async def _digest(self, tree: Tree | str) -> str:
        """A stored tree's digest (a tree made here, e.g. of a directory's files without
        some, is stored first)."""
        if isinstance(tree, str):
            return tree
        return await asyncio.to_thread(self.store.store.put_tree, tree)

    async def _push(self, digest: str) -> None:
        task = self._pushed.get(digest)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(self._send(digest))
            self._pushed[digest] = task
        await asyncio.shield(task)

    async def _send(self, digest: str) -> None:
        report = await self.backend.push_tree(self.store.store, digest)
        self.sent.objects += report.objects_sent
        self.sent.object_bytes += report.bytes_sent

    async def close(self) -> None:
        await self.backend.close()

    async def stage(
        self, tree: Tree | str, target: PurePosixPath, writable: Sequence[str] = ()
    ) -> None:
        """Put ``tree`` (or the stored tree of that digest) into ``target`` on the host:
        read-only hard links to the objects; the ``writable`` paths as private copies."""
        from assay.store import Corrupt

        digest = await self._digest(tree)
        await self._push(digest)
        try:
            await self.backend.stage(digest, str(target), list(writable))
        except Corrupt:
            # An object there was written through a link (by a run before that was caught,
            # or by hand): set the damaged ones aside, send them again, stage again.
            if not await self.set_aside(await asyncio.to_thread(_file_objects, self.store, digest)):
                raise
            await self._push(digest)
            await self.backend.stage(digest, str(target), list(writable))

    async def ship(self, target: PurePosixPath, tree: Callable[[], Awaitable[Tree]]) -> None:
        """Stage the tree ``tree()`` gives at ``target`` on the host, once per session
        (dependents side by side wait for the one shipment; a failed one is tried again)."""
        task = self._shipped.get(target)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(self._ship(target, tree))
            self._shipped[target] = task
        await asyncio.shield(task)

    async def _ship(self, target: PurePosixPath, tree: Callable[[], Awaitable[Tree]]) -> None:
        await self.stage(await tree(), target)

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

    async def set_aside(self, objects: Sequence[tuple[str, str]]) -> list[str]:
        """Objects a case wrote through its links on the host, removed there; every tree is
        pushed (and checked out) again at its next use, which sends them again."""
        removed = await self.backend.set_aside(objects)
        self._pushed.clear()
        self._checkouts.clear()
        return removed
