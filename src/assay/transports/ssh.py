"""A host reached over SSH (asyncssh): one connection, kept up, for everything on that host.

Every partition on one host (the same SSH settings) shares one :class:`SshTransport`, so one
connection. On it:

* one exec channel runs assay's agent (:mod:`assay.transports.hostagent`, copied to
  ``WORKDIR/bin`` and started with ``python3 -I``). Every command (``sbatch``, ``squeue``,
  ``mkdir``...), every job process and every small file goes through that one channel, as
  framed requests answered concurrently, so the number of channels does not grow with the
  number of commands or cases;
* one SFTP channel moves larger files and trees;
* :meth:`SshTransport.open_pipe` opens an exec channel per byte pipe (the store's agent),
  within ``max_channels``.

Keepalives notice a dead connection. When the connection drops, it is made again with a
capped backoff (0.5 s doubling to 15 s) for up to ``detach_timeout``; requests under way are
sent again on the new connection, and the agent, which kept running, answers each request
it had seen with the answer it gave then (a job is never started twice, ``sbatch`` never
runs twice for one request). Jobs that ended meanwhile are reported when the connection is
back. If it cannot be made again in time, everything waiting fails with one message, and
the agent kills the jobs once ``detach_timeout`` has passed without assay.

Host keys are checked strictly (:mod:`assay.transports.ssh_errors` says how to trust one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import shlex
import shutil
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast

import asyncssh

from assay.config import Ssh
from assay.transports import hostagent
from assay.transports.base import UNKNOWN, CommandResult, TransportError
from assay.transports.download import Downloaded, download
from assay.transports.ssh_errors import connect_problem, host_key_problem, identity_problem

_HEADER = struct.Struct(">I")
_BANNER = b"ASSAY-AGENT-1\n"
_MAX_BACKOFF = 15.0
_STDERR_KEPT = 8192  # bytes of a pipe's stderr kept for messages
_EXIT_WAIT = 10.0  # seconds a pipe's program gets to exit after its input ends
_HURRY = 10.0  # seconds an interrupted run waits for a dropped connection to come back
# Seconds after its time limit (and grace) that a job is killed by the agent even if assay,
# which stops it at the limit itself, does not say so (the connection is down).
_LIMIT_MARGIN = 10.0


_SFTP_ERRNO = {asyncssh.FX_NO_SUCH_FILE: 2, asyncssh.FX_PERMISSION_DENIED: 13}


class _Lost(Exception):
    """The connection dropped before the answer came (the request is sent again)."""


class _Garbled(Exception):
    """The agent's output is not its protocol (a hostile host, or something else writing)."""


class _Replaced(Exception):
    """The agent that had the request is gone; a new one does not know it."""


def connection_key(ssh: Ssh) -> tuple[Any, ...]:
    """What makes two partitions' SSH settings one connection (the rest is per partition)."""
    return (
        ssh.host,
        ssh.user,
        ssh.port,
        ssh.identity,
        ssh.proxy_jump,
        ssh.known_hosts,
        ssh.config,
        ssh.python,
    )


def _expand(path: str) -> str:
    return os.path.expanduser(path)


@dataclass
class _Link:
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
        self.agent.stdin.write(_HEADER.pack(len(body)) + body)
        await self.agent.stdin.drain()

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
        answer = await self.transport.call("terminate", job=self.jid, grace=grace)
        self.resolve(int(answer["status"]))
        return await self.wait()


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
        return await self._proc.stdout.read(n)

    def write(self, data: bytes) -> None:
        self._proc.stdin.write(data)

    async def drain(self) -> None:
        await self._proc.stdin.drain()

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


class SshTransport:
    """Commands, processes and files on one host reached over SSH."""

    name = "ssh"
    remote = True

    def __init__(
        self,
        settings: Ssh,
        *,
        session: str,
        workdirs: Sequence[str] = (),
        runner: str | None = None,
    ) -> None:
        self.settings = settings
        self.host = settings.host
        self.python = settings.python
        self._session = session
        self._workdirs = list(workdirs) or [settings.workdir]
        self._runner = runner or secrets.token_hex(8)
        self._prefix = secrets.token_hex(4)
        self._count = itertools.count(1)
        self._link: _Link | None = None
        self._changed = asyncio.Event()  # set whenever the link comes back or is given up
        self._dead: TransportError | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self._jobs: dict[str, RemoteProcess] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._channels = asyncio.Semaphore(settings.max_channels)
        self._uid = -1
        self.home = PurePosixPath("/")
        self.connections = 0  # made so far: 1 + reconnections
        self.channels = 0  # opened so far, on every connection

    # -- identity ------------------------------------------------------------------------------

    @property
    def uid(self) -> int:
        return self._uid

    @property
    def workdirs(self) -> list[str]:
        """The remote workdirs of the partitions sharing this connection, as configured."""
        return list(self._workdirs)

    def path(self, text: str) -> PurePosixPath:
        """A path on the host as the config gives it: absolute, ``~/...`` or relative to
        the remote home."""
        if text == "~" or text.startswith("~/"):
            return self.home / text[2:]
        return self.home / text  # an absolute ``text`` stays as it is

    @property
    def agent_name(self) -> str:
        """The agent daemon of this session on this host (its socket's name)."""
        digest = hashlib.sha256(repr((self._session, self._workdirs)).encode()).hexdigest()
        return f"assay-{digest[:20]}"

    # -- the connection --------------------------------------------------------------------------

    async def connect(self) -> None:
        """Make the connection (the first time), or raise a one-line :class:`TransportError`."""
        if self._link is not None:
            return
        if self._dead is not None:
            raise self._dead
        self._link = await self._open()

    async def _options(self) -> asyncssh.SSHClientConnectionOptions:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.user:
            kwargs["username"] = s.user
        if s.port:
            kwargs["port"] = s.port
        if s.identity:
            problem = identity_problem(s.identity)
            if problem is not None:
                raise problem
            kwargs["client_keys"] = [_expand(s.identity)]
        if s.proxy_jump:
            kwargs["tunnel"] = s.proxy_jump
        if s.known_hosts:
            kwargs["known_hosts"] = _expand(s.known_hosts)
        if s.config:
            if not Path(_expand(s.config)).is_file():
                raise TransportError(f"ssh config {s.config}: no such file")
            config: Any = [_expand(s.config)]
        else:
            config = ()  # ~/.ssh/config, if there is one
        try:
            options: asyncssh.SSHClientConnectionOptions
            options = await asyncssh.SSHClientConnectionOptions.construct(
                host=s.host,
                config=config,
                connect_timeout=float(s.connect_timeout),
                keepalive_interval=float(s.keepalive),
                keepalive_count_max=3,
                **kwargs,
            )
        except (OSError, ValueError, asyncssh.Error) as exc:
            raise TransportError(f"ssh settings for {s.host}: {exc}") from None
        return options

    def _known_hosts_files(self, options: asyncssh.SSHClientConnectionOptions) -> list[str]:
        if self.settings.known_hosts:
            return [self.settings.known_hosts]
        listed = options.known_hosts
        if isinstance(listed, str):
            return [listed]
        if isinstance(listed, list | tuple) and all(isinstance(f, str) for f in listed):
            return list(listed) or ["~/.ssh/known_hosts"]
        return ["~/.ssh/known_hosts"]

    async def _open(self) -> _Link:
        options = await self._options()
        try:
            conn = await asyncssh.connect(options.host, options=options)
        except asyncssh.HostKeyNotVerifiable:
            raise await host_key_problem(options, self._known_hosts_files(options)) from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise connect_problem(exc, options, self.settings.identity) from None
        try:
            return await self._start_agent(conn)
        except BaseException:
            conn.close()
            raise

    async def _start_agent(self, conn: asyncssh.SSHClientConnection) -> _Link:
        try:
            self.channels += 1
            sftp = await conn.start_sftp_client()
            self.home = PurePosixPath(await sftp.realpath("."))
            program = await self._ship_agent(sftp)
            command = shlex.join(
                [
                    self.python,
                    "-I",
                    str(program),
                    "connect",
                    self.agent_name,
                    str(float(self.settings.detach_timeout)),
                ]
            )
            self.channels += 1
            agent = await conn.create_process(command, encoding=None)
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(f"{self.host}: cannot start assay's agent: {exc}") from None
        try:
            banner = await asyncio.wait_for(agent.stdout.readline(), 60)
        except (TimeoutError, asyncssh.Error, OSError):
            banner = b""
        if banner != _BANNER:
            agent.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(agent.wait_closed(), 5)
            said = ""
            with contextlib.suppress(Exception):
                said = (await asyncio.wait_for(agent.stderr.read(4000), 5)).decode(errors="replace")
            first = (said.strip().splitlines() or [banner.decode(errors="replace").strip()])[-1]
            raise TransportError(
                f"{self.host}: assay's agent did not start with {self.python!r} "
                f"({first or 'no answer'}); set ssh.python to a Python >= 3.7 on the host"
            )
        link = _Link(conn, agent, sftp)
        link.reader = asyncio.create_task(self._read(link), name=f"ssh {self.host}")
        hello = await self._exchange(
            link,
            {
                "rid": self._rid(),
                "op": "hello",
                "runner": self._runner,
                "linger": float(self.settings.detach_timeout),
                "roots": [str(self.path(w)) for w in self._workdirs],
            },
        )
        link.daemon = int(hello["pid"])
        self._uid = int(hello["uid"])
        self.connections += 1
        self._catch_up(hello.get("jobs") or {})
        return link

    async def _ship_agent(self, sftp: asyncssh.SFTPClient) -> PurePosixPath:
        """The agent's file on the host, named by its content (copied once per version)."""
        data = Path(hostagent.__file__).read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        folder = self.path(self._workdirs[0]) / "bin"
        target = folder / f"hostagent-{digest}.py"
        with contextlib.suppress(asyncssh.SFTPError):
            # Used only if it holds exactly these bytes (a damaged copy is written again).
            async with sftp.open(str(target), "rb") as fh:
                held = cast(bytes, await fh.read(len(data) + 1))  # "rb": bytes
                if held == data:
                    return target
        await sftp.makedirs(str(folder), exist_ok=True)
        partial = folder / f".{target.name}.{secrets.token_hex(4)}"
        async with sftp.open(str(partial), "wb") as fh:
            await fh.write(data)
        await sftp.posix_rename(str(partial), str(target))
        return target

    def _catch_up(self, jobs: Mapping[str, int | None]) -> None:
        """After (re)connecting: the jobs that ended meanwhile, and those the agent lost."""
        for jid, proc in list(self._jobs.items()):
            if jid in jobs:
                status = jobs[jid]
                if status is not None:
                    proc.resolve(int(status))
            elif proc.pid:  # started, and unknown to this agent: it is not the one we had
                proc.fail(
                    TransportError(
                        f"{self.host}: assay's agent there stopped while the job ran "
                        f"(pid {proc.pid}); the job was stopped too, run the case again"
                    )
                )

    async def _read(self, link: _Link) -> None:
        """Answers and events from the agent, until the connection ends."""
        stream = link.agent.stdout
        try:
            while True:
                header = await stream.readexactly(_HEADER.size)
                (size,) = _HEADER.unpack(header)
                if size > hostagent.MAX_FRAME:  # before reading it: memory stays bounded
                    raise _Garbled(f"announced a message of {size} bytes")
                try:
                    message = json.loads(await stream.readexactly(size))
                    if "event" in message:
                        self._on_event(message)
                        continue
                    waiting = link.pending.get(str(message.get("rid")))
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise _Garbled(
                        f"sent a message that is not one of its answers ({exc})"
                    ) from None
                if waiting is not None and not waiting.done():
                    waiting.set_result(message)
        except _Garbled as exc:
            self._give_up(
                TransportError(
                    f"{self.host}: what answers as assay's agent there {exc}; check that "
                    f"`{self.python}` on the host runs the agent assay sent, and that nothing "
                    f"else writes to its output"
                )
            )
        except (asyncio.IncompleteReadError, asyncssh.Error, OSError):
            pass
        finally:
            self._lost(link)

    def _give_up(self, error: TransportError) -> None:
        """No more connections: every request and job fails with ``error``."""
        if self._dead is None:
            self._dead = error
        for proc in self._jobs.values():
            proc.fail(self._dead)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _on_event(self, message: dict[str, Any]) -> None:
        if message.get("event") == "exit":
            proc = self._jobs.get(str(message.get("job")))
            if proc is not None:
                proc.resolve(int(message["status"]))

    def _lost(self, link: _Link) -> None:
        """The connection ``link`` is gone: fail what waits on it; connect again."""
        if link.dead and self._link is not link:
            return
        link.close()
        for waiting in link.pending.values():
            if not waiting.done():
                waiting.set_exception(_Lost())
        if self._link is link:
            self._link = None
            self._changed.set()
            self._changed = asyncio.Event()
            if not self._closing and self._dead is None and self._reconnecting is None:
                self._reconnecting = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + float(self.settings.detach_timeout)
        delay = 0.5
        last: Exception | None = None
        try:
            while not self._closing:
                try:
                    self._link = await self._open()
                    return
                except TransportError as exc:
                    last = exc
                    if "host key" in str(exc) or "authentication failed" in str(exc):
                        break  # asking again will not change that
                if loop.time() + delay > give_up:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
            self._give_up(
                TransportError(
                    f"lost the connection to {self.host} and could not make it again within "
                    f"{self.settings.detach_timeout}: {last}"
                )
            )
        finally:
            self._reconnecting = None
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def _ready(self) -> _Link:
        """The connection, once it is up. A task being cancelled (the run is interrupted)
        waits at most :data:`_HURRY` seconds for it: what it cannot stop, the agent stops
        once ``detach_timeout`` has passed without assay."""
        task = asyncio.current_task()
        hurry = task is not None and task.cancelling() > 0
        loop = asyncio.get_running_loop()
        until = loop.time() + _HURRY
        while True:
            if self._link is not None and not self._link.dead:
                return self._link
            if self._dead is not None:
                raise self._dead
            if self._closing:
                raise TransportError(f"the connection to {self.host} is closed")
            if self._reconnecting is None:
                self._reconnecting = asyncio.create_task(self._reconnect())
            if not hurry:
                await self._changed.wait()
                continue
            try:
                async with asyncio.timeout(max(0.0, until - loop.time())):
                    await self._changed.wait()
            except TimeoutError:
                raise TransportError(
                    f"{self.host} cannot be reached to stop its jobs; assay's agent there "
                    f"stops them once {self.settings.detach_timeout} pass without assay"
                ) from None

    # -- requests --------------------------------------------------------------------------------

    def _rid(self) -> str:
        return f"{self._prefix}-{next(self._count)}"

    async def _exchange(self, link: _Link, message: dict[str, Any]) -> dict[str, Any]:
        rid = message["rid"]
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        link.pending[rid] = waiting
        try:
            try:
                await link.send(message)
            except (asyncssh.Error, OSError, ConnectionError):
                self._lost(link)
                raise _Lost() from None
            return await waiting
        finally:
            link.pending.pop(rid, None)

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """One request to the agent, sent again after a reconnection until answered; the
        answer, or the OSError (or TransportError) the agent reported."""
        message = {"rid": self._rid(), "op": op, **args}
        daemon = None
        while True:
            link = await self._ready()
            if daemon is not None and link.daemon != daemon and op in hostagent.ONCE:
                raise _Replaced()
            daemon = link.daemon
            try:
                answer = await self._exchange(link, message)
            except _Lost:
                continue
            if answer.get("ok"):
                return answer
            number = answer.get("errno")
            if isinstance(number, int):
                raise OSError(number, str(answer.get("error")), answer.get("filename"))
            raise TransportError(f"{self.host}: assay's agent: {answer.get('error')}")

    # -- commands and processes --------------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: PurePosixPath | None = None,
    ) -> CommandResult:
        try:
            answer = await self.call(
                "run",
                argv=list(argv),
                timeout=timeout,
                env=dict(env or {}),
                cwd=None if cwd is None else str(cwd),
            )
        except _Replaced:
            return CommandResult(
                UNKNOWN, "", f"{argv[0]}: the connection to {self.host} was lost while it ran"
            )
        except OSError as exc:
            return CommandResult(127, "", f"{argv[0]}: {exc.strerror}")
        return CommandResult(int(answer["code"]), answer["stdout"], answer["stderr"])

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: PurePosixPath,
        stdout: PurePosixPath,
        stderr: PurePosixPath,
        env: Mapping[str, str] | None = None,
        time_limit: float | None = None,
    ) -> RemoteProcess:
        jid = f"{self._prefix}-job-{next(self._count)}"
        proc = RemoteProcess(self, jid)
        self._jobs[jid] = proc
        limit = None if time_limit is None else float(time_limit) + _LIMIT_MARGIN
        try:
            answer = await self.call(
                "spawn",
                job=jid,
                argv=list(argv),
                cwd=str(cwd),
                stdout=str(stdout),
                stderr=str(stderr),
                env=dict(env or {}),
                limit=limit,
            )
        except _Replaced:
            del self._jobs[jid]
            raise TransportError(
                f"{self.host}: the job could not be started (assay's agent was restarted)"
            ) from None
        except BaseException:
            del self._jobs[jid]
            raise
        proc.pid = int(answer["pid"])
        return proc

    async def end(self, proc: Any) -> None:
        assert isinstance(proc, RemoteProcess)
        try:
            if proc.returncode is None:  # the agent ends a job's leftovers as it exits
                await self.call("end", job=proc.jid)
        finally:
            self._jobs.pop(proc.jid, None)

    async def shutdown(self, grace: float) -> None:
        live = [p for p in self._jobs.values() if p.returncode is None]
        if live and self._dead is None:
            await asyncio.gather(*(p.terminate(grace) for p in live), return_exceptions=True)

    def kill_all(self) -> None:
        if self._link is None or self._dead is not None:
            return
        task = asyncio.get_running_loop().create_task(self.call("kill_all"))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Stop every job left, stop the agent (waiting until it is gone), close the
        connection."""
        link = self._link
        if link is not None and self._dead is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.call("shutdown"), 30)
            if link.reader is not None:  # it ends when the agent has exited
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(link.reader), 10)
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        link, self._link = self._link, None
        if link is not None:
            link.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.conn.wait_closed(), 10)

    async def open_pipe(self, argv: Sequence[str]) -> SshPipe:
        await self._channels.acquire()
        try:
            link = await self._ready()
            self.channels += 1
            proc = await link.conn.create_process(shlex.join(argv), encoding=None)
        except BaseException:
            self._channels.release()
            raise
        return SshPipe(proc, self._channels.release)

    # -- files ------------------------------------------------------------------------------------

    async def write_bytes(self, path: PurePosixPath, data: bytes, mode: int = 0o644) -> None:
        await self.call(
            "write",
            path=str(path),
            data=base64.b64encode(data).decode(),
            mode=None if mode == 0o644 else mode,
        )

    async def write_files(
        self, directory: PurePosixPath, files: Iterable[tuple[str, bytes, int]]
    ) -> None:
        """Several small files under ``directory`` in one request: (relative path, content,
        mode)."""
        listed = [
            {"path": rel, "data": base64.b64encode(data).decode(), "mode": mode}
            for rel, data, mode in files
        ]
        await self.call("write_files", dir=str(directory), files=listed)

    async def read_bytes(self, path: PurePosixPath, limit: int | None = None) -> bytes:
        answer = await self.call("read", path=str(path), limit=limit)
        return base64.b64decode(answer["data"])

    async def rename(self, source: PurePosixPath, target: PurePosixPath) -> None:
        await self.call("rename", source=str(source), target=str(target))

    async def mkdir(self, path: PurePosixPath) -> None:
        await self.call("mkdir", path=str(path))

    async def remove(self, path: PurePosixPath) -> None:
        await self.call("remove", path=str(path))

    async def prepare(
        self, directory: PurePosixPath, files: Iterable[tuple[str, bytes, int]], fresh: bool
    ) -> dict[str, list[int]]:
        """A case's directory in one request: emptied first (``fresh``), ``files`` written
        (relative path, content, mode); what it holds then (:meth:`files_below`)."""
        listed = [
            {"path": rel, "data": base64.b64encode(data).decode(), "mode": mode}
            for rel, data, mode in files
        ]
        answer = await self.call("prepare", dir=str(directory), files=listed, fresh=fresh)
        found: dict[str, list[int]] = answer["files"]
        return found

    async def files_below(self, directory: PurePosixPath) -> dict[str, list[int]]:
        """Every file below ``directory``: relative path -> [size, mtime in ns]."""
        answer = await self.call("snapshot", dir=str(directory))
        files: dict[str, list[int]] = answer["files"]
        return files

    async def collect(
        self,
        directory: PurePosixPath,
        *,
        names: Sequence[str],
        patterns: Sequence[str],
        baseline: Mapping[str, list[int]],
        max_file: int,
        max_total: int,
    ) -> tuple[list[tuple[str, bytes, int, int]], list[tuple[str, int]]]:
        """What a run left worth bringing back (:func:`hostagent.collect`), in one request."""
        answer = await self.call(
            "collect",
            dir=str(directory),
            names=list(names),
            patterns=list(patterns),
            baseline=dict(baseline),
            max_file=max_file,
            max_total=max_total,
        )
        found = [
            (f["path"], base64.b64decode(f["data"]), int(f["size"]), int(f["mode"]))
            for f in answer["files"]
        ]
        return found, [(str(p), int(n)) for p, n in answer["left"]]

    async def _sftp(self, work: Any) -> None:
        """Run ``work(sftp)``, again on the next connection if this one drops meanwhile."""
        while True:
            link = await self._ready()
            try:
                await work(link.sftp)
                return
            except (asyncssh.Error, OSError, ConnectionError) as exc:
                if link.dead or link.conn.is_closed():
                    self._lost(link)
                    continue
                if isinstance(exc, asyncssh.SFTPError):
                    raise OSError(_SFTP_ERRNO.get(exc.code, 5), exc.reason) from None
                raise

    async def put(self, local: Path, path: PurePosixPath) -> None:
        await self.mkdir(path.parent)
        await self._sftp(lambda sftp: sftp.put(str(local), str(path), recurse=True, preserve=True))

    async def get(self, path: PurePosixPath, local: Path) -> None:
        await self.get_tree(path, local)

    async def get_tree(self, path: PurePosixPath, local: Path) -> Downloaded:
        """Copy the directory ``path`` into ``local`` (new), trusting none of the host's
        answers (see :mod:`assay.transports.download`); what was left out."""
        local.parent.mkdir(parents=True, exist_ok=True)
        local.mkdir(0o700)  # new: the copy never writes into what was there
        done = Downloaded()
        tries = 0

        async def work(sftp: asyncssh.SFTPClient) -> None:
            nonlocal done, tries
            tries += 1
            if tries > 1:  # start again from empty: the dropped connection cut the copy short
                shutil.rmtree(local)
                local.mkdir(0o700)
            done = await download(sftp, os.fsencode(str(path)), local)

        await self._sftp(work)
        return done
