"""The sending half of a transfer: objects in pieces and batches, pipelined, round by round.

:class:`Sender` holds a transfer's state and sends a list of objects the sink lacks: a
producer task reads ahead (at most ``WINDOW`` bytes not yet handed on), pieces and batches
are handed to the sink in order and acknowledged later, and an object refused because
another upload moved it on is asked about again in the next round.
:class:`~assay.store.transfer.Transfer` adds the walk of the trees on top.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Literal

from assay.store.objects import Corrupt
from assay.store.transfer_types import (
    PIECE,
    Appended,
    BatchSink,
    CorruptInTransit,
    Finish,
    ObjectId,
    OffsetMismatch,
    ProgressCallback,
    Sink,
    Source,
    TransferError,
    TransferProgress,
    TransferReport,
)

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


class Sender:
    """A transfer's state and its sending of objects (see the module's docstring)."""

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

    def tell(self, phase: Literal["checking", "sending", "recording", "done"]) -> None:
        self.status.phase = phase
        if phase == "done":
            self.status.bytes_done = self.status.bytes_total
        self._tell()

    def _tell(self) -> None:
        if self.progress is not None:
            self.progress(self.status)

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
