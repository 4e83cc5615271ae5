"""The client end of assay's host agent (:mod:`assay.transports.hostagent`) on one SSH
connection: the framed messages each way, and the job processes it runs for assay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.transports.base import Staging, TransportError
from assay.transports.hostagent.protocol import MAX_FRAME
from assay.transports.ssh_answers import Ended
from assay.transports.sshlib import asyncssh

if TYPE_CHECKING:
    from assay.transports.ssh import SshTransport

HEADER = struct.Struct(">I")  # each message: its length, then JSON
BANNER = b"ASSAY-AGENT-2 "  # the agent's first line, once it runs: then {"home": ...}


class Lost(Exception):
    """The connection dropped before the answer came (the request is sent again)."""


class Garbled(Exception):
    """The agent's output is not its protocol (a hostile host, or something else writing)."""


class Replaced(Exception):
    """The agent that had the request is gone; a new one does not know it."""


@dataclass
class Traffic:
    """What one transport sent its agent, over every connection: channel writes (each at
    least one SSH packet) and the messages in them."""

    writes: int = 0
    frames: int = 0


@dataclass
class Link:
    """One connection and the agent on it."""

    conn: asyncssh.SSHClientConnection
    agent: asyncssh.SSHClientProcess[bytes]
    sftp: asyncssh.SFTPClient
    daemon: int = 0  # the agent daemon's pid: another one has not seen our requests
    reader: asyncio.Task[None] | None = None
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    dead: bool = False
    on_broken: Callable[[Link], None] | None = None  # a write failed: the link is lost
    traffic: Traffic = field(default_factory=Traffic)
    _queued: list[bytes] = field(default_factory=list)

    async def send(self, message: dict[str, Any]) -> None:
        """Queue ``message``; the messages queued during one turn of the event loop (the
        requests of cases that became ready together) go in one channel write, so one SSH
        packet carries many (each packet costs a cipher pass and a wake-up at both ends)."""
        body = json.dumps(message, separators=(",", ":")).encode()
        if len(body) > MAX_FRAME:  # the agent would drop the connection
            raise TransportError(
                f"a request of {len(body)} bytes is more than assay's agent takes in one "
                f"({MAX_FRAME} bytes)"
            )
        if self.dead:
            raise ConnectionError("the connection is lost")
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._flush)
        self._queued.append(HEADER.pack(len(body)) + body)
        self.traffic.frames += 1
        await self.agent.stdin.drain()

    def _flush(self) -> None:
        data, self._queued = b"".join(self._queued), []
        if not data or self.dead:
            return
        self.traffic.writes += 1
        try:
            self.agent.stdin.write(data)
        except (asyncssh.Error, OSError, ConnectionError):
            if self.on_broken is not None:  # what waits for answers learns it is lost
                self.on_broken(self)

    async def receive(self) -> dict[str, Any]:
        """The next message from the agent (an answer or an event)."""
        stream = self.agent.stdout
        (size,) = HEADER.unpack(await stream.readexactly(HEADER.size))
        if size > MAX_FRAME:  # before reading it: memory stays bounded
            raise Garbled(f"announced a message of {size} bytes")
        try:
            message = json.loads(await stream.readexactly(size))
        except ValueError as exc:
            raise Garbled(f"sent a message that is not one of its answers ({exc})") from None
        if not isinstance(message, dict):
            raise Garbled("sent a message that is not one of its answers (not an object)")
        return message

    def close(self) -> None:
        self.dead = True
        with contextlib.suppress(Exception):
            self.sftp.exit()
        self.conn.close()


class RemoteProcess:
    """A job process on the remote host, followed through the agent."""

    def __init__(self, transport: SshTransport, jid: str) -> None:
        self.transport = transport
        self.jid = jid
        self.pid = 0
        self.staging: Staging | None = None  # its files, and what it brings back as it ends
        self._done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def returncode(self) -> int | None:
        if self._done.done() and self._done.exception() is None:
            return self._done.result()
        return None

    def resolve(self, status: int) -> None:
        if not self._done.done():
            self._done.set_result(status)

    def fail(self, exc: BaseException) -> None:
        if not self._done.done():
            self._done.set_exception(exc)

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    async def terminate(self, grace: float) -> int:
        if self._done.done():
            return await self.wait()
        answer = await self.transport.ask("terminate", Ended, job=self.jid, grace=grace)
        self.resolve(answer.status)
        return await self.wait()
