"""``SshTransport.get`` (what ``assay fetch`` copies a kept stage dir with) against a host that
answers its SFTP listing with anything: nothing is ever written outside the destination.

``HostileSftpClient`` is an ``asyncssh.SFTPClient`` whose answers (listings, link targets,
file contents) are made up: a real SFTP server cannot list one name twice or change its kind
between two requests, a hostile one can. Everything on the local side is real. Every test
works in a sandbox deep under its tmp dir and looks for anything made outside the
destination anywhere in the sandbox.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import Any

import asyncssh
import pytest
from asyncssh.sftp import SFTPAttrs, SFTPClient, SFTPName

from assay.config import Ssh
from assay.transports.base import TransportError
from assay.transports.ssh import SshTransport

DIR, FILE, LINK, SPECIAL = 2, 1, 3, 7  # SFTP file types (7: a character device)


class _Handler:
    logger = asyncssh.logging.logger
    version = 3
    limits = asyncssh.sftp.SFTPLimits(0, 1 << 15, 1 << 15, 0)


class _HostileFile:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    async def read(self, size: int = -1, offset: int | None = None) -> bytes:
        start = self.pos if offset is None else offset
        end = len(self.data) if size < 0 else start + size
        self.pos = min(end, len(self.data))
        return self.data[start:end]

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> _HostileFile:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def __await__(self) -> Any:  # ``await sftp.open(...)`` as well as ``async with``
        async def itself() -> _HostileFile:
            return self

        return itself().__await__()


class HostileSftpClient(SFTPClient):
    """Listings: remote dir -> [(name, type, permissions)], links: path -> target."""

    def __init__(
        self,
        listings: dict[bytes, list[tuple[bytes, int, int]]],
        links: dict[bytes, bytes] | None = None,
        data: bytes = b"PWNED",
    ) -> None:
        super().__init__(_Handler(), "utf-8", "strict")  # type: ignore[arg-type]
        self.listings, self.links, self.data = listings, links or {}, data

    async def scandir(self, path: Any, pattern: Any = b"") -> AsyncIterator[SFTPName]:  # type: ignore[override]
        for name, kind, mode in self.listings[bytes(path).rstrip(b"/")]:
            yield SFTPName(name, attrs=SFTPAttrs(type=kind, permissions=mode))

    async def readlink(self, path: Any) -> bytes:  # type: ignore[override]
        return self.links[bytes(path)]

    async def stat(self, path: Any, *args: Any, **kw: Any) -> SFTPAttrs:  # type: ignore[override]
        return SFTPAttrs(type=DIR, permissions=0o755)

    async def lstat(self, path: Any, *args: Any, **kw: Any) -> SFTPAttrs:  # type: ignore[override]
        kind = LINK if bytes(path).rstrip(b"/") in self.links else DIR
        return SFTPAttrs(type=kind, permissions=0o755)

    def open(self, path: Any, *args: Any, **kw: Any) -> Any:  # type: ignore[override]
        return _HostileFile(self.data)


def _transport(client: HostileSftpClient) -> SshTransport:
    transport = SshTransport(Ssh(host="hostile.example"), session="s")

    async def sftp(work: Any) -> None:  # the hostile answers instead of a connection
        await work(client)

    transport._sftp = sftp  # type: ignore[method-assign]
    return transport


def _sandbox(tmp_path: Path) -> tuple[Path, Path]:
    sandbox = tmp_path / "sandbox"
    deep = sandbox / "a" / "b" / "c"
    deep.mkdir(parents=True)
    return sandbox, deep / "landing"


def _outside(sandbox: Path, landing: Path) -> list[str]:
    """Everything in the sandbox that is not the destination or one of its parents."""
    keep = {sandbox, *landing.parents}
    found = []
    for base, dirs, files in os.walk(sandbox):
        for name in dirs + files:
            path = Path(base, name)
            if path != landing and landing not in path.parents and path not in keep:
                found.append(str(path))
    return found


def _get(client: HostileSftpClient, landing: Path) -> Any:
    return asyncio.run(_transport(client).get_tree(PurePosixPath("/r"), landing))


def test_two_links_that_each_look_inside_and_a_name_listed_twice_write_nothing_outside(tmp_path):
    # d/e/s -> ../.. resolves to the destination; d/t -> e/s/../.. looks like d, yet goes
    # two levels above it; then t, listed again as a directory, would be entered.
    sandbox, landing = _sandbox(tmp_path)
    client = HostileSftpClient(
        {
            b"/r": [(b"d", DIR, 0o755)],
            b"/r/d": [(b"e", DIR, 0o755), (b"t", LINK, 0o777), (b"t", DIR, 0o755)],
            b"/r/d/e": [(b"s", LINK, 0o777)],
            b"/r/d/t": [(b"pwned", FILE, 0o644)],
        },
        {b"/r/d/e/s": b"../..", b"/r/d/t": b"e/s/../.."},
    )
    with pytest.raises(TransportError, match="listed 'd/t' twice"):
        _get(client, landing)
    assert _outside(sandbox, landing) == []


def test_links_that_resolve_outside_are_left_out_and_named(tmp_path):
    sandbox, landing = _sandbox(tmp_path)
    client = HostileSftpClient(
        {
            b"/r": [(b"d", DIR, 0o755), (b"abs", LINK, 0o777), (b"in", LINK, 0o777)],
            b"/r/d": [(b"e", DIR, 0o755), (b"t", LINK, 0o777)],
            b"/r/d/e": [(b"s", LINK, 0o777)],
        },
        {b"/r/d/e/s": b"../..", b"/r/d/t": b"e/s/../..", b"/r/abs": b"/etc", b"/r/in": b"d/e"},
    )
    done = _get(client, landing)
    assert sorted(done.links_left_out) == ["abs -> /etc", "d/t -> e/s/../.."]
    assert os.readlink(landing / "in") == "d/e" and os.readlink(landing / "d/e/s") == "../.."
    assert not (landing / "abs").is_symlink() and not (landing / "d/t").is_symlink()
    assert _outside(sandbox, landing) == []


@pytest.mark.parametrize("name", [b"../escape", b"/abs", b"a/../../b", b"nul\0byte", b""], ids=repr)
def test_names_with_a_slash_or_nul_are_refused(tmp_path, name):
    sandbox, landing = _sandbox(tmp_path)
    client = HostileSftpClient({b"/r": [(name, FILE, 0o644)]})
    with pytest.raises(TransportError, match="the host listed the name"):
        _get(client, landing)
    assert _outside(sandbox, landing) == []


def test_modes_keep_only_permission_bits_and_devices_are_not_made(tmp_path):
    sandbox, landing = _sandbox(tmp_path)
    client = HostileSftpClient(
        {
            b"/r": [
                (b"setuid", FILE, 0o4755),
                (b"unreadable", FILE, 0o000),
                (b"sub", DIR, 0o2000),
                (b"dev", SPECIAL, 0o666),
                (b"new\nline", FILE, 0o644),
            ],
            b"/r/sub": [],
        },
        data=b"x" * 100_000,
    )
    done = _get(client, landing)
    assert stat.S_IMODE((landing / "setuid").stat().st_mode) == 0o755
    assert stat.S_IMODE((landing / "unreadable").stat().st_mode) == 0o600
    assert stat.S_IMODE((landing / "sub").stat().st_mode) == 0o700
    assert (landing / "new\nline").read_bytes() == b"x" * 100_000
    assert not (landing / "dev").exists() and done.skipped == ["dev"]
    assert _outside(sandbox, landing) == []


def test_a_copied_directory_that_is_a_link_on_the_host_is_not_followed(tmp_path):
    sandbox, landing = _sandbox(tmp_path)
    client = HostileSftpClient({b"/r": [(b"secret", FILE, 0o600)]}, {b"/r": b"/home/x/.ssh"})
    with pytest.raises(TransportError, match="'/r' is a symbolic link on the host"):
        _get(client, landing)
    assert not (landing / "secret").exists()
    assert _outside(sandbox, landing) == []
