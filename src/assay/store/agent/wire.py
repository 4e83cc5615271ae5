"""Frames: how requests and responses travel over one byte stream in each direction.

A frame is an 8-byte prefix (the header's length, then the payload's length, each a 4-byte
unsigned big-endian integer), the header (a JSON object in UTF-8) and the payload (raw bytes,
often empty). Requests carry ``{"id": N, "op": NAME, ...arguments}``; the response to request
N carries ``{"id": N, "ok": true, "result": ...}`` or ``{"id": N, "ok": false, "error":
{"type": ..., "message": ..., ...}}``. Limits keep the memory of either side bounded whatever
the other sends.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any, Dict, Tuple

if TYPE_CHECKING:
    import io

Header = Dict[str, Any]  # typing: this module runs on Python 3.7
Frame = Tuple[Header, bytearray]

PREFIX = struct.Struct(">II")
MAX_HEADER = 16 * 2**20
MAX_PIECE = 64 * 2**20  # the most one piece of an object may hold (as in assay.store.sync)
MAX_PAYLOAD = MAX_PIECE + 2**20  # a compressed piece may be slightly larger than the piece


class ProtocolError(Exception):
    """The byte stream does not hold well-formed frames (a bug, or not an agent at all)."""


def encode(header: Header, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """One frame's prefix and header (the payload is written after it, uncopied)."""
    data = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(data) > MAX_HEADER:
        raise ProtocolError(f"a header of {len(data)} bytes is over the limit")
    return PREFIX.pack(len(data), len(payload)) + data


def decode_prefix(prefix: bytes | bytearray) -> tuple[int, int]:
    """(header length, payload length), checked against the limits."""
    size, payload = PREFIX.unpack(bytes(prefix))
    if size > MAX_HEADER or payload > MAX_PAYLOAD:
        raise ProtocolError(
            f"a frame announces {size} header and {payload} payload bytes, over the limits: "
            "the other side is not an assay store agent, or not this version"
        )
    return size, payload


def decode_header(data: bytes | bytearray) -> Header:
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"a frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("a frame header is not a JSON object")
    return header


def read_exactly(stream: io.BufferedIOBase, n: int) -> bytearray:
    """``n`` bytes from a binary stream; fewer only at the end of the stream."""
    if n == 0:
        return bytearray()
    buffer = bytearray(n)
    view = memoryview(buffer)
    got = 0
    while got < n:
        count = stream.readinto(view[got:])
        if not count:
            break
        got += count
    return buffer if got == n else buffer[:got]


def read_frame(stream: io.BufferedIOBase) -> Frame | None:
    """The next (header, payload) of a binary stream, or None at its end between frames."""
    prefix = read_exactly(stream, PREFIX.size)
    if not prefix:
        return None
    if len(prefix) < PREFIX.size:
        raise ProtocolError("the stream ended inside a frame")
    size, length = decode_prefix(prefix)
    header = read_exactly(stream, size)
    payload = read_exactly(stream, length)
    if len(header) < size or len(payload) < length:
        raise ProtocolError("the stream ended inside a frame")
    return decode_header(header), payload
