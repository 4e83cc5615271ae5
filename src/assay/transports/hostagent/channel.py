"""The SSH channel handed over by a connector to the daemon: its stdin and stdout arrive
with the connection's first frame (``SCM_RIGHTS``), and are then read and written directly."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading

from .protocol import HEADER, MAX_FRAME, read_exactly

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from typing import Any

ADOPT = "adopt"  # the connector's first frame, with the channel's stdin and stdout attached
_FDS = socket.CMSG_SPACE(2 * struct.calcsize("i"))  # room for those two descriptors


def read_first_frame(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """A connection's first frame, and the descriptors that came with it (the connector's
    channel, see :func:`.connector.hand_over`); they are not inherited by anything the
    daemon starts."""
    data, ancillary, _flags, _address = sock.recvmsg(HEADER.size, _FDS)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds += list(struct.unpack(f"{usable // 4}i", payload[:usable]))
    for fd in fds:
        os.set_inheritable(fd, False)
    try:
        rest = read_exactly(sock, HEADER.size - len(data)) if data else None
        if rest is None:
            raise ValueError("no frame")
        (size,) = HEADER.unpack(data + rest)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes")
        body = read_exactly(sock, size)
        if body is None:
            raise ValueError("no frame")
        message: dict[str, Any] = json.loads(body.decode())
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return message, fds


class Pipes:
    """The SSH channel's stdin and stdout, handed over by its connector, whose socket comes
    with them: closing it lets the connector end (and the channel with it).

    Only the thread that reads closes the read end (:meth:`close_reader`): a ``read`` under
    way is not interrupted by a ``close`` from another thread, and the descriptor's number,
    once free, could name another file for that thread's next read.
    """

    def __init__(self, read_fd: int, write_fd: int, sock: socket.socket) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.sock = sock
        self.lock = threading.Lock()

    def recv(self, size: int) -> bytes:
        return os.read(self.read_fd, size)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def close(self) -> None:
        """Stop writing to the channel and let the connector go (any thread)."""
        with self.lock:
            fd, self.write_fd = self.write_fd, -1
        if fd >= 0:
            os.close(fd)
            close_channel(self.sock)

    def close_reader(self) -> None:
        """Close the read end (the reading thread only, once it has stopped reading)."""
        self.close()
        fd, self.read_fd = self.read_fd, -1
        if fd >= 0:
            os.close(fd)


def close_channel(sock: socket.socket | Pipes) -> None:
    if isinstance(sock, Pipes):
        sock.close()
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def try_connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock
