"""Why an SSH connection could not be made, in one line that says what to do.

Host keys are checked strictly (an unknown or a changed key is refused); the message shows
the key the host offered and the exact line that would trust it, so that the user decides
(after checking the fingerprint) instead of assay. A refused login names the host, the user
and the keys that were tried.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.transports.base import TransportError
from assay.transports.sshlib import asyncssh


def where(host: str, port: int, user: str | None) -> str:
    """``user@host:port`` (``host:port`` without a user)."""
    return f"{user + '@' if user else ''}{host}:{port}"


def known_hosts_name(host: str, port: int) -> str:
    """The host as a known_hosts line names it (``[host]:port`` off port 22)."""
    return host if port == 22 else f"[{host}]:{port}"


async def host_key_problem(
    options: asyncssh.SSHClientConnectionOptions, files: Sequence[str]
) -> TransportError:
    """The refused host key: unknown, or other than the one ``files`` hold for the host."""
    host, port = str(options.host), int(options.port or 22)
    name = known_hosts_name(host, port)
    listed = ", ".join(files) or "~/.ssh/known_hosts"
    target = files[0] if files else "~/.ssh/known_hosts"
    try:
        tunnel: Any = options.tunnel or ()
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port, tunnel=tunnel), 30)
    except (OSError, asyncssh.Error, TimeoutError):
        key = None
    if key is None:
        return TransportError(
            f"the host key of {name} is not trusted (not in {listed}); see its keys' "
            f"fingerprints with: ssh-keyscan -p {port} {host} | ssh-keygen -lf -  and, if one "
            f"is the host's (ask its administrators), add that key's line to {target}"
        )
    offered = key.export_public_key().decode().strip()
    fingerprint = key.get_fingerprint()
    line = f"{name} {' '.join(offered.split()[:2])}"
    known = _keys_for(files, host, port)
    if known:
        return TransportError(
            f"the host key of {name} has CHANGED (it offers {key.get_algorithm()} "
            f"{fingerprint}, {listed} holds another): someone may be intercepting the "
            f"connection; if the host was reinstalled, check the new fingerprint with its "
            f"administrators, remove the old key (ssh-keygen -R '{name}' -f {target}) and "
            f"trust the new one"
        )
    # The command appends the very key shown, nothing fetched anew: ``ssh-keyscan >>``
    # would add whatever a second connection offered, every type of it, unchecked.
    return TransportError(
        f"the host key of {name} is unknown ({key.get_algorithm()} {fingerprint}, not in "
        f"{listed}); if that fingerprint is the host's (ask its administrators), trust it "
        f"by adding its line to {target}: {_append_command(line, target)}"
    )


def _append_command(line: str, target: str) -> str:
    """A shell command that appends ``line`` to the file ``target`` (a leading ``~/`` left
    for the shell), making its directory first if it is missing (a new account has no
    ``~/.ssh``)."""
    shown = "~/" + shlex.quote(target[2:]) if target.startswith("~/") else shlex.quote(target)
    append = f"echo {shlex.quote(line)} >> {shown}"
    folder = os.path.dirname(os.path.expanduser(target))
    if not folder or os.path.isdir(folder):
        return append
    parent = shown.rsplit("/", 1)[0] if "/" in shown else "."
    return f"mkdir -p -m 700 {parent} && {append}"


def _keys_for(files: Sequence[str], host: str, port: int) -> bool:
    """Whether ``files`` hold any key for ``host:port``."""
    for name in files:
        try:
            known = asyncssh.read_known_hosts(os.path.expanduser(name))
        except (OSError, ValueError, asyncssh.Error):
            continue
        keys, *_ = asyncssh.match_known_hosts(known, host, host, port)
        if keys:
            return True
    return False


def keys_tried(options: asyncssh.SSHClientConnectionOptions, identity: str | None) -> str:
    """The keys a login offered, as the user would name them."""
    if identity:
        return identity
    names = []
    for pair in options.client_keys or ():
        filename = getattr(pair, "_filename", None)
        if isinstance(filename, bytes):
            filename = filename.decode(errors="replace")
        names.append(str(filename) if filename else pair.get_algorithm())
    if os.environ.get("SSH_AUTH_SOCK"):
        names.append("the keys of ssh-agent")
    if not names:
        return 'none (no key in ~/.ssh and no ssh-agent: set identity = "PATH")'
    return ", ".join(names)


def connect_problem(
    exc: BaseException,
    options: asyncssh.SSHClientConnectionOptions,
    identity: str | None,
) -> TransportError:
    """A failed connection attempt, in one line (the host key case: :func:`host_key_problem`)."""
    host, port = str(options.host), int(options.port or 22)
    user = str(options.username) if options.username else None
    at = where(host, port, user)
    if isinstance(exc, asyncssh.PermissionDenied):
        return TransportError(
            f"ssh {at}: authentication failed (keys tried: {keys_tried(options, identity)}); "
            f"check that the public key is in ~{user or ''}/.ssh/authorized_keys on {host}, "
            f'or set identity = "PATH" to the right private key'
        )
    if isinstance(exc, asyncssh.KeyImportError | asyncssh.KeyEncryptionError):
        return TransportError(f"ssh {at}: cannot use the key {identity or ''}: {exc}")
    if isinstance(exc, TimeoutError | asyncssh.misc.ConnectionLost):
        return TransportError(f"cannot reach {at}: no answer in time")
    if isinstance(exc, OSError) and (exc.strerror or exc.errno):
        if isinstance(exc, FileNotFoundError) and exc.filename:
            return TransportError(f"ssh {at}: {exc.filename}: no such file")
        if isinstance(exc, socket.gaierror):
            return TransportError(f"cannot reach {at}: unknown host ({exc.strerror})")
        why = os.strerror(exc.errno) if isinstance(exc.errno, int) else exc.strerror
        return TransportError(f"cannot reach {at}: {why}")
    text = str(exc).strip() or type(exc).__name__
    return TransportError(f"cannot connect to {at}: {text}")


def identity_problem(identity: str) -> TransportError | None:
    """A configured key file that cannot be used, before trying to connect."""
    path = Path(os.path.expanduser(identity))
    if not path.is_file():
        return TransportError(f"identity {identity}: no such file")
    return None
