"""The client end of the agent's protocol: framed requests over a :class:`BytePipe`, many in
flight at once (a window of bytes), answers matched to requests by id.

``submit`` sends a request as soon as the window has room and returns a future of its
answer; ``call`` waits for the answer. One reader task takes the answers off the pipe. If the
pipe ends or breaks, every request still waiting fails with :class:`ConnectionLost`, which
says what the remote side said (its stderr) and that sending again resumes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

from assay.store.agent import wire
from assay.store.objects import Corrupt, StoreError
from assay.store.remote.pipes import BytePipe
from assay.store.transfer_types import CorruptInTransit, Incomplete, OffsetMismatch, TransferError

WINDOW = 64 * 2**20  # bytes of requests (and of answers asked for) in flight
_READ = 1 << 20
_JOIN = 1 << 20  # a piece up to this size goes in one write with its frame
# Bytes written between waits for the pipe's buffer to empty (each wait costs a coroutine and
# a lock): what may pile up in this process beyond the pipe's own high-water mark.
_DRAIN_EVERY = 1 << 20


class ConnectionLost(TransferError):
    """The pipe to the agent ended or broke while requests were waiting."""

    def __init__(self, message: str, said: str = "") -> None:
        super().__init__(message)
        self.said = said  # what the remote side wrote on stderr, and how it ended


class AgentBug(Exception):
    """The agent failed in a way that is a bug in assay (its traceback is in the message)."""


Answer = tuple[Any, bytes]  # (the result, the payload)


def _error(where: str, error: dict[str, Any]) -> BaseException:
    kind = error.get("type")
    message = f"{where}: {error.get('message', 'unknown error')}"
    if kind == "OffsetMismatch":
        return OffsetMismatch(message, int(error.get("held", 0)))
    if kind == "CorruptInTransit":
        corrupt = CorruptInTransit(message)
        named = error.get("object")  # which object of a batch (receive_many)
        if isinstance(named, list) and len(named) == 2 and all(isinstance(n, str) for n in named):
            corrupt.object = (named[0], named[1])
        return corrupt
    if kind == "Incomplete":
        return Incomplete(message)
    if kind == "TransferError":
        return TransferError(message)
    if kind == "Corrupt":
        return Corrupt(message)
    if kind == "StoreError":
        return StoreError(message)
    if kind == "AgentBug":
        return AgentBug(f"{message}\n--- the agent's traceback:\n{error.get('traceback', '')}")
    return TransferError(f"{message} (the agent said {kind!r}: not this version's agent?)")


class _Window:
    """Bytes in flight: ``take`` waits (in turn) until there is room, ``give`` returns
    room and wakes the first waiter, with no task made per answer (one answers each piece)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def _fits(self, n: int) -> bool:
        return self.used == 0 or self.used + n <= self.limit

    async def take(self, n: int) -> None:
        if not self._waiters and self._fits(n):
            self.used += n
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, future))
        try:
            await future  # given: the room was taken for this waiter by _wake
        except BaseException:
            if future.done() and not future.cancelled():
                self.used -= n  # room taken for a waiter that left: give it back
            with contextlib.suppress(ValueError):
                self._waiters.remove((n, future))
            self._wake()
            raise

    def give(self, n: int) -> None:
        self.used -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            n, future = self._waiters[0]
            if future.done():  # cancelled meanwhile
                self._waiters.popleft()
                continue
            if not self._fits(n):
                return
            self._waiters.popleft()
            self.used += n
            future.set_result(None)


class RemoteEndpoint:
    """Requests to one agent over ``pipe``; ``where`` names the store in messages."""

    def __init__(self, pipe: BytePipe, where: str, window: int = WINDOW) -> None:
        self.pipe = pipe
        self.where = where
        self.bytes_sent = 0  # bytes written to the pipe (frames and payloads)
        self.bytes_received = 0
        self._window = _Window(window)
        self._next = 0
        self._waiting: dict[int, tuple[asyncio.Future[Answer], int]] = {}
        self._buffer = bytearray()
        self._lost: BaseException | None = None
        self._reader: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._undrained = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        # The loop, kept: get_running_loop() is a getpid() system call per request.
        self._loop = asyncio.get_running_loop()
        self._reader = self._loop.create_task(self._read_answers())

    def write_raw(self, data: bytes) -> None:
        """Bytes ahead of the first frame (the agent's code, for the bootstrap)."""
        self.pipe.write(data)
        self.bytes_sent += len(data)

    async def submit(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        payload: bytes | bytearray = b"",
        expect: int = 0,
    ) -> asyncio.Future[Answer]:
        """Send a request once the window has room (``expect``: payload bytes the answer will
        carry); the future holds its answer or raises what the agent reported."""
        if self._lost is not None:
            raise self._lost
        cost = len(payload) + expect
        await self._window.take(cost)
        self._next += 1
        ident = self._next
        future: asyncio.Future[Answer] = (self._loop or asyncio.get_running_loop()).create_future()
        self._waiting[ident] = (future, cost)
        frame = wire.encode({"id": ident, "op": op, **(args or {})}, payload)
        try:
            if len(payload) <= _JOIN:  # one write (one wake-up of ssh) for frame and piece
                self.pipe.write(frame + payload if payload else frame)
            else:
                self.pipe.write(frame)
                self.pipe.write(payload)
            self.bytes_sent += len(frame) + len(payload)
            self._undrained += len(frame) + len(payload)
            if self._undrained >= _DRAIN_EVERY:  # flow control, not per request
                self._undrained = 0
                async with self._write_lock:  # one drain at a time
                    await self.pipe.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._fail(self._lost_error(exc))
        return future

    def expect(self) -> asyncio.Future[Answer]:
        """The future answer of the next request, which was written already (the opening
        bytes, :mod:`assay.store.remote.opening`, carry the hello request)."""
        if self._lost is not None:
            raise self._lost
        self._next += 1
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = (future, 0)
        return future

    async def call(self, op: str, args: dict[str, Any] | None = None, payload: bytes = b"") -> Any:
        """Send a request and wait for its result."""
        result, _ = await (await self.submit(op, args, payload))
        return result

    async def close(self) -> None:
        """Say bye (if the pipe still works), close it and stop reading."""
        if self._lost is None:
            with contextlib.suppress(TransferError, StoreError, asyncio.TimeoutError):
                await asyncio.wait_for(self.call("bye"), 10)
        await self.pipe.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail(ConnectionLost(f"{self.where}: the connection is closed"))

    # -- answers -----------------------------------------------------------------------------

    async def _read_answers(self) -> None:
        try:
            while True:
                prefix = await self._take(wire.PREFIX.size)
                size, length = wire.decode_prefix(prefix)
                header = wire.decode_header(await self._take(size))
                payload = await self._take(length)
                self._answer(header, payload)
        except asyncio.CancelledError:
            raise
        except (EOFError, ConnectionError, OSError) as exc:
            self._fail(self._lost_error(exc))
        except wire.ProtocolError as exc:
            self._fail(
                TransferError(
                    f"{self.where}: {exc}; the agent's messages: {self.pipe.diagnostics()}"
                )
            )

    def _answer(self, header: dict[str, Any], payload: bytes) -> None:
        entry = self._waiting.pop(header.get("id", -1), None)
        if entry is None:
            raise wire.ProtocolError(f"an answer to no request: {header!r}"[:300])
        future, cost = entry
        self._window.give(cost)
        if future.done():
            return
        if header.get("ok"):
            future.set_result((header.get("result"), payload))
        else:
            future.set_exception(_error(self.where, header.get("error") or {}))
            future.exception()  # retrieved: a caller that stopped waiting is not warned

    async def _take(self, n: int) -> bytes:
        buffer = self._buffer
        while len(buffer) < n:
            data = await self.pipe.read(max(_READ, n - len(buffer)))
            if not data:
                raise EOFError
            buffer += data
            self.bytes_received += len(data)
        out = bytes(buffer[:n])
        del buffer[:n]
        return out

    def _lost_error(self, exc: BaseException) -> ConnectionLost:
        said = self.pipe.diagnostics()
        cause = f": {exc}" if not isinstance(exc, EOFError) and str(exc) else ""
        return ConnectionLost(
            f"the connection to {self.where} was lost{cause}"
            + (f" (the remote side said: {said})" if said else "")
            + "; run it again: a transfer resumes where it stopped",
            said,
        )

    def _fail(self, error: BaseException) -> None:
        if self._lost is None:
            self._lost = error
        waiting, self._waiting = self._waiting, {}
        for future, _ in waiting.values():
            if not future.done():
                future.set_exception(error)
                future.exception()
