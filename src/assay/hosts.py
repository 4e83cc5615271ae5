"""The hosts a session's partitions run on: their transports, connections and sites.

This machine is one host; every SSH host is another, reached by one connection that all its
partitions share (:mod:`assay.transports.registry`). Each host has a directory for the
session's job files (the shipped pack runner and comparison engine, packs and arrays): on
this machine ``SESSION/jobs``, on a remote host ``WORKDIR/sessions/SESSION/jobs``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import msgspec

from assay.config import PartitionRef
from assay.errors import AssayError
from assay.run.artifacts import SessionStore
from assay.run.remote_inputs import HostStore, RemoteInputs, Uploads
from assay.run.remote_site import RemoteSite
from assay.run.sites import LocalSite, Site
from assay.schedulers.jobfiles import JobFiles
from assay.transports.base import RemoteHost, Transport, TransportError
from assay.transports.local import LocalTransport
from assay.transports.registry import transports_for

if TYPE_CHECKING:
    from assay.transports.ssh_early import EarlyHosts


async def _claim(transport: Transport, early: EarlyHosts) -> None:
    """Connect ``transport`` with the connection begun early for its host, if there is one."""
    from assay.transports.ssh import SshTransport  # (imported already: a remote host)
    from assay.transports.ssh_connect import connection_key

    if not isinstance(transport, SshTransport):
        await transport.connect()
        return
    begun = early.claim(connection_key(transport.settings), transport.workdirs[0])
    await transport.connect(begun)


class HostError(AssayError):
    """A partition's host cannot be reached (the message names the partition)."""


class Hosts:
    """The transports of a session's partitions, and what each host keeps for it."""

    def __init__(
        self,
        partitions: Iterable[PartitionRef],
        local: LocalTransport,
        session: str,
        directory: Path,
        store: SessionStore,
        uploads: Uploads | None = None,
        early: EarlyHosts | None = None,
    ) -> None:
        self.partitions = {p.full_name: p for p in partitions}
        self.early = early  # connections begun while the run loaded
        self.uploads = uploads
        self.local = local
        self.session = session
        self.directory = directory
        self.store = store
        self.of = transports_for(self.partitions.values(), local, session)
        tell = getattr(uploads, "connection", None)  # (a display; a test's watcher need not)
        if tell is not None:
            self._tell_links(tell)
        self._job_files: dict[int, JobFiles] = {}
        self._inputs: dict[tuple[int, str], RemoteInputs] = {}
        self._local_site = LocalSite(local)
        self._sites: list[RemoteSite] = []

    def _tell_links(self, tell: Callable[[str, str, str], None]) -> None:
        """Each SSH host's drops and reconnections told to ``tell``, naming its partitions."""
        for transport in self.remote:
            if not hasattr(transport, "on_link"):
                continue
            names = [n for n, t in self.of.items() if t is transport]
            which = "partition" if len(names) == 1 else "partitions"
            where = f"{which} {', '.join(names)} ({transport.host})"
            transport.on_link = functools.partial(tell, where)

    @property
    def transports(self) -> list[Transport]:
        """Each transport once, this machine's first."""
        seen: dict[int, Transport] = {id(self.local): self.local}
        for transport in self.of.values():
            seen.setdefault(id(transport), transport)
        return list(seen.values())

    @property
    def remote(self) -> list[Transport]:
        return [t for t in self.transports if t.remote]

    async def connect(self) -> None:
        """Connect to every remote host at once; the first that fails is a one-line error
        naming its partitions."""
        remote = self.remote
        early, self.early = self.early, None
        connecting = [t.connect() if early is None else _claim(t, early) for t in remote]
        if early is not None:  # what the plan does not use is closed meanwhile
            connecting.append(early.release())
        results = await asyncio.gather(*connecting, return_exceptions=True)
        for transport, result in zip(remote, results, strict=False):
            if isinstance(result, TransportError):
                names = [n for n, t in self.of.items() if t is transport]
                which = "partition" if len(names) == 1 else "partitions"
                await self.close()
                raise HostError(f"{which} {', '.join(names)}: {result}")
            if isinstance(result, BaseException):
                await self.close()
                raise result

    async def close(self) -> None:
        """Let go of every remote host (their agents stop what is left)."""
        # The stage dirs being removed first, then the store channels (their leases end),
        # then the connections; what was sent stays counted for the report.
        await asyncio.gather(*(s.settle() for s in self._sites), return_exceptions=True)
        inputs = list(self._inputs.values())
        await asyncio.gather(*(i.close() for i in inputs), return_exceptions=True)
        await asyncio.gather(*(t.close() for t in self.remote), return_exceptions=True)

    def workdir(self, partition: str) -> PurePosixPath:
        """The session's directory on the partition's host."""
        part = self.partitions[partition]
        transport = self.of[partition]
        # (ssh first: isinstance of a runtime-checkable Protocol reads each of its members,
        # some 0.4 M instructions, and a local partition has no ssh)
        if part.config.ssh is not None and isinstance(transport, RemoteHost):
            return transport.path(part.config.ssh.workdir) / "sessions" / self.session
        return PurePosixPath(self.directory)

    def job_files(self, partition: str) -> JobFiles:
        """The shipped job files of the partition's host (one copy per host)."""
        transport = self.of[partition]
        files = self._job_files.get(id(transport))
        if files is None:
            files = JobFiles(self.workdir(partition) / "jobs", transport)
            self._job_files[id(transport)] = files
        return files

    def jobs_dir(self, partition: str) -> PurePosixPath:
        """The partition's own job directory (packs, arrays) on its host."""
        return self.workdir(partition) / "jobs" / partition.replace(":", "-")

    def site(self, partition: str) -> Site:
        part = self.partitions[partition]
        transport = self.of[partition]
        if part.config.ssh is None or not isinstance(transport, RemoteHost):  # (ssh first)
            return self._local_site
        ssh = part.config.ssh
        root = transport.path(ssh.store) if ssh.store else transport.path(ssh.workdir) / "store"
        key = (id(transport), str(root))
        inputs = self._inputs.get(key)
        if inputs is None:
            # The host's store, through the store agent over one channel of the connection.
            where = f"partition {partition} ({transport.host})"
            backend = HostStore(transport, root, ssh.python, where, self.uploads)
            inputs = RemoteInputs(transport, backend, self.store)
            self._inputs[key] = inputs
        site = RemoteSite(transport, ssh, self.session, inputs)
        self._sites.append(site)
        return site

    def sent(self) -> dict[str, Any]:
        """What was sent to each remote host (for the report)."""
        out: dict[str, Any] = {}
        for (_, root), inputs in self._inputs.items():
            counts = msgspec.structs.asdict(inputs.sent)
            entry = out.setdefault(inputs.host.host, {"stores": [], **dict.fromkeys(counts, 0)})
            entry["stores"].append(root)
            for key, value in counts.items():
                entry[key] += value
        for transport in self.remote:
            entry = out.get(transport.host)
            if entry is None:
                continue
            traffic = getattr(transport, "traffic", None)
            stats = getattr(transport, "agent_stats", None) or {}
            # What the host agent served (its own count) and what went to it: the
            # requests per case stay few, and many go in one write when ready together.
            entry["agent"] = {
                "requests": stats.get("requests", {}),
                "cpu": stats.get("cpu"),
                "messages": getattr(traffic, "frames", None),
                "writes": getattr(traffic, "writes", None),
            }
        for site in self._sites:  # passed cases' stage dirs there that could not be removed
            if site.not_removed and site.host.host in out:
                out[site.host.host].setdefault("not_removed", []).extend(site.not_removed)
        return out
