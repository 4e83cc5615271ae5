"""Sending a tree's objects from a source store to a destination, pipelined and resumable.

One algorithm for every direction: a :class:`Source` gives tree objects and bytes of objects
(this machine's store, or a remote one through its agent), a :class:`Sink` takes them (a
local store through :class:`assay.store.sync.LocalEndpoint`, or a remote agent). Trees are
one object per directory: the transfer asks the destination which tree objects it lacks a
level at a time, from the root down, and enters only those (a directory the destination
holds is not read, listed or sent); of the files those directories name, it asks which the
destination lacks. It sends those, then the lacking tree objects, deepest first. Last, the
destination walks the whole tree on its own disk (``missing_in_tree``: nothing of it crosses
the wire) and names anything still lacking (a subtree it held incompletely, after a repair),
which is sent too. Each object is sent in pieces from where an unfinished upload there stops,
the last piece saying "finish" (check and publish). Many pieces are in flight at once: a sink
over a pipe answers them in order while more are sent, so the transfer is not bound by the
round trip.

A piece refused because another upload of the same object moved on (``OffsetMismatch``) or
an object published meanwhile by another push ends that object's round; it is asked about
again afterwards, and sent on from where it then stands. Anything else stops the transfer;
sending again resumes it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Literal

from assay.store.agent import treeobj
from assay.store.objects import Corrupt
from assay.store.transfer_trees import tree_level, tree_objects
from assay.store.transfer_types import (
    PIECE,
    Appended,
    BatchSink,
    CorruptInTransit,
    Finish,
    Incomplete,
    ObjectId,
    OffsetMismatch,
    ProgressCallback,
    Sink,
    Source,
    TransferError,
    TransferProgress,
    TransferReport,
)
from assay.store.trees import file_objects

__all__ = [
    "PIECE",
    "Appended",
    "CorruptInTransit",
    "Finish",
    "Incomplete",
    "ObjectId",
    "OffsetMismatch",
    "ProgressCallback",
    "Sink",
    "Source",
    "Transfer",
    "TransferError",
    "TransferProgress",
    "TransferReport",
    "done",
    "tree_level",
    "tree_objects",
]
WINDOW = 32 * 2**20  # bytes read ahead of what the destination has acknowledged
# Small whole objects go many to a request to a sink that takes them so (``append_many``):
# a request and an answer per object cost both ends more than hashing and writing it.
BATCH_OBJECT = 1 * 2**20  # the largest object that joins a batch
BATCH_BYTES = 2 * 2**20  # a batch ends once it holds this many bytes
BATCH_COUNT = 256  # or this many objects
MAX_ROUNDS = 1000  # rounds of refusals tolerated (each means another upload moved on)


class _Budget:
    """Bytes read ahead and not yet handed on: the producer waits for room."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._cond = asyncio.Condition()

    async def take(self, n: int) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.used == 0 or self.used + n <= self.limit)
            self.used += n

    async def give(self, n: int) -> None:
        async with self._cond:
            self.used -= n
            self._cond.notify_all()


@dataclass
class _Object:
    """One object in one round."""

    obj: ObjectId
    size: int
    offset: int  # where this round starts sending (what the destination held)
    hasher: hashlib._Hash | None
    stopped: bool = False  # refused, or found published: the rest of this round is skipped
    again: bool = False  # ask about it in the next round


@dataclass
class _Piece:
    state: _Object
    offset: int
    size: int
    data: Awaitable[bytes]
    hash_only: bool  # a part the destination holds, read only to hash it
    last: bool


@dataclass
class _Batch:
    """Small whole objects sent in one request (see ``BATCH_BYTES``)."""

    states: list[_Object]
    size: int
    data: Awaitable[bytes | bytearray]  # their bytes, one after another


class Transfer:
    """One transfer of a tree from ``source`` to ``sink`` (see the module's docstring)."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        piece: int = PIECE,
        window: int = WINDOW,
        progress: ProgressCallback | None = None,
    ) -> None:
        if not 0 < piece <= 64 * 2**20:
            raise ValueError(f"a piece must hold between 1 byte and 64 MiB, not {piece}")
        self.source, self.sink = source, sink
        self.piece, self.window = piece, window
        self.progress = progress
        self.report = TransferReport(tree="")
        self.status = TransferProgress("checking")
        self.sizes: dict[ObjectId, int] = {}
        self.where: dict[ObjectId, str] = {}
        self._children: dict[str, list[str]] = {}  # the subtrees each tree object names
        self._acks: list[asyncio.Future[Appended]] = []
        self._fatal: BaseException | None = None
        self._failed: _Object | None = None
        self._lacking_root: list[str] = []  # the tree objects send_tree found lacking
        # Batches only to a sink that checks SHA-256 (each object's hash goes with it).
        self._batches = sink.needs_sha256 and hasattr(sink, "append_many")

    async def send_tree(self, tree: str, complete: bool = True) -> TransferReport:
        """Send every object of ``tree`` the sink lacks (no version is recorded); without
        ``complete``, what the sink holds of subtrees it held before is taken on trust (a
        sink that ``checks_versions`` says when it is not: see :meth:`complete`)."""
        report = self.report = TransferReport(tree=tree)
        self._tell()
        trees, files = await self._lacking_trees(tree, ask=True)
        counted = {("trees", t) for t in trees} | set(files)
        report.objects_needed = len(counted) or 1
        report.bytes_needed = sum(self.sizes.get(o, 0) for o in counted)
        if not trees:  # the sink holds the root: its own walk below says what is lacking
            report.bytes_needed = report.bytes_skipped = self.sizes.get(("trees", tree), 0)
        if self.sink.walks_trees:  # the trees first: the sink reads them and says (few bytes)
            await self._send([("trees", t) for t in reversed(trees)])
            lacking = await self.sink.missing_below(trees) if trees else set()
        else:  # a bucket: ask about each file; a tree goes only after all it names
            lacking = await self.sink.missing(files) if files else set()
        report.bytes_skipped += sum(self.sizes[o] for o in files if o not in lacking)
        await self._send([o for o in files if o in lacking])
        if not self.sink.walks_trees:
            # Children before parents, a whole height at a time (a sink may have many uploads
            # in flight at once, and a subtree may be named at two depths): a tree object in
            # the bucket then always means all it reaches is there.
            heights = self._heights(trees)
            for height in sorted(set(heights.values())):
                await self._send([("trees", t) for t in trees if heights[t] == height])
        self._lacking_root = trees
        if complete:
            await self.complete(tree)
        return report

    async def complete(self, tree: str) -> None:
        """Send what the sink's own walk of ``tree`` finds lacking (after :meth:`send_tree`),
        until it finds nothing."""
        report, trees = self.report, self._lacking_root
        for _ in range(treeobj.MAX_DEPTH + 2):  # each round completes at least one level
            rest = await self.sink.missing_in_tree(tree)
            if not rest:
                return
            unknown = [o for o in rest if o not in self.sizes]
            if unknown:  # under a subtree the sink held: learn sizes from the whole tree
                every_tree, every_file = await self._lacking_trees(tree, ask=False)
                if not trees:  # the sink held the root (a resumed push): count it all
                    every = [("trees", t) for t in every_tree] + every_file
                    report.objects_needed = len(every)
                    report.bytes_needed = sum(self.sizes[o] for o in every)
                    report.bytes_skipped = report.bytes_needed - sum(
                        self.sizes.get(o, 0) for o in rest
                    )
                    report.objects_needed -= len(rest)
                    report.bytes_needed -= sum(self.sizes.get(o, 0) for o in rest)
            if any(o not in self.sizes for o in unknown):
                raise TransferError(
                    f"{self.sink.where} says tree {tree[:16]} needs objects it does not name "
                    f"({sorted(o for o in unknown if o not in self.sizes)[0]})"
                )
            report.objects_needed += len(rest)
            report.bytes_needed += sum(self.sizes[o] for o in rest)
            await self._send(sorted(rest, key=lambda o: o[0] == "trees"))
        raise TransferError(f"{self.sink.where} still lacks objects of tree {tree[:16]}")

    def _heights(self, trees: list[str]) -> dict[str, int]:
        """Of each tree, the longest path down to a tree below it that is not a parent."""
        heights: dict[str, int] = {}

        def height(tree: str) -> int:
            if tree not in heights:
                below = [height(c) for c in self._children.get(tree, ()) if c in wanted]
                heights[tree] = 1 + max(below) if below else 0
            return heights[tree]

        wanted = set(trees)
        for tree in trees:
            height(tree)
        return heights

    async def _lacking_trees(self, root: str, ask: bool) -> tuple[list[str], list[ObjectId]]:
        """The tree objects of ``root`` the sink lacks (``ask``; else all of them), a level at
        a time from the root (parents before children), and the objects of the files they
        name; their sizes and paths go into ``sizes`` and ``where``."""
        if ask and not await self.sink.missing([("trees", root)]):
            data = await self.source.tree_object(root)
            self.sizes[("trees", root)] = len(data)
            self.where[("trees", root)] = f"tree {root[:16]}"
            return [], []
        order: list[str] = []
        files: dict[ObjectId, None] = {}
        seen = {root}
        level = [(root, "")]
        entries = 0
        for _ in range(treeobj.MAX_DEPTH + 1):
            if not level:
                return order, list(files)
            below: list[tuple[str, str]] = []
            for digest, path in level:
                data = await self.source.tree_object(digest)
                self.sizes[("trees", digest)] = len(data)
                self.where[("trees", digest)] = f"directory {path or '.'} (tree {digest[:16]})"
                order.append(digest)
                for entry, subtree in tree_level(data, digest, path):
                    entries += 1
                    if entries > treeobj.MAX_ENTRIES:
                        raise Corrupt(
                            f"tree {root[:16]} has more than {treeobj.MAX_ENTRIES} entries"
                        )
                    if subtree is not None:
                        self._children.setdefault(digest, []).append(subtree)
                    if subtree is not None and subtree not in seen:
                        seen.add(subtree)
                        below.append((subtree, entry.path))
                    for kind, digest_, size in file_objects(entry):
                        self.sizes.setdefault((kind, digest_), size)
                        self.where.setdefault((kind, digest_), f"file {entry.path}")
                        files[(kind, digest_)] = None
            if ask and below:
                lacking = await self.sink.missing([("trees", d) for d, _ in below])
                below = [(d, p) for d, p in below if ("trees", d) in lacking]
            level = below
        raise Corrupt(f"tree {root[:16]} nests directories deeper than {treeobj.MAX_DEPTH}")

    def tell(self, phase: Literal["checking", "sending", "recording", "done"]) -> None:
        self.status.phase = phase
        if phase == "done":
            self.status.bytes_done = self.status.bytes_total
        self._tell()

    def _tell(self) -> None:
        if self.progress is not None:
            self.progress(self.status)

    # -- sending, round by round -------------------------------------------------------------

    async def _send(self, objects: Sequence[ObjectId]) -> None:
        todo = list(objects)
        rounds = 0
        while todo:
            rounds += 1
            if rounds > MAX_ROUNDS:
                raise TransferError(
                    f"gave up after {MAX_ROUNDS} rounds of refused pieces: other uploads to "
                    f"{self.sink.where} keep moving the same objects; push again later"
                )
            # A sink that takes a whole object at offset 0 whatever an unfinished upload there
            # holds is asked only about objects larger than a piece in the first round (a
            # round trip fewer); a later round (after a refusal) asks about all it sends.
            ask = todo
            if rounds == 1 and self.sink.takes_whole:
                ask = [o for o in todo if self.sizes[o] > self.piece]
            held = await self.sink.partials(ask) if ask else {}
            states = [await self._start(obj, held.get(obj, 0)) for obj in todo]
            live = [s for s in states if s is not None]
            self.status.objects_total += len(live)
            self.tell("sending")
            await self._pump(live)
            again = [
                obj for obj, state in zip(todo, states, strict=True) if state is None or state.again
            ]
            still = await self.sink.missing(again) if again else set()
            todo = [obj for obj in again if obj in still]

    async def _start(self, obj: ObjectId, held: int) -> _Object | None:
        """The state of an object for this round; None if its unfinished upload there is
        longer than the object (damaged: finishing it discards it; the next round asks)."""
        size = self.sizes[obj]
        if held > size:
            sha = await self._sha256(obj, size) if self.sink.needs_sha256 else None
            ack = await self.sink.append(obj, held, b"", Finish(size, sha))
            try:
                await ack
            except CorruptInTransit:
                pass
            return None
        self.report.bytes_resumed += held
        self.status.bytes_total += size - held
        return _Object(obj, size, held, hashlib.sha256() if self.sink.needs_sha256 else None)

    async def _sha256(self, obj: ObjectId, size: int) -> str:
        hasher = hashlib.sha256()
        for offset in range(0, size, self.piece):
            hasher.update(await self.source.fetch(obj, offset, min(self.piece, size - offset)))
        return hasher.hexdigest()

    async def _pump(self, states: list[_Object]) -> None:
        """Read ahead (a producer task) and hand pieces on in order (this coroutine)."""
        queue: asyncio.Queue[_Piece | _Batch | None] = asyncio.Queue()
        budget = _Budget(self.window)
        producer = asyncio.create_task(self._produce(states, queue, budget))
        try:
            while (piece := await queue.get()) is not None:
                try:
                    if self._fatal is None:
                        await self._hand_on(piece)
                finally:
                    await budget.give(piece.size)
                if self._fatal is not None:
                    break
        finally:
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            acks, self._acks = self._acks, []
            await asyncio.gather(*acks, return_exceptions=True)
        if not producer.cancelled() and producer.exception() is not None:
            self._note(producer.exception() or AssertionError(), None)
        if self._fatal is not None:
            await self._raise(self._fatal)

    def _batchable(self, state: _Object) -> bool:
        return (
            self._batches
            and state.offset == 0
            and 0 < state.size <= min(BATCH_OBJECT, self.piece)
            and state.obj[0] != "trees"  # trees go one by one, compressed
        )

    def _read_batch(self, states: list[_Object]) -> Awaitable[bytes | bytearray]:
        many = getattr(self.source, "fetch_many", None)
        if many is not None:  # straight into one buffer
            result: Awaitable[bytes | bytearray] = many([(s.obj, s.size) for s in states])
            return result
        reads = [self.source.fetch(s.obj, 0, s.size) for s in states]

        async def joined() -> bytes:
            return b"".join([await read for read in reads])

        return joined()

    async def _produce(
        self, states: list[_Object], queue: asyncio.Queue[_Piece | _Batch | None], budget: _Budget
    ) -> None:
        batch: list[_Object] = []
        batch_bytes = 0

        async def flush() -> None:
            nonlocal batch, batch_bytes
            if batch:
                await budget.take(batch_bytes)
                await queue.put(_Batch(batch, batch_bytes, self._read_batch(batch)))
                batch, batch_bytes = [], 0

        for state in states:
            if self._batchable(state):
                batch.append(state)
                batch_bytes += state.size
                if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_COUNT:
                    await flush()
                continue
            plan = []
            if state.hasher is not None:  # what the destination holds, hashed, not sent
                plan += [
                    (off, min(self.piece, state.offset - off), True)
                    for off in range(0, state.offset, self.piece)
                ]
            sends = [
                (off, min(self.piece, state.size - off), False)
                for off in range(state.offset, state.size, self.piece)
            ]
            plan += sends or [(state.offset, 0, False)]  # all held: an empty piece finishes
            for index, (offset, size, hash_only) in enumerate(plan):
                await budget.take(size)
                data = self.source.fetch(state.obj, offset, size) if size else done(b"")
                last = index == len(plan) - 1
                await queue.put(_Piece(state, offset, size, data, hash_only, last))
        await flush()
        await queue.put(None)

    async def _hand_on(self, piece: _Piece | _Batch) -> None:
        if isinstance(piece, _Batch):
            await self._hand_on_batch(piece)
            return
        state = piece.state
        data = await piece.data
        if len(data) != piece.size:
            raise Corrupt(
                f"{self.source.where}: {state.obj[0]}/{state.obj[1]} "
                f"({self.where[state.obj]}) is shorter than its {state.size} bytes; run "
                "verify there"
            )
        if state.hasher is not None:
            state.hasher.update(data)
        if piece.hash_only or state.stopped:
            return
        finish = None
        if piece.last:
            sha = state.hasher.hexdigest() if state.hasher is not None else None
            finish = Finish(state.size, sha)
        ack = await self.sink.append(state.obj, piece.offset, data, finish)
        self.report.bytes_sent += len(data)
        if ack.done():  # a local sink answers at once: know it before the next piece
            self._acked(ack, state, piece)
        else:
            self._acks.append(ack)
            ack.add_done_callback(lambda fut: self._acked(fut, state, piece))

    async def _hand_on_batch(self, batch: _Batch) -> None:
        data = await batch.data
        if len(data) != batch.size:
            raise Corrupt(
                f"{self.source.where}: the objects of a batch ({self.where[batch.states[0].obj]}"
                f" and {len(batch.states) - 1} more) are shorter than their {batch.size} bytes; "
                "run verify there"
            )
        objects: list[tuple[ObjectId, Finish]] = []
        at = 0
        with memoryview(data) as view:
            for state in batch.states:
                sha = hashlib.sha256(view[at : at + state.size]).hexdigest()
                objects.append((state.obj, Finish(state.size, sha)))
                at += state.size
        sink: BatchSink = self.sink  # type: ignore[assignment]  # _batches says it is one
        ack = await sink.append_many(objects, data)
        self.report.bytes_sent += len(data)
        if ack.done():
            self._acked_batch(ack, batch)
        else:
            self._acks.append(ack)  # type: ignore[arg-type]
            ack.add_done_callback(lambda fut: self._acked_batch(fut, batch))

    def _acked_batch(self, ack: asyncio.Future[list[Appended]], batch: _Batch) -> None:
        if ack.cancelled():
            return
        error = ack.exception()
        if error is not None:
            named = getattr(error, "object", None)
            state = next((s for s in batch.states if s.obj == named), batch.states[0])
            self._note(error, state)
            return
        for state in batch.states:
            if not state.stopped:
                self.report.objects_sent += 1
                self.status.objects_done += 1
        self.status.bytes_done += batch.size
        try:
            self._tell()
        except Exception as exc:  # a progress display that fails stops the transfer
            self._note(exc, None)

    def _acked(self, ack: asyncio.Future[Appended], state: _Object, piece: _Piece) -> None:
        if ack.cancelled():
            return
        error = ack.exception()
        if error is not None:
            self._note(error, state)
            return
        result = ack.result()
        if (result.present or piece.last) and not state.stopped:
            self.report.objects_sent += 1
            self.status.objects_done += 1
        if result.present:
            state.stopped = True  # published by another upload: the rest is not sent
        self.status.bytes_done += piece.size
        try:
            self._tell()
        except Exception as exc:  # a progress display that fails stops the transfer
            self._note(exc, None)

    def _note(self, error: BaseException, state: _Object | None) -> None:
        if isinstance(error, OffsetMismatch) and state is not None:
            state.stopped = state.again = True  # another upload moved it on: ask again
            return
        if self._fatal is None:
            self._fatal, self._failed = error, state

    async def _raise(self, error: BaseException) -> None:
        state = self._failed
        if isinstance(error, CorruptInTransit) and state is not None:
            obj = state.obj
            if not await self.source.sound(obj):
                raise Corrupt(
                    f"the source store's {obj[0]}/{obj[1]} ({self.where[obj]}) is damaged "
                    f"({self.source.where}); run `assay store verify --repair` there and put it "
                    "again"
                ) from error
            raise CorruptInTransit(f"{error} ({self.where[obj]})") from error
        raise error


def done(value: bytes, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[bytes]:
    """A future that already holds ``value`` (what a local source's ``fetch`` returns), of
    ``loop`` (default: the running one)."""
    future: asyncio.Future[bytes] = (loop or asyncio.get_running_loop()).create_future()
    future.set_result(value)
    return future
