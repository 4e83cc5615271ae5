"""Where ``assay store push|pull TARGET`` goes: an SSH URL, an ssh_config alias (or host), or
a partition of the config.

* ``ssh://[USER@]HOST[:PORT][/PATH]``: the store at ``/PATH`` there (``/~/PATH``: under the
  remote home); without a path, the agent's default (``~/.local/share/assay/store``);
* ``[USER@]HOST``: a host name or an alias of the user's ssh configuration, whose settings
  (user, port, identity, proxy jump ...) ``ssh`` applies;
* ``PARTITION`` or ``SYSTEM:PARTITION``: a partition of the config whose transport is SSH.
  Its host is reached with the partition's own SSH settings through assay's SSH transport
  (the connection ``assay run`` makes), and the store is the one its runs use
  (``ssh.store``, default ``WORKDIR/store``).

``--remote-store DIR`` overrides the path of any of them.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from assay.errors import UsageError

if TYPE_CHECKING:  # the config is loaded only for a target that is not an ssh:// URL
    from assay.config import Config, PartitionRef, Ssh

_HOST = re.compile(r"[A-Za-z0-9_.%\[\]:-]+")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]*")


@dataclass(frozen=True)
class SshTarget:
    """A store reached by ssh: a host (or alias) and the store's root there."""

    host: str
    user: str | None = None
    port: int | None = None
    root: str | None = None  # None: the agent's default
    config: str | None = None  # an ssh_config file instead of the user's
    ssh: Ssh | None = None  # a partition's settings: reached through assay's SSH transport
    partition: str | None = None  # ... and its full name, for messages

    def describe(self) -> str:
        """``user@host:port``, as messages name the host."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        host = f"{user}{self.host}{port}"
        return f"partition {self.partition} ({host})" if self.partition else host


def _check_host(host: str, text: str) -> str:
    if not host or host.startswith("-") or not _HOST.fullmatch(host):
        raise UsageError(
            f"{text!r} is not a host: give an ssh URL (ssh://user@host:port/path/to/store), a "
            "host name or an alias of your ssh configuration"
        )
    return host


def parse_url(text: str) -> SshTarget:
    """An ``ssh://`` URL as a target."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme != "ssh" or parts.query or parts.fragment:
        raise UsageError(f"{text!r} is not an ssh URL (ssh://user@host:port/path/to/store)")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"{text!r}: the port is not a number from 1 to 65535") from None
    host = _check_host(parts.hostname or "", text)
    user = urllib.parse.unquote(parts.username) if parts.username else None
    if user is not None and not _USER.fullmatch(user):
        raise UsageError(f"{text!r}: {user!r} is not a user name")
    path = urllib.parse.unquote(parts.path)
    root = None
    if path.startswith("/~"):
        root = path[1:]
    elif path not in ("", "/"):
        root = path
    return SshTarget(host=host, user=user, port=port, root=root)


def parse_host(text: str) -> SshTarget:
    """``[USER@]HOST``: a host name or an ssh_config alias."""
    user, _, host = text.rpartition("@")
    if user and not _USER.fullmatch(user):
        raise UsageError(f"{text!r}: {user!r} is not a user name")
    if ":" in host and not host.startswith("["):
        raise UsageError(
            f"{text!r} names no partition of the config, and is not a host: for a port or a "
            "path, write an ssh URL (ssh://user@host:port/path/to/store)"
        )
    return SshTarget(host=_check_host(host, text), user=user or None)


def find_partition(config: Config, text: str) -> PartitionRef | None:
    """The partition ``text`` names (NAME of the system this host matches, or SYSTEM:NAME)."""
    from assay.config import PartitionRef

    system, sep, name = text.rpartition(":")
    if sep and system in config.systems:
        candidates = {name: config.systems[system].partitions.get(name)}
        chosen = system
    else:
        try:
            chosen, found = config.system(None)
        except Exception:  # no system matches this host: only SYSTEM:NAME can name one
            return None
        candidates = {text: found.partitions.get(text)}
    for part_name, partition in candidates.items():
        if partition is not None:
            return PartitionRef(chosen, part_name, partition)
    return None


def partition_target(partition: PartitionRef) -> SshTarget:
    """The store a partition's runs use, on its host: ``ssh.store``, else ``WORKDIR/store``
    (relative paths are below the remote home), reached with the partition's SSH settings."""
    ssh = partition.config.ssh
    if partition.config.transport != "ssh" or ssh is None:
        raise UsageError(
            f"partition {partition.full_name} runs on this machine (transport "
            f"{partition.config.transport!r}): it has no remote store to push to; give an SSH "
            "host (an ssh_config alias, or ssh://user@host/path/to/store)"
        )
    return SshTarget(
        host=ssh.host,
        user=ssh.user,
        port=ssh.port,
        root=ssh.store or f"{ssh.workdir.rstrip('/')}/store",
        ssh=ssh,
        partition=partition.full_name,
    )


def resolve_target(text: str, config: Config | None, root: str | None = None) -> SshTarget:
    """The target ``text`` names (see the module's docstring); ``root`` overrides its path."""
    if text.startswith("ssh://"):
        target = parse_url(text)
    else:
        partition = find_partition(config, text) if config is not None else None
        target = partition_target(partition) if partition is not None else parse_host(text)
    return replace(target, root=root) if root is not None else target
