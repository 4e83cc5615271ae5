"""A store on another host, through its agent: push to it, pull from it, stage and check it.

:func:`open_remote_store` takes a :class:`BytePipe` to a process running
:func:`~assay.store.remote.pipes.agent_command`, sends the agent's code down it (or, with
``ship=False``, expects an agent already running there from a shipped file), says hello
with the store's root, and returns a :class:`RemoteStore`. Pushing and pulling use the one
sending algorithm (:mod:`assay.store.transfer`); here are its ends for the far side.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from assay.store.names import Version
from assay.store.objects import hash_bytes
from assay.store.remote.client import Answer, ConnectionLost, RemoteEndpoint
from assay.store.remote.opening import opening_bytes
from assay.store.remote.pipes import BytePipe
from assay.store.store import Store
from assay.store.sync import LocalSource, pull_version, push_async
from assay.store.transfer import (
    PIECE,
    Appended,
    CorruptInTransit,
    Finish,
    ObjectId,
    ProgressCallback,
    Transfer,
    TransferError,
    TransferReport,
)

PROTOCOL = 2
_MISSING_BATCH = 20_000  # object ids per `missing` request (bounded headers)


class RemoteSink:
    """A :class:`~assay.store.transfer.Sink` over an agent: pieces are pipelined, trees go
    compressed, and every object is finished with the SHA-256 of its bytes."""

    needs_sha256 = True
    takes_whole = True  # the agent checks and publishes a whole object from memory
    walks_trees = True
    checks_versions = True  # the agent walks the tree and says Incomplete

    def __init__(self, endpoint: RemoteEndpoint) -> None:
        self.endpoint = endpoint
        self.where = endpoint.where

    async def missing(self, objects: list[ObjectId]) -> set[ObjectId]:
        found: set[ObjectId] = set()
        for start in range(0, len(objects), _MISSING_BATCH):
            batch = [list(o) for o in objects[start : start + _MISSING_BATCH]]
            found.update((k, d) for k, d in await self.endpoint.call("missing", {"objects": batch}))
        return found

    async def missing_in_tree(self, tree: str) -> set[ObjectId]:
        return {(k, d) for k, d in await self.endpoint.call("missing_in_tree", {"tree": tree})}

    async def missing_below(self, trees: list[str]) -> set[ObjectId]:
        found: set[ObjectId] = set()
        for start in range(0, len(trees), _MISSING_BATCH):
            batch = trees[start : start + _MISSING_BATCH]
            answer = await self.endpoint.call("missing_below", {"trees": batch})
            found.update((k, d) for k, d in answer)
        return found

    async def partials(self, objects: list[ObjectId]) -> dict[ObjectId, int]:
        held: dict[ObjectId, int] = {}
        for start in range(0, len(objects), _MISSING_BATCH):
            batch = objects[start : start + _MISSING_BATCH]
            sizes = await self.endpoint.call("partials", {"objects": [list(o) for o in batch]})
            held.update(zip(batch, sizes, strict=True))
        return held

    async def append(
        self, obj: ObjectId, offset: int, data: bytes, finish: Finish | None
    ) -> asyncio.Future[Appended]:
        kind, digest = obj
        args: dict[str, Any] = {"kind": kind, "digest": digest, "offset": offset}
        if finish is not None:
            args["finish"] = {"size": finish.size, "sha256": finish.sha256}
        payload = data
        if kind == "trees" and data:  # names compress; a first-format tree to a third
            args["zlib"] = len(data)
            payload = zlib.compress(data, 6)
        answer = await self.endpoint.submit("receive", args, payload)
        return _mapped(answer, _appended)

    async def append_many(
        self, objects: list[tuple[ObjectId, Finish]], payload: bytes | bytearray
    ) -> asyncio.Future[list[Appended]]:
        listed = [[kind, digest, f.size, f.sha256] for (kind, digest), f in objects]
        answer = await self.endpoint.submit("receive_many", {"objects": listed}, payload)
        return _mapped(answer, lambda a: _appended_many(a, len(objects)))

    async def add_version(self, record: dict[str, object]) -> dict[str, object]:
        result: dict[str, object] = await self.endpoint.call("add_version", {"version": record})
        return result


def _appended(answer: Answer) -> Appended:
    return _one(answer[0])


def _one(result: object) -> Appended:
    if isinstance(result, dict):
        if result.get("present"):
            return Appended(0, present=True)
        held = result.get("held")
        if isinstance(held, int) and not isinstance(held, bool) and held >= 0:
            return Appended(held, published=bool(result.get("published")))
    raise TransferError(f"the agent answered a piece with {result!r}, not what it holds"[:300])


def _appended_many(answer: Answer, count: int) -> list[Appended]:
    results = answer[0]
    if not isinstance(results, list) or len(results) != count:
        raise TransferError(f"the agent answered a batch of {count} objects with {results!r}"[:300])
    return [_one(result) for result in results]


def _mapped(source: asyncio.Future[Answer], convert: Any) -> asyncio.Future[Any]:
    """A future of ``convert(answer)``, done when ``source`` is (at once if it is)."""
    loop = source.get_loop()  # not get_running_loop(): that is a getpid() per call
    target: asyncio.Future[Any] = loop.create_future()

    def settle(done: asyncio.Future[Answer]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
        elif done.exception() is not None:
            target.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            try:
                target.set_result(convert(done.result()))
            except Exception as exc:
                target.set_exception(exc)

    if source.done():
        settle(source)
    else:
        source.add_done_callback(settle)
    return target


class RemoteSource:
    """A :class:`~assay.store.transfer.Source` over an agent (pulling): reads are pipelined;
    trees are checked here with BLAKE3 before anything they name is asked for."""

    def __init__(self, endpoint: RemoteEndpoint) -> None:
        self.endpoint = endpoint
        self.where = endpoint.where
        self._sizes: dict[ObjectId, int] = {}

    async def tree_object(self, digest: str) -> bytes:
        data = bytearray()
        size = None
        while size is None or len(data) < size:
            answer = await self.endpoint.submit(
                "read",
                {
                    "kind": "trees",
                    "digest": digest,
                    "offset": len(data),
                    "length": PIECE,
                    "zlib": True,
                },
                expect=PIECE,
            )
            result, payload = await answer
            size = int(result["size"])
            inflater = zlib.decompressobj()  # never more than a piece: a hostile agent
            piece = inflater.decompress(payload, PIECE)
            if inflater.unconsumed_tail or len(data) + len(piece) > size:
                raise TransferError(f"{self.where}: tree {digest[:16]} inflates past its size")
            if not piece and len(data) < size:
                raise TransferError(f"{self.where}: tree {digest[:16]} ended early")
            data += piece
        if hash_bytes(bytes(data)) != digest:
            raise CorruptInTransit(
                f"{self.where}: tree {digest[:16]} does not hash to its name on arrival: "
                "damaged there (run verify there) or in transit; nothing was stored"
            )
        self._sizes[("trees", digest)] = size
        return bytes(data)

    def fetch(self, obj: ObjectId, offset: int, size: int) -> asyncio.Future[bytes]:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[bytes] = loop.create_future()

        async def ask() -> None:
            try:
                answer = await self.endpoint.submit(
                    "read",
                    {"kind": obj[0], "digest": obj[1], "offset": offset, "length": size},
                    expect=size,
                )
                result.set_result((await answer)[1])
            except Exception as exc:
                result.set_exception(exc)

        task = loop.create_task(ask())
        result.add_done_callback(lambda _: task.cancel() if not task.done() else None)
        return result

    async def sound(self, obj: ObjectId) -> bool:
        return True  # the agent checks its own copies with `verify`; blame the transit


@dataclass
class RemoteVerifyReport:
    """What the agent's ``verify`` found (see :mod:`assay.store.agent.verify`)."""

    checked: int = 0
    unchecked: int = 0  # objects with no SHA-256 on record (put there by assay itself)
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)
    records: list[str] = field(default_factory=list)
    checkouts: dict[str, list[str]] = field(default_factory=dict)
    checked_checkouts: int = 0

    @property
    def clean(self) -> bool:
        return not (self.corrupt or self.missing or self.versions or self.checkouts or self.records)


class RemoteStore:
    """A store behind an agent (see the module's docstring). Close it when done: that ends
    the agent, and with it the lease that keeps what it pinned from garbage collection."""

    def __init__(self, endpoint: RemoteEndpoint, hello: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.root: str = hello["root"]
        self.host: str = hello["host"]
        self.agent_pid: int = hello["pid"]
        self.python: str = hello["python"]
        self.free: int = hello["free"]

    @property
    def where(self) -> str:
        return self.endpoint.where

    async def push(
        self,
        source: Store,
        ref: str,
        *,
        progress: ProgressCallback | None = None,
        piece: int = PIECE,
    ) -> TransferReport:
        """Send the version ``ref`` names and record it here (a new number in this store's
        own sequence of that name, unless its newest version already is that tree)."""
        return await push_async(source, ref, RemoteSink(self.endpoint), piece, progress)

    async def push_tree(
        self, source: Store, tree: str, *, progress: ProgressCallback | None = None
    ) -> TransferReport:
        """Send every object ``tree`` needs that this store lacks (no name is recorded); the
        tree stays pinned while this connection lives."""
        transfer = Transfer(LocalSource(source), RemoteSink(self.endpoint), progress=progress)
        report = await transfer.send_tree(tree)
        transfer.tell("done")
        return report

    async def pull(
        self, dest: Store, ref: str, *, progress: ProgressCallback | None = None
    ) -> TransferReport:
        """Bring the version ``ref`` names here into ``dest`` (each object checked with BLAKE3
        as it lands) and record it there."""
        version = await self.resolve(ref)
        return await pull_version(RemoteSource(self.endpoint), version, dest, self.where, progress)

    async def resolve(self, ref: str) -> Version:
        """The version ``ref`` names here (its tree pinned while this connection lives)."""
        return msgspec.convert(await self.endpoint.call("resolve", {"ref": ref}), Version)

    async def names(self) -> list[str]:
        result: list[str] = await self.endpoint.call("names")
        return result

    async def versions(self, name: str) -> list[Version]:
        records = await self.endpoint.call("versions", {"name": name})
        return [msgspec.convert(r, Version) for r in records]

    async def missing(self, objects: Sequence[ObjectId]) -> set[ObjectId]:
        return await RemoteSink(self.endpoint).missing(list(objects))

    async def pin(self, trees: Sequence[str]) -> None:
        """Keep these stored trees (and all they name) for as long as this connection lives."""
        await self.endpoint.call("pin", {"trees": list(trees)})

    async def stage(
        self, tree: str, target: str, writable: Sequence[str] = (), copy_all: bool = False
    ) -> dict[str, int]:
        """Write ``tree`` into the directory ``target`` there, by hard links (``writable``
        patterns and ``copy_all``: private copies), as :meth:`Store.stage` does here."""
        args = {"tree": tree, "target": target, "writable": list(writable), "copy_all": copy_all}
        result: dict[str, int] = await self.endpoint.call("stage", args)
        return result

    async def checkout(self, tree: str) -> str:
        """The read-only directory there that holds ``tree`` (made once, shared)."""
        result: str = await self.endpoint.call("checkout", {"tree": tree})
        return result

    async def set_aside(self, objects: Sequence[ObjectId]) -> list[str]:
        """Remove those of ``objects`` there that were modified after they were stored (a
        test wrote through a link), so that the next push sends them again."""
        result: list[str] = await self.endpoint.call(
            "set_aside", {"objects": [list(o) for o in objects]}
        )
        return result

    async def verify(self, repair: bool = False) -> RemoteVerifyReport:
        """Re-hash every object there against its SHA-256 of arrival; check every version."""
        result = await self.endpoint.call("verify", {"repair": repair})
        return RemoteVerifyReport(**result)

    @property
    def bytes_sent(self) -> int:
        """Bytes written to the pipe so far (frames, payloads and the agent's code)."""
        return self.endpoint.bytes_sent

    @property
    def bytes_received(self) -> int:
        return self.endpoint.bytes_received

    async def close(self) -> None:
        await self.endpoint.close()

    async def __aenter__(self) -> RemoteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_remote_store(
    pipe: BytePipe,
    *,
    root: str | None,
    where: str = "the remote store",
    purpose: str = "transfer",
    create: bool = True,
    ship: bool = True,
    opened: bytes | None = None,
) -> RemoteStore:
    """Start talking to an agent over ``pipe`` (see the module's docstring). ``root`` is the
    store's directory there (``~`` and relative paths are resolved there; None: the agent's
    default, ``~/.local/share/assay/store``); ``where`` names the host in messages;
    ``create=False`` refuses a store that does not exist yet (pulling, verifying);
    ``opened``: what the caller wrote into the pipe already (as soon as it started it),
    :func:`~assay.store.remote.opening.opening_bytes` of the same arguments (counted, not
    written again)."""
    endpoint = RemoteEndpoint(pipe, where)
    if opened is None:
        endpoint.write_raw(opening_bytes(root, purpose=purpose, create=create, ship=ship))
    else:
        endpoint.bytes_sent += len(opened)
    endpoint.start()
    try:
        hello, _ = await endpoint.expect()
    except ConnectionLost as exc:
        await endpoint.close()
        said = pipe.diagnostics() or exc.said or "it said nothing"
        hint = ""
        if "exit status 127" in said or "python" in said.lower():
            hint = "; it needs Python 3.7 or later as `python3` on that host's PATH"
        raise TransferError(f"the store agent on {where} did not start: {said}{hint}") from None
    except BaseException:
        await endpoint.close()
        raise
    if hello.get("protocol") != PROTOCOL:
        await endpoint.close()
        raise TransferError(
            f"{where}: the agent speaks protocol {hello.get('protocol')}, not {PROTOCOL}"
        )
    endpoint.where = f"{where}:{hello['root']}"
    return RemoteStore(endpoint, hello)
