"""The wire: frames of a 4-byte big-endian length and a UTF-8 JSON object, in both
directions (requests, answers, events), and the protocol's constants."""

from __future__ import annotations

import json
import struct

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    import socket
    from typing import Any

    from .channel import Pipes

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
PROTOCOL = 2
"""The protocol's version, in the hello answer: a daemon of another version (an older
assay's, still serving a resumed session) is refused by the client, not spoken to."""
REMEMBERED = 4096  # answers kept for requests that must not run twice

ONCE = {"run", "spawn", "rename", "terminate", "shutdown", "kill_all"}
"""Operations that must not run twice for one request (re-sent after a reconnection)."""


def read_frame(sock: socket.socket | Pipes) -> dict[str, Any] | None:
    header = read_exactly(sock, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    body = read_exactly(sock, size)
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body.decode())
    return message


def read_exactly(sock: socket.socket | Pipes, size: int) -> bytes | None:
    chunks = []
    while size:
        data = sock.recv(min(size, 1 << 20))
        if not data:
            return None
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body
