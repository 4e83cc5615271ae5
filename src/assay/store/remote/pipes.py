"""Byte pipes to a store agent: the seam between the transfer protocol and a transport.

A :class:`BytePipe` is a byte stream each way to a process that runs :func:`agent_command`
on the remote side (its stdin and stdout), plus what that process said on stderr, for
error messages. :func:`assay.store.remote.open_remote_store` ships the agent down the pipe
and speaks the protocol over it; it does not care how the bytes travel. Two pipes are here:

* :class:`ProcessPipe`: any local command (tests run the agent as a local subprocess);
* :class:`OpenSSHPipe`: the OpenSSH client, ``ssh [-F CONFIG] HOST COMMAND``.

An SSH transport with its own connection (asyncssh) implements the same five members over an
exec channel: ``read`` is ``process.stdout.read(n)``, ``write`` ``process.stdin.write``,
``drain`` ``process.stdin.drain()``, ``close`` writes EOF and waits for the exit status, and
``diagnostics`` returns the channel's collected stderr and exit status.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import itertools
import os
import shlex
from collections.abc import Sequence
from typing import Protocol

from assay.store.remote.ciphers import cipher_options

_STDERR_KEPT = 8192  # bytes of the remote's stderr kept for messages
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1 << 20  # a larger pipe to the local ssh: fewer wake-ups per MiB sent
_EXIT_WAIT = 10.0  # seconds a pipe's process gets to exit after its input ends
_HIGH = 4 * _PIPE_SIZE  # bytes waiting in this process before drain() waits
_IOV = 64  # buffers per writev (well under IOV_MAX)


class BytePipe(Protocol):
    """A byte stream to and from a process running :func:`agent_command` remotely."""

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes the remote process wrote; ``b""`` once its output has ended."""
        ...

    def write(self, data: bytes | bytearray) -> None:
        """Queue bytes for the remote process's input (never blocks; see ``drain``); the
        caller does not change ``data`` afterwards (it may be sent from where it is)."""
        ...

    async def drain(self) -> None:
        """Wait until the queued input is down to a few buffers (flow control)."""
        ...

    async def close(self) -> None:
        """End the remote input, wait a little for the process to exit, then stop it."""
        ...

    def diagnostics(self) -> str:
        """What the remote process said on stderr (the tail) and how it ended, or ``""``."""
        ...


def agent_command(python: str = "python3") -> str:
    """The shell command line that runs the agent on the remote side: the interpreter in
    isolated mode reads the agent (compressed) from its stdin, then serves requests there."""
    # Imported here: the agent's bundle module is not part of a local run's start-up.
    from assay.store.agent.bundle import BOOTSTRAP

    return f"{shlex.quote(python)} -I -S -c {shlex.quote(BOOTSTRAP)}"


class _Writer:
    """Writes to a non-blocking pipe without copying what it cannot take at once: that
    waits as views of the callers' buffers and goes out with ``writev`` when the pipe has
    room (asyncio's pipe transport copies it into one growing buffer first: a copy of
    nearly every byte of a push, since ssh keeps the pipe full). Callers hand over their
    buffers: nothing writes into a buffer once it is written here.

    It writes through a duplicate of the transport's descriptor: the transport still owns
    the pipe (it notices the far end closing and closes it at the end)."""

    def __init__(self, fd: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._fd = os.dup(fd)
        os.set_blocking(self._fd, False)
        self._queue: collections.deque[memoryview] = collections.deque()
        self.queued = 0  # bytes waiting here
        self._error: OSError | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._watching = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._error is not None:
            return  # drain() says so (see below): a frame's payload after its head, say
        if not data:
            return
        view = memoryview(data)
        if not self._queue:  # straight into the pipe, as much as it takes
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                # As asyncio's transport does: the error waits for drain(), so that the
                # caller hears first why the far end went (an agent that could not start
                # exits before it reads a byte: that is the message, not "broken pipe").
                self._fail(exc)
                return
            if n == len(view):
                return
            view = view[n:]
            self._watch()
        self._queue.append(view)
        self.queued += len(view)

    async def drain(self, limit: int = _HIGH) -> None:
        """Wait until at most ``limit`` bytes wait here."""
        while self._error is None and self.queued > limit:
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Drop what still waits and let go of the descriptor."""
        self._unwatch()
        self._queue.clear()
        self.queued = 0
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._error is None:
            self._error = BrokenPipeError("the pipe is closed")
        self._wake()

    def _watch(self) -> None:
        if not self._watching:
            self._loop.add_writer(self._fd, self._ready)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_writer(self._fd)
            self._watching = False

    def _ready(self) -> None:
        try:
            n = os.writev(self._fd, list(itertools.islice(self._queue, _IOV)))
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(exc)
            return
        self.queued -= n
        queue = self._queue
        while n:
            head = queue[0]
            if n < len(head):
                queue[0] = head[n:]
                break
            n -= len(head)
            queue.popleft()
        if not queue:
            self._unwatch()
        if self.queued <= _HIGH // 2:
            self._wake()

    def _fail(self, error: OSError) -> None:
        self._error = error
        self._unwatch()
        self._queue.clear()
        self.queued = 0
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class ProcessPipe:
    """A :class:`BytePipe` over a local process's stdin and stdout (stderr is collected)."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._stderr = bytearray()
        self._stderr_task = asyncio.create_task(self._collect())
        pipe = self._stdin.transport.get_extra_info("pipe")
        self._writer: _Writer | None = None
        with contextlib.suppress(OSError, ValueError):  # ValueError: it exited already
            if pipe is not None:
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
                self._writer = _Writer(pipe.fileno())
            self._stdin.transport.set_write_buffer_limits(high=_HIGH)

    @classmethod
    async def start(
        cls, argv: Sequence[str], name: str | None = None, env: dict[str, str] | None = None
    ) -> ProcessPipe:
        """Start ``argv`` (in a session of its own: a Ctrl-C at the terminal reaches assay,
        which then ends the pipe itself)."""
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=env,
                limit=_PIPE_SIZE,
            )
        except OSError as exc:
            # Imported here: ssh starts before the store's modules are loaded.
            from assay.store.transfer_types import TransferError

            raise TransferError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        return cls(process, name or shlex.join(argv[:1]))

    async def _collect(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        while data := await stream.read(4096):
            self._stderr += data
            del self._stderr[:-_STDERR_KEPT]

    async def read(self, n: int) -> bytes:
        return await self._stdout.read(n)

    def write(self, data: bytes | bytearray) -> None:
        if self._writer is None:
            self._stdin.write(data)
        else:
            self._writer.write(data)

    async def drain(self) -> None:
        if self._writer is None:
            await self._stdin.drain()
        else:
            await self._writer.drain()

    async def close(self) -> None:
        if self._writer is not None:
            # What waits here goes first (the last requests, the bye), for as long as the
            # process is given to exit.
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.drain(0), _EXIT_WAIT)
            self._writer.close()
        with contextlib.suppress(OSError, RuntimeError):
            if not self._stdin.is_closing():
                self._stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), _EXIT_WAIT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stderr_task, 1.0)

    async def stop(self) -> None:
        """End the process now (it was started in vain: the transfer will not happen)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.close()

    def diagnostics(self) -> str:
        text = self._stderr.decode(errors="replace").strip()
        code = self.process.returncode
        if code is not None and code != 0:
            status = f"exit status {code}" if code > 0 else f"killed by signal {-code}"
            text = f"{text} ({status})" if text else status
        return text


class OpenSSHPipe(ProcessPipe):
    """A :class:`BytePipe` through the OpenSSH client: ``ssh [options] -- HOST COMMAND``."""

    @classmethod
    async def connect(
        cls,
        host: str,
        command: str,
        *,
        user: str | None = None,
        port: int | None = None,
        config: str | None = None,
        options: Sequence[str] = (),
        ssh: Sequence[str] = ("ssh",),
    ) -> OpenSSHPipe:
        """Run ``command`` (a shell command line, quoted for the remote shell) on ``host``:
        an ssh_config alias or a host name, with what the user's ssh configuration (or
        ``config``) sets for it."""
        argv = ssh_argv(host, command, user=user, port=port, config=config, options=options)
        pipe = await super().start([*ssh, *argv[1:]], name=f"ssh {host}")
        assert isinstance(pipe, OpenSSHPipe)
        return pipe


def ssh_argv(
    host: str,
    command: str,
    *,
    user: str | None = None,
    port: int | None = None,
    config: str | None = None,
    options: Sequence[str] = (),
) -> list[str]:
    """The ``ssh`` command line: no terminal, no escape character (the stream is binary),
    keepalives so that a dead connection is noticed, AES-GCM first unless the user named
    ciphers (:mod:`~assay.store.remote.ciphers`), ``--`` before the host so that no host
    name is ever read as an option."""
    argv = ["ssh", "-T", "-e", "none", "-o", "ServerAliveInterval=15"]
    if config:
        argv += ["-F", config]
    if port:
        argv += ["-p", str(port)]
    if user:
        argv += ["-l", user]
    for option in options:
        argv += ["-o", option]
    argv += cipher_options(config or None, options)
    return [*argv, "--", host, command]


def ssh_program() -> list[str]:
    """The ssh client to run: ``$ASSAY_SSH`` (split as a shell would), else ``ssh``."""
    return shlex.split(os.environ.get("ASSAY_SSH", "")) or ["ssh"]
