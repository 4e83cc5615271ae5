"""Starting assay's host agent on a new SSH connection, in as few round trips as it takes.

The agent's connector is started from where an earlier connection put it
(``WORKDIR/bin/hostagent-HASH.pyz``), while the SFTP channel opens: it checks its own file's
SHA-256 against the one named on its command line and says it waits for its daemon's name.
Only when it is not there, or is not the file assay would send (damaged, or another
version's), is the file shipped over SFTP and started again. All this can happen before the
session is known (:mod:`.ssh_early`); told the name, the connector starts or finds the
daemon, and its next line names the home (where the session starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import NoReturn

from assay.transports.base import TransportError
from assay.transports.ssh_boot import agent_command
from assay.transports.ssh_connect import agent_name, ship_agent
from assay.transports.ssh_link import BANNER
from assay.transports.sshlib import asyncssh

WAITING = b"ASSAY-AGENT-WAITING\n"  # a connector's first line (``connect -``): name it


@dataclass
class Started:
    """A running connector, the SFTP channel, the home, and the channels opened."""

    agent: asyncssh.SSHClientProcess[bytes]
    sftp: asyncssh.SFTPClient
    home: PurePosixPath
    channels: int


async def start_agent(
    conn: asyncssh.SSHClientConnection,
    host: str,
    python: str,
    workdir: str,
    args: Sequence[str],
) -> Started:
    """The agent's connector started on ``conn`` (:func:`.ssh_boot.agent_command`), or a
    one-line :class:`TransportError`."""
    name, digest = agent_name()
    channels = 2
    try:
        sftp_start = asyncio.ensure_future(conn.start_sftp_client())
        try:
            agent, banner = await _exec(
                conn, python, f"{_home_relative(workdir)}/bin/{name}", args, digest
            )
        finally:
            sftp = await sftp_start
        if not banner.startswith(BANNER):  # not there yet, or not the file assay sends
            await _stopped(agent)
            home = PurePosixPath(await sftp.realpath("."))
            program = await ship_agent(sftp, _absolute(home, workdir) / "bin")
            channels += 1
            agent, banner = await _exec(conn, python, str(program), args, digest)
    except (OSError, asyncssh.Error) as exc:
        raise TransportError(f"{host}: cannot start assay's agent: {exc}") from None
    home_named = _home(banner)
    if home_named is None:
        await _not_started(agent, host, python, banner)
    return Started(agent, sftp, home_named, channels)


@dataclass
class Waiting:
    """A connector started before its daemon's name is known (``connect -``): it checked
    its own file and waits for the name on its first line."""

    conn: asyncssh.SSHClientConnection
    host: str
    python: str
    args: Sequence[str]  # after the name: the linger
    agent: asyncssh.SSHClientProcess[bytes]
    sftp: asyncssh.SFTPClient
    channels: int


async def begin_agent(
    conn: asyncssh.SSHClientConnection,
    host: str,
    python: str,
    workdir: str,
    args: Sequence[str],
) -> Waiting:
    """The connector started on ``conn`` without its daemon's name (shipped first if the
    host has no good copy): what takes round trips, done before the session is known."""
    name, digest = agent_name()
    channels = 2
    try:
        sftp_start = asyncio.ensure_future(conn.start_sftp_client())
        try:
            agent, line = await _exec(
                conn, python, f"{_home_relative(workdir)}/bin/{name}", ["-", *args], digest
            )
        finally:
            sftp = await sftp_start
        if line != WAITING:  # not there yet, or not the file assay sends
            await _stopped(agent)
            home = PurePosixPath(await sftp.realpath("."))
            program = await ship_agent(sftp, _absolute(home, workdir) / "bin")
            channels += 1
            agent, line = await _exec(conn, python, str(program), ["-", *args], digest)
    except (OSError, asyncssh.Error) as exc:
        raise TransportError(f"{host}: cannot start assay's agent: {exc}") from None
    if line != WAITING:
        await _not_started(agent, host, python, line)
    return Waiting(conn, host, python, args, agent, sftp, channels)


async def name_agent(waiting: Waiting, name: str) -> Started:
    """The waiting connector told its daemon's name: it connects to the daemon (starting
    it) and names the home."""
    agent = waiting.agent
    try:
        agent.stdin.write(name.encode() + b"\n")
        banner = await asyncio.wait_for(agent.stdout.readline(), 60)
    except (TimeoutError, OSError, asyncssh.Error):
        banner = b""
    home_named = _home(banner)
    if home_named is None:
        await _not_started(agent, waiting.host, waiting.python, banner)
    return Started(agent, waiting.sftp, home_named, waiting.channels)


async def _not_started(
    agent: asyncssh.SSHClientProcess[bytes], host: str, python: str, line: bytes
) -> NoReturn:
    said = await _stopped(agent)
    first = (said.strip().splitlines() or [line.decode(errors="replace").strip()])[-1]
    raise TransportError(
        f"{host}: assay's agent did not start with {python!r} "
        f"({first or 'no answer'}); set ssh.python to a Python >= 3.7 on the host"
    )


async def _exec(
    conn: asyncssh.SSHClientConnection,
    python: str,
    program: str,
    args: Sequence[str],
    digest: str,
) -> tuple[asyncssh.SSHClientProcess[bytes], bytes]:
    """Start the connector ``program`` (absolute, or relative to the home); the process
    and its first line."""
    command = agent_command(python, program, digest, ["connect", *args])
    agent = await conn.create_process(command, encoding=None)
    try:
        banner = await asyncio.wait_for(agent.stdout.readline(), 60)
    except (TimeoutError, asyncssh.Error, OSError):
        banner = b""
    return agent, banner


def _home_relative(workdir: str) -> str:
    """A workdir as the config gives it, as a path from the home, or absolute."""
    if workdir == "~":
        return "."
    if workdir.startswith("~/"):
        return workdir[2:] or "."
    return workdir


def _absolute(home: PurePosixPath, workdir: str) -> PurePosixPath:
    return home / _home_relative(workdir)  # an absolute workdir stays as it is


def _home(banner: bytes) -> PurePosixPath | None:
    """The home the agent's first line names, or None if it is not the agent's line."""
    if not banner.startswith(BANNER) or not banner.endswith(b"\n"):
        return None
    try:
        home = json.loads(banner[len(BANNER) :])["home"]
    except (ValueError, KeyError, TypeError):
        return None
    return PurePosixPath(home) if isinstance(home, str) and home.startswith("/") else None


async def _stopped(agent: asyncssh.SSHClientProcess[bytes]) -> str:
    """Close a connector that did not start; what it said on stderr."""
    agent.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(agent.wait_closed(), 5)
    said = ""
    with contextlib.suppress(Exception):
        said = (await asyncio.wait_for(agent.stderr.read(4000), 5)).decode(errors="replace")
    return said
