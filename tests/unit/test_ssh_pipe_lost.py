"""A store agent's pipe over SSH whose connection is lost: asyncssh's own error becomes the
``ConnectionError`` every pipe reader handles, so the store client says the connection was
lost and closes cleanly (CI saw ``asyncssh.ConnectionLost`` escape its reader and the close
re-raise it). The lost connection is injected: a real sshd cannot be made to lose it at the
exact read on demand."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from assay.store.remote.client import ConnectionLost, RemoteEndpoint
from assay.transports.ssh_pipe import SshPipe
from assay.transports.sshlib import asyncssh


class _StreamLosingTheConnection:
    async def read(self, n: int) -> bytes:
        raise asyncssh.ConnectionLost("Connection lost")

    async def drain(self) -> None:
        raise asyncssh.ConnectionLost("Connection lost")

    def write(self, data: bytes) -> None:
        pass

    def write_eof(self) -> None:
        raise asyncssh.ConnectionLost("Connection lost")


class _ProcessWhoseConnectionIsLost:
    """Stands for ``asyncssh.SSHClientProcess`` after its connection was lost (fault injection)."""

    def __init__(self) -> None:
        self.stdout = _StreamLosingTheConnection()
        self.stdin = _StreamLosingTheConnection()
        self.stderr = _StreamLosingTheConnection()
        self.exit_status = None

    async def wait_closed(self) -> None:
        return None

    def close(self) -> None:
        pass


def _pipe() -> SshPipe:
    released: list[Any] = []
    return SshPipe(_ProcessWhoseConnectionIsLost(), lambda: released.append(1))  # type: ignore[arg-type]


def test_a_read_or_drain_on_a_lost_connection_is_a_connection_error() -> None:
    async def work() -> None:
        pipe = _pipe()
        with pytest.raises(ConnectionError, match="SSH connection ended: Connection lost"):
            await pipe.read(10)
        with pytest.raises(ConnectionError):
            await pipe.drain()
        await pipe.close()

    asyncio.run(work())


def test_the_store_client_says_the_connection_was_lost_and_closes_without_raising() -> None:
    async def work() -> None:
        endpoint = RemoteEndpoint(_pipe(), "the test host")
        endpoint.start()
        future = endpoint.expect()
        with pytest.raises(ConnectionLost, match="the connection to the test host was lost"):
            await future
        await endpoint.close()  # raised asyncssh.ConnectionLost before

    asyncio.run(work())
