"""Reading tar and zip archives member by member, in bounded memory.

Both formats come out as the same :class:`Raw` records, in archive order, each file's
content readable (in pieces) until the next record. Nothing here decides what is safe to
write: :mod:`assay.archives` does, with :mod:`assay.store.agent.treecheck`.

Memory stays bounded whatever the archive claims: compressed streams are decompressed by
readers that return at most what is asked for (tarfile's own streaming mode decompresses a
whole input block at once: a 1 KB ``.tar.bz2`` block can hold a gigabyte of zeros), tar
headers that tarfile would read whole into memory (pax, GNU long names) are limited, sparse
members (whose maps tarfile reads whole) are refused, and tarfile's list of every member
seen is emptied as the archive is read.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

import zstandard

MAX_HEADER = 1 << 20  # bytes of one pax header or GNU long name
MAX_GLOBAL_HEADERS = 1 << 20  # bytes of all global pax headers of an archive
LINK_MAX = 4095  # bytes of a symlink's target
WINDOWS_SYSTEMS = {0, 11, 14}  # zip "made by": MS-DOS/FAT, NTFS, VFAT


class Refused(Exception):
    """A member that cannot be read safely (the caller adds the archive's name)."""


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Raw:
    """One member as the archive gives it (name not yet checked)."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink"
    mode: int  # permission bits as stored (0 when the archive has none)
    size: int  # declared size of a file's content
    link: str | None  # a symlink's target, or the name a hard link points to
    stream: Readable | None  # a file's content, until the next member


def members(archive: Path, kind: str, opened: IO[bytes] | None = None) -> Iterator[Raw]:
    """Every member of ``archive`` (``kind``: "tar" or "zip"), in order; read from
    ``opened`` (the archive, open) when given, else opened by its name."""
    if kind == "zip":
        yield from _zip_members(archive, opened)
    else:
        yield from _tar_members(archive, opened)


# --- tar ---------------------------------------------------------------------------------------

_MAGIC: list[tuple[bytes, str]] = [
    (b"\x1f\x8b", "gz"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
]


@contextlib.contextmanager
def _decompressed(archive: Path, opened: IO[bytes] | None) -> Iterator[IO[bytes]]:
    """The archive's tar stream, decompressed piece by piece (the format is told by the
    content, not the file name)."""
    with contextlib.nullcontext(opened) if opened else open(archive, "rb") as raw:
        raw.seek(0)
        head = raw.read(6)
        raw.seek(0)
        comp = next((c for magic, c in _MAGIC if head.startswith(magic)), "")
        if not comp:
            yield raw
            return
        with _reader(comp, raw) as stream:
            yield stream


def _reader(comp: str, raw: IO[bytes]) -> IO[bytes]:
    """A reader that decompresses only as much as is asked of it."""
    if comp == "gz":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if comp == "bz2":
        return cast(IO[bytes], bz2.BZ2File(raw, "rb"))
    if comp == "xz":
        return cast(IO[bytes], lzma.LZMAFile(raw, "rb"))
    # closefd=False: the caller's file stays open (unpacking reads it twice).
    return cast(IO[bytes], zstandard.ZstdDecompressor().stream_reader(raw, closefd=False))


_WHOLE_HEADERS = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


class _TarInfo(tarfile.TarInfo):
    """tarfile's member headers, with limits on what tarfile would read whole."""

    def _proc_member(self, archive: Any) -> Any:
        if self.type in _WHOLE_HEADERS and self.size > MAX_HEADER:
            raise Refused(
                f"a member has a header of {self.size:,} bytes (a pax header or a long "
                f"name); at most {MAX_HEADER:,} are read"
            )
        if self.type == tarfile.XGLTYPE:
            seen = getattr(archive, "_assay_global_bytes", 0) + self.size
            archive._assay_global_bytes = seen
            if seen > MAX_GLOBAL_HEADERS:
                raise Refused(
                    f"the archive has more than {MAX_GLOBAL_HEADERS:,} bytes of global pax headers"
                )
        return super()._proc_member(archive)  # type: ignore[misc]

    # Sparse maps are read whole, however long the archive says they are: refused. (The
    # signatures differ between Python versions, hence ``*rest``.)
    def _proc_sparse(self, archive: Any) -> Any:
        raise Refused(_sparse(self.name))

    def _proc_gnusparse_00(self, next: Any, *rest: Any) -> None:
        raise Refused(_sparse(next.name))

    def _proc_gnusparse_01(self, next: Any, *rest: Any) -> None:
        raise Refused(_sparse(next.name))

    def _proc_gnusparse_10(self, next: Any, *rest: Any) -> None:
        raise Refused(_sparse(next.name))


def _sparse(name: str) -> str:
    return f"member {name!r} is a sparse file (recreate the archive without --sparse)"


def _tar_members(archive: Path, opened: IO[bytes] | None) -> Iterator[Raw]:
    with (
        _decompressed(archive, opened) as stream,
        tarfile.open(fileobj=stream, mode="r|", tarinfo=_TarInfo) as tar,
    ):
        while (info := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # tarfile keeps all it saw
            yield _tar_raw(tar, info)


def _tar_raw(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Raw:
    mode = info.mode & 0o7777
    if info.isreg():
        return Raw(info.name, "file", mode, info.size, None, tar.extractfile(info))
    if info.isdir():
        return Raw(info.name, "dir", mode, 0, None, None)
    if info.issym():
        return Raw(info.name, "symlink", 0o777, 0, info.linkname, None)
    if info.islnk():
        return Raw(info.name, "hardlink", mode, 0, info.linkname, None)
    if info.ischr() or info.isblk() or info.isfifo():
        raise Refused(f"member {info.name!r} is a device or FIFO")
    code = info.type.decode(errors="replace")
    raise Refused(f"member {info.name!r} has a type assay does not unpack ({code!r})")


# --- zip ---------------------------------------------------------------------------------------


def _zip_members(archive: Path, opened: IO[bytes] | None) -> Iterator[Raw]:
    with zipfile.ZipFile(opened or archive) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.create_system in WINDOWS_SYSTEMS:
                name = name.replace("\\", "/")  # written by a Windows tool: its separator
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                with zf.open(info) as fh:
                    target = fh.read(LINK_MAX + 1)
                if len(target) > LINK_MAX:
                    raise Refused(
                        f"member {name!r} is a symlink with a target of more than "
                        f"{LINK_MAX:,} bytes"
                    )
                text = target.decode("utf-8", "surrogateescape")
                yield Raw(name, "symlink", 0o777, 0, text, None)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                raise Refused(f"member {name!r} is a device or FIFO")
            elif name.endswith("/") or stat.S_ISDIR(mode):
                yield Raw(name, "dir", mode & 0o7777, 0, None, None)
            else:
                with zf.open(info) as fh:
                    limited = _Limited(fh, name, info.file_size)
                    yield Raw(name, "file", mode & 0o7777, info.file_size, None, limited)


class _Limited:
    """A zip member's stream that refuses to deliver more than its declared size."""

    def __init__(self, stream: IO[bytes], name: str, size: int) -> None:
        self.stream, self.name, self.left = stream, name, size

    def read(self, n: int = -1, /) -> bytes:
        data = self.stream.read(n)
        self.left -= len(data)
        if self.left < 0:
            raise Refused(f"member {self.name!r} is larger than its declared size")
        return data
