"""A host reached over SSH (asyncssh): one connection, kept up, for everything on that host.

Every partition on one host (the same SSH settings) shares one :class:`SshTransport`, so one
connection. On it:

* one exec channel runs assay's agent (:mod:`assay.transports.hostagent`, copied to
  ``WORKDIR/bin`` and started with ``python3 -I -S``, :mod:`.ssh_boot`). Every command
  (``sbatch``, ``squeue``, ``mkdir``...), every job process and every small file goes
  through that one channel, as framed requests answered concurrently, so the number of
  channels does not grow with the number of commands or cases;
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

The parts: making the connection and shipping the agent (:mod:`.ssh_connect`,
:mod:`.ssh_start`), the connection kept up and the requests over it (:mod:`.ssh_keep`), the
agent's messages and job processes (:mod:`.ssh_link`), files (:mod:`.ssh_files`), byte pipes
(:mod:`.ssh_pipe`), messages for failures (:mod:`.ssh_errors`); here, commands and job
processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from assay.transports.base import UNKNOWN, CommandResult, Staging, TransportError
from assay.transports.ssh_answers import Ran, Spawned
from assay.transports.ssh_connect import connection_key
from assay.transports.ssh_keep import SshConnection
from assay.transports.ssh_link import RemoteProcess, Replaced
from assay.transports.ssh_pipe import SshPipe

__all__ = ["RemoteProcess", "SshPipe", "SshTransport", "connection_key"]

# Seconds after its time limit (and grace) that a job is killed by the agent even if assay,
# which stops it at the limit itself, does not say so (the connection is down).
_LIMIT_MARGIN = 10.0


class SshTransport(SshConnection):
    """Commands, processes and files on one host reached over SSH."""

    name = "ssh"
    remote = True

    # -- commands and processes --------------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: PurePosixPath | None = None,
    ) -> CommandResult:
        try:
            answer = await self.ask(
                "run",
                Ran,
                argv=list(argv),
                timeout=timeout,
                env=dict(env or {}),
                cwd=None if cwd is None else str(cwd),
            )
        except Replaced:
            return CommandResult(
                UNKNOWN, "", f"{argv[0]}: the connection to {self.host} was lost while it ran"
            )
        except OSError as exc:
            return CommandResult(127, "", f"{argv[0]}: {exc.strerror}")
        return CommandResult(answer.code, answer.stdout, answer.stderr)

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: PurePosixPath,
        stdout: PurePosixPath,
        stderr: PurePosixPath,
        env: Mapping[str, str] | None = None,
        time_limit: float | None = None,
        staging: Staging | None = None,
        executable: str | None = None,
        drop_caps: bool = False,
    ) -> RemoteProcess:
        if drop_caps:  # the runner's own credentials say nothing about the host's
            raise TransportError("a remote job drops capabilities in its own script")
        jid = f"{self._prefix}-job-{next(self._count)}"
        proc = RemoteProcess(self, jid)
        self._jobs[jid] = proc
        limit = None if time_limit is None else float(time_limit) + _LIMIT_MARGIN
        extra: dict[str, Any] = {}
        if staging is not None:
            extra["prepare"] = self.prepare_message(staging)
            if staging.collect is not None:
                extra["collect"] = staging.collect
                proc.staging = staging
        try:
            answer = await self.ask(
                "spawn",
                Spawned,
                job=jid,
                argv=list(argv),
                cwd=str(cwd),
                stdout=str(stdout),
                stderr=str(stderr),
                env=dict(env or {}),
                limit=limit,
                **extra,
            )
        except OSError as exc:
            del self._jobs[jid]
            if staging is not None and exc.errno is not None and getattr(exc, "step", None):
                raise TransportError(
                    f"{self.host}: cannot write the case's files into {staging.directory}: "
                    f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror}"
                ) from None
            raise
        except Replaced:
            del self._jobs[jid]
            raise TransportError(
                f"{self.host}: the job could not be started (assay's agent was restarted)"
            ) from None
        except BaseException:
            del self._jobs[jid]
            raise
        proc.pid = answer.pid
        if staging is not None and answer.files is not None:
            staging.listed = {rel: list(sizes) for rel, sizes in answer.files.items()}
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
            # The agent's channel ending is its goodbye, not a dropped connection to make
            # again (a request under way then, this one included, still makes one).
            self._goodbye = True
            with contextlib.suppress(Exception):
                answer = await asyncio.wait_for(self.call("shutdown"), 30)
                self.agent_stats = dict(answer.get("stats") or {})
            self._closing = True
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
