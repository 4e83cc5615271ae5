"""Copy a directory from a host over SFTP into a new local directory, trusting nothing the
host answers.

A host (or whoever controls it) names the entries, their kinds, their modes and the targets
of its symbolic links, and may answer a listing with two entries of one name. asyncssh's
recursive ``get`` follows a local symbolic link it made a moment before when a later entry
of the same name is a directory, and its check of a link's target is lexical, which two
links defeat together (``d/s -> ../..`` and ``d/t -> s/../..`` each look inside; ``t``
resolves two levels above the destination). Here:

- every local file and directory is made new (``O_EXCL``, ``mkdir``) relative to its
  parent's descriptor, never through a symbolic link (``O_NOFOLLOW``): nothing is written
  outside the destination, whatever the names, kinds and order of the entries;
- a name with ``/`` or NUL, ``.``/``..`` or a name listed twice is refused;
- modes keep only the permission bits (no set-user-id file planted by a host), and the
  owner can always read, write and remove what came;
- links are made as the host names them, then every one that does not resolve inside the
  destination (absolute, or through other links) is removed and reported;
- devices, sockets and pipes are not copied.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from assay.compare import beneath
from assay.transports.base import TransportError

CHUNK = 256 * 1024
MAX_ENTRIES = 1_000_000
"""The most entries one copy takes (a host could list names without end)."""

# SFTP's file types (the same numbers in every protocol version asyncssh speaks)
_REGULAR, _DIRECTORY, _SYMLINK = 1, 2, 3


class SftpClient(Protocol):
    """What the copy uses of an ``asyncssh.SFTPClient``."""

    def scandir(self, path: bytes) -> AsyncIterator[Any]: ...

    def open(self, path: bytes, mode: str) -> AbstractAsyncContextManager[Any]: ...

    async def readlink(self, path: bytes) -> bytes | str: ...

    async def lstat(self, path: bytes) -> Any: ...


@dataclass
class Downloaded:
    """What a copy made: counts, and the links it left out (``path -> target``)."""

    files: int = 0
    directories: int = 0
    links_left_out: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _shown(name: bytes) -> str:
    return repr(os.fsdecode(name))


async def download(sftp: SftpClient, remote: bytes, local: Path) -> Downloaded:
    """Copy the remote directory ``remote`` into ``local``, a new empty directory. A
    ``remote`` that is a symbolic link on the host (a kept case dir replaced by one after
    the run) is refused: what it points to is not the case's. (SFTP cannot open a
    directory without following a link, so a swap on the host between this check and the
    listing is not seen; the local side stays safe whatever the host does.)"""
    kind = getattr(await sftp.lstat(remote), "type", None)
    if kind == _SYMLINK:
        raise TransportError(
            f"{_shown(remote)} is a symbolic link on the host (replaced since the run?); "
            "it is not followed"
        )
    done = Downloaded()
    links: list[bytes] = []
    top = beneath.open_dir(str(local))
    try:
        await _copy_dir(sftp, remote, top, b"", done, links)
    finally:
        os.close(top)
    root = os.fsencode(os.path.realpath(local))
    for rel in links:
        path = os.path.join(os.fsencode(local), rel)
        resolved = os.path.realpath(path)
        if resolved != root and not resolved.startswith(root + b"/"):
            target = os.readlink(path)
            os.unlink(path)
            done.links_left_out.append(f"{os.fsdecode(rel)} -> {os.fsdecode(target)}")
    return done


async def _copy_dir(
    sftp: SftpClient, remote: bytes, fd: int, rel: bytes, done: Downloaded, links: list[bytes]
) -> None:
    seen: set[bytes] = set()
    async for entry in sftp.scandir(remote):
        name = entry.filename if isinstance(entry.filename, bytes) else os.fsencode(entry.filename)
        if name in (b".", b".."):
            continue
        where = rel + name
        if not name or b"/" in name or b"\0" in name:
            raise TransportError(f"the host listed the name {_shown(name)} in {_shown(remote)}")
        if name in seen:
            raise TransportError(f"the host listed {_shown(where)} twice")
        seen.add(name)
        if done.files + done.directories + len(links) >= MAX_ENTRIES:
            raise TransportError(f"the host listed more than {MAX_ENTRIES} entries")
        source = remote.rstrip(b"/") + b"/" + name
        kind = entry.attrs.type
        mode = (entry.attrs.permissions or 0o600) & 0o777
        if kind == _DIRECTORY:
            os.mkdir(name, 0o700, dir_fd=fd)
            sub = os.open(name, beneath.DIR, dir_fd=fd)
            try:
                await _copy_dir(sftp, source, sub, where + b"/", done, links)
                os.fchmod(sub, mode | 0o700)
            finally:
                os.close(sub)
            done.directories += 1
        elif kind == _REGULAR:
            await _copy_file(sftp, source, fd, name, mode | 0o600, entry.attrs)
            done.files += 1
        elif kind == _SYMLINK:
            target = await sftp.readlink(source)
            os.symlink(target, name, dir_fd=fd)
            links.append(where)
        else:
            done.skipped.append(os.fsdecode(where))


async def _copy_file(
    sftp: SftpClient, source: bytes, fd: int, name: bytes, mode: int, attrs: Any
) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    out = os.open(name, flags, 0o600, dir_fd=fd)
    try:
        async with sftp.open(source, "rb") as remote:
            while data := await remote.read(CHUNK):
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view) :]
        os.fchmod(out, stat.S_IMODE(mode))
        if getattr(attrs, "mtime", None) is not None:
            os.utime(out, (attrs.mtime, attrs.mtime))
    finally:
        os.close(out)
