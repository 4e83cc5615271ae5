"""A TCP forwarder that counts the bytes going each way: what an SSH connection carries,
measured on the wire (used by the remote tests and bench/remote.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class CountingProxy:
    """Listens on 127.0.0.1 (a free port) and forwards every connection to ``target``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = 0  # client -> server bytes
        self.down = 0  # server -> client bytes
        self.connections = 0
        self.opened: list[float] = []  # time.monotonic() of each connection accepted
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.opened.append(time.monotonic())
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upward: bool) -> None:
            try:
                while data := await src.read(1 << 16):
                    if upward:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    def start(self) -> CountingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self, target: tuple[str, int] | None = None) -> None:
        """Drop every connection under way (a network cut); with ``target``, forward the
        next ones there instead (a closed port: the host stays unreachable)."""

        def drop() -> None:
            if target is not None:
                self.target = target
            for writer in self._writers:
                writer.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(drop)

    def reset(self) -> None:
        self.up = self.down = 0


@contextmanager
def counting_proxy(host: str, port: int) -> Iterator[CountingProxy]:
    proxy = CountingProxy(host, port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
