"""A byte pipe to a remote program over one SSH exec channel (the store's agent uses it)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from assay.transports.sshlib import asyncssh

_STDERR_KEPT = 8192  # bytes of a pipe's stderr kept for messages
_EXIT_WAIT = 10.0  # seconds a pipe's program gets to exit after its input ends


class SshPipe:
    """A remote program's stdin and stdout over one exec channel (a :class:`BytePipe`)."""

    def __init__(self, proc: asyncssh.SSHClientProcess[bytes], release: Any) -> None:
        self._proc = proc
        self._release = release
        self._stderr = bytearray()
        self._collector = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            while data := await self._proc.stderr.read(4096):
                self._stderr += data
                del self._stderr[:-_STDERR_KEPT]

    async def read(self, n: int) -> bytes:
        try:
            return await self._proc.stdout.read(n)
        except asyncssh.Error as exc:
            raise _lost(exc) from exc

    def write(self, data: bytes | bytearray) -> None:
        # asyncssh may keep what it is given until it is sent: a copy of a buffer
        self._proc.stdin.write(bytes(data) if isinstance(data, bytearray) else data)

    async def drain(self) -> None:
        try:
            await self._proc.stdin.drain()
        except asyncssh.Error as exc:
            raise _lost(exc) from exc

    async def close(self) -> None:
        try:
            with contextlib.suppress(asyncssh.Error, OSError):
                self._proc.stdin.write_eof()
            try:
                await asyncio.wait_for(self._proc.wait_closed(), _EXIT_WAIT)
            except TimeoutError:
                self._proc.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._collector, 1.0)
        finally:
            self._release()

    def diagnostics(self) -> str:
        text = self._stderr.decode(errors="replace").strip()
        code = self._proc.exit_status
        if code is not None and code != 0:
            status = f"exit status {code}" if code > 0 else f"killed by signal {-code}"
            text = f"{text} ({status})" if text else status
        return text


def _lost(exc: BaseException) -> ConnectionError:
    """asyncssh's "connection lost" or "disconnected" as the :class:`ConnectionError` every
    reader of a byte pipe handles (a local pipe raises that one): an asyncssh error that
    escaped them ended a store client's reader with an exception its close re-raised."""
    return ConnectionError(f"the SSH connection ended: {exc}")
