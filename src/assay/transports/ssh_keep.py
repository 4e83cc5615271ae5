"""The connection to one host kept up, and the requests to assay's host agent over it.

:class:`SshConnection` makes the connection and starts the agent (:mod:`.ssh_start`), reads
its answers and events, makes the connection again with a capped backoff when it drops
(requests under way are sent again; the agent answers each it had seen with the answer it
gave then), and gives up with one message after ``detach_timeout``. Its subclass
:class:`~assay.transports.ssh.SshTransport` adds commands and job processes; its base
:class:`~assay.transports.ssh_files.SshFiles` adds files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, TypeVar

from assay.config import Ssh
from assay.transports.base import HostGone, TransportError
from assay.transports.hostagent.protocol import ONCE, PROTOCOL
from assay.transports.ssh_answers import ExitEvent, Hello, collect_limit, expect
from assay.transports.ssh_connect import connect_host
from assay.transports.ssh_files import SshFiles
from assay.transports.ssh_link import Garbled, Link, Lost, RemoteProcess, Replaced, Traffic
from assay.transports.ssh_start import Started, Waiting, name_agent, start_agent
from assay.transports.sshlib import asyncssh

_MAX_BACKOFF = 15.0
_HURRY = 10.0  # seconds an interrupted run waits for a dropped connection to come back
T = TypeVar("T")


class SshConnection(SshFiles):
    """One host's connection and agent, and requests to it (the base of
    :class:`~assay.transports.ssh.SshTransport`)."""

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
        self._link: Link | None = None
        self._changed = asyncio.Event()  # set whenever the link comes back or is given up
        self._dead: TransportError | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self._goodbye = False  # shutdown sent: the agent's channel ending is no loss
        self._jobs: dict[str, RemoteProcess] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._channels = asyncio.Semaphore(settings.max_channels)
        self._uid = -1
        self.home = PurePosixPath("/")
        self.connections = 0  # made so far: 1 + reconnections
        self.channels = 0  # opened so far, on every connection
        self.traffic = Traffic()  # what went to the agent, on every connection
        self.agent_stats: dict[str, Any] = {}  # the agent's own count, at its shutdown
        # Told ("lost", what happens now) when the connection drops and ("back", how long it
        # was gone) when it is made again: the run's display shows both, as a run that
        # waits for a host without a word looks hung.
        self.on_link: Callable[[str, str], None] | None = None

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

    async def connect(self, early: asyncio.Future[Waiting] | None = None) -> None:
        """Make the connection (the first time), or raise a one-line :class:`TransportError`.
        ``early``: the connection begun while the run loaded (:mod:`.ssh_early`), its
        agent's connector waiting for its name."""
        if self._link is not None:
            return
        if self._dead is not None:
            raise self._dead
        if early is not None:
            waiting = await early  # its TransportError is the one connecting gives
            try:
                self._link = await self._link_up(
                    waiting.conn, await name_agent(waiting, self.agent_name)
                )
            except BaseException:
                waiting.conn.close()
                raise
            return
        self._link = await self._open()

    async def _open(self) -> Link:
        conn = await connect_host(self.settings)
        try:
            return await self._start_agent(conn)
        except BaseException:
            conn.close()
            raise

    async def _start_agent(self, conn: asyncssh.SSHClientConnection) -> Link:
        started = await start_agent(
            conn,
            self.host,
            self.python,
            self._workdirs[0],
            [self.agent_name, str(float(self.settings.detach_timeout))],
        )
        return await self._link_up(conn, started)

    async def _link_up(self, conn: asyncssh.SSHClientConnection, started: Started) -> Link:
        agent, sftp, self.home = started.agent, started.sftp, started.home
        self.channels += started.channels
        link = Link(conn, agent, sftp, on_broken=self._lost, traffic=self.traffic)
        link.reader = asyncio.create_task(self._read(link), name=f"ssh {self.host}")
        await self._greet(link)
        self.connections += 1
        return link

    async def _greet(self, link: Link) -> None:
        """The first request on a new connection: who the agent is, and its jobs."""
        answer = await self._exchange(
            link,
            {
                "rid": self._rid(),
                "op": "hello",
                "runner": self._runner,
                "linger": float(self.settings.detach_timeout),
                "roots": [str(self.path(w)) for w in self._workdirs],
            },
        )
        hello = expect(self.host, "hello", answer, Hello)
        link.daemon = hello.pid
        if hello.protocol != PROTOCOL:
            raise TransportError(
                f"{self.host}: assay's agent there (pid {link.daemon}) is another assay "
                f"version's (protocol {hello.protocol}, this one speaks {PROTOCOL}), "
                f"still serving this session; it stops {self.settings.detach_timeout} after "
                f"its runner has gone: run again then, or stop it first (kill {link.daemon} "
                f"on {self.host})"
            )
        self._uid = hello.uid
        self._catch_up(hello.jobs)

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

    async def _read(self, link: Link) -> None:
        """Answers and events from the agent, until the connection ends."""
        try:
            while True:
                message = await link.receive()
                try:
                    if "event" in message:
                        self._on_event(message)
                        continue
                    waiting = link.pending.get(str(message.get("rid")))
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise Garbled(
                        f"sent a message that is not one of its answers ({exc})"
                    ) from None
                if waiting is not None and not waiting.done():
                    waiting.set_result(message)
        except Garbled as exc:
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
            try:
                event = expect(self.host, "exit", message, ExitEvent)
            except TransportError as exc:  # the reader gives the connection up
                raise Garbled(f"sent an event that is not one of its events ({exc})") from None
            proc = self._jobs.get(event.job)
            if proc is not None:
                staging = proc.staging
                if staging is not None and staging.collect is not None and event.collected:
                    # Too much is refused here and asked for again, where it fails the case.
                    with contextlib.suppress(TransportError):
                        asked = staging.collect
                        limit = collect_limit(
                            asked["names"], asked["max_file"], asked["max_total"], asked["max_kept"]
                        )
                        staging.collected = self.collected(event.collected, limit)
                proc.resolve(event.status)

    def _lost(self, link: Link) -> None:
        """The connection ``link`` is gone: fail what waits on it; connect again."""
        if link.dead and self._link is not link:
            return
        link.close()
        for waiting in link.pending.values():
            if not waiting.done():
                waiting.set_exception(Lost())
        if self._link is link:
            self._link = None
            self._changed.set()
            self._changed = asyncio.Event()
            quiet = self._closing or self._goodbye
            if not quiet and self._dead is None and self._reconnecting is None:
                self._reconnecting = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        give_up = began + float(self.settings.detach_timeout)
        delay = 0.5
        last: Exception | None = None
        if not self._closing:
            self._tell(
                "lost",
                f"trying again for up to {self.settings.detach_timeout} "
                "(the jobs there keep running)",
            )
        try:
            while not self._closing:
                try:
                    self._link = await self._open()
                    self._tell("back", f"after {loop.time() - began:.1f}s")
                    return
                except TransportError as exc:
                    last = exc
                    if "host key" in str(exc) or "authentication failed" in str(exc):
                        break  # asking again will not change that
                left = give_up - loop.time()
                if left <= 0:
                    break
                # The last try comes at the deadline itself, not a backoff step before it:
                # the host's agent keeps the jobs until then.
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, _MAX_BACKOFF)
            self._give_up(
                HostGone(
                    f"lost the connection to {self.host} and could not make it again within "
                    f"{self.settings.detach_timeout}: {last}"
                )
            )
        finally:
            self._reconnecting = None
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def _tell(self, event: str, detail: str) -> None:
        if self.on_link is not None:
            self.on_link(event, detail)

    async def _ready(self) -> Link:
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

    async def _exchange(self, link: Link, message: dict[str, Any]) -> dict[str, Any]:
        rid = message["rid"]
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        link.pending[rid] = waiting
        try:
            try:
                await link.send(message)
            except (asyncssh.Error, OSError, ConnectionError):
                self._lost(link)
                raise Lost() from None
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
            if daemon is not None and link.daemon != daemon and op in ONCE:
                raise Replaced()
            daemon = link.daemon
            try:
                answer = await self._exchange(link, message)
            except Lost:
                continue
            if answer.get("ok"):
                return answer
            number = answer.get("errno")
            if isinstance(number, int):
                error = OSError(number, str(answer.get("error")), answer.get("filename"))
                error.step = answer.get("step")  # type: ignore[attr-defined]
                raise error
            raise TransportError(f"{self.host}: assay's agent: {answer.get('error')}")

    async def ask(self, op: str, shape: type[T], **args: Any) -> T:
        """:meth:`call`, its answer checked to be ``shape`` (:mod:`.ssh_answers`)."""
        return expect(self.host, op, await self.call(op, **args), shape)
