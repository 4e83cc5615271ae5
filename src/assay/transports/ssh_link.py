"""The client end of assay's host agent (:mod:`assay.transports.hostagent`) on one SSH
connection: the framed messages each way, and the job processes it runs for assay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncssh

from assay.transports import hostagent
from assay.transports.ssh_answers import Ended

if TYPE_CHECKING:
    from assay.transports.ssh import SshTransport

HEADER = struct.Struct(">I")  # each message: its length, then JSON
BANNER = b"ASSAY-AGENT-1\n"  # the agent's first line, once it runs


class Lost(Exception):
    """The connection dropped before the answer came (the request is sent again)."""


class Garbled(Exception):
    """The agent's output is not its protocol (a hostile host, or something else writing)."""


class Replaced(Exception):
    """The agent that had the request is gone; a new one does not know it."""


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

    async def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":")).encode()
        self.agent.stdin.write(HEADER.pack(len(body)) + body)
        await self.agent.stdin.drain()

    async def receive(self) -> dict[str, Any]:
        """The next message from the agent (an answer or an event)."""
        stream = self.agent.stdout
        (size,) = HEADER.unpack(await stream.readexactly(HEADER.size))
        if size > hostagent.MAX_FRAME:  # before reading it: memory stays bounded
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
