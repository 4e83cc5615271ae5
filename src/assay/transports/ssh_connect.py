"""Making an SSH connection to a host from a partition's settings, and putting assay's host
agent there: the options (the user's ``~/.ssh/config`` applies), strict host keys, one-line
errors (:mod:`assay.transports.ssh_errors`), and the agent's zip shipped once per version."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, cast

from assay.config import Ssh
from assay.transports import hostagent_pack
from assay.transports.base import TransportError
from assay.transports.ssh_errors import connect_problem, host_key_problem, identity_problem
from assay.transports.sshlib import asyncssh


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


async def client_options(s: Ssh) -> asyncssh.SSHClientConnectionOptions:
    """asyncssh's options for ``s`` (what the settings leave open, the ssh config decides)."""
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


def preferences(options: asyncssh.SSHClientConnectionOptions) -> dict[str, Any]:
    """What assay asks of a connection beyond ``options``: AES-GCM first, unless the
    user's ssh config names its ``Ciphers``."""
    if options.config.get("Ciphers") is not None:
        return {}
    return {"encryption_algs": [a.decode() for a in prefer_gcm(options.encryption_algs)]}


_GCM = (b"aes128-gcm@openssh.com", b"aes256-gcm@openssh.com")


def prefer_gcm(algs: Sequence[bytes]) -> list[bytes]:
    """``algs`` with AES-GCM first (none dropped). asyncssh's first choice,
    chacha20-poly1305, makes two cipher objects per packet: some 15 µs of this side's CPU
    for each of a run's many small messages, against 2.5 µs with AES-GCM. The user's
    ``Ciphers`` (ssh config) are left as they are."""
    first = [a for a in _GCM if a in algs]
    return first + [a for a in algs if a not in first]


def known_hosts_files(s: Ssh, options: asyncssh.SSHClientConnectionOptions) -> list[str]:
    """The known-hosts files a host key was checked against (for the message saying how to
    trust it)."""
    if s.known_hosts:
        return [s.known_hosts]
    listed = options.known_hosts
    if isinstance(listed, str):
        return [listed]
    if isinstance(listed, list | tuple) and all(isinstance(f, str) for f in listed):
        return list(listed) or ["~/.ssh/known_hosts"]
    return ["~/.ssh/known_hosts"]


async def connect_host(s: Ssh) -> asyncssh.SSHClientConnection:
    """A connection to the host of ``s``, or a one-line :class:`TransportError`."""
    options = await client_options(s)
    try:
        return await asyncssh.connect(options.host, options=options, **preferences(options))
    except asyncssh.HostKeyNotVerifiable:
        raise await host_key_problem(options, known_hosts_files(s, options)) from None
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise connect_problem(exc, options, s.identity) from None


def agent_source() -> bytes:
    """The host agent's file, as shipped (one zip: :mod:`.hostagent_pack`)."""
    return hostagent_pack.agent_bytes()


def agent_name() -> tuple[str, str]:
    """The host agent's file name on the host, and the start of its SHA-256 in it."""
    digest = hashlib.sha256(agent_source()).hexdigest()[:16]
    return f"hostagent-{digest}.pyz", digest


async def ship_agent(sftp: asyncssh.SFTPClient, folder: PurePosixPath) -> PurePosixPath:
    """The host agent's file in ``folder`` on the host, named by its content (copied once
    per version)."""
    data = agent_source()
    target = folder / agent_name()[0]
    with contextlib.suppress(asyncssh.SFTPError):
        # Used only if it holds exactly these bytes (a damaged copy is written again).
        async with sftp.open(str(target), "rb") as fh:
            held = cast(bytes, await fh.read(len(data) + 1))  # "rb": bytes
            if held == data:
                return target
    await _make_dirs(sftp, folder)
    partial = folder / f".{target.name}.{secrets.token_hex(4)}"
    async with sftp.open(str(partial), "wb") as fh:
        await fh.write(data)
    await sftp.posix_rename(str(partial), str(target))
    return target


async def _make_dirs(sftp: asyncssh.SFTPClient, folder: PurePosixPath) -> None:
    """``folder`` and its missing parents made on the host; what fails is an SFTP error
    naming the directory that could not be made and the setting to change (asyncssh's own
    ``makedirs`` said only "No such file" for a work dir in a directory the account may not
    write)."""
    missing: list[PurePosixPath] = []
    path = folder
    while True:
        try:
            attrs = await sftp.stat(str(path))
        except asyncssh.SFTPNoSuchFile:
            missing.append(path)
            if path.parent == path:
                break
            path = path.parent
            continue
        except asyncssh.SFTPError as exc:
            raise _unusable(folder, path, exc.reason) from None
        if not stat.S_ISDIR(attrs.permissions or 0):
            raise _unusable(folder, path, "not a directory")
        break
    for path in reversed(missing):
        try:
            await sftp.mkdir(str(path))
        except asyncssh.SFTPError as exc:
            if not await sftp.isdir(str(path)):  # (made meanwhile by another run: fine)
                raise _unusable(folder, path, exc.reason) from None


def _unusable(folder: PurePosixPath, path: PurePosixPath, reason: str) -> asyncssh.SFTPError:
    return asyncssh.SFTPFailure(
        f"cannot make {folder}: {path}: {reason}; set ssh.workdir to a directory the remote "
        "account may write"
    )
