"""Unpack build trees and reference data from archives, refusing anything unsafe.

Formats: ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``/``.tbz2``, ``.tar.xz``/``.txz``,
``.tar.zst``/``.tzst`` and ``.zip``. Every member is checked *before* anything is
written: no absolute names, no ``..``, no link that points outside the target,
no device files or FIFOs, and limits on the total size and the number of members
(a zip bomb or a tar of a billion empty files is refused, not half-written).
Extraction itself then runs with tarfile's ``data`` filter as a second line of defence.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from assay.errors import AssayError

TAR_SUFFIXES = {
    ".tar": "",
    ".tar.gz": "gz",
    ".tgz": "gz",
    ".tar.bz2": "bz2",
    ".tbz2": "bz2",
    ".tar.xz": "xz",
    ".txz": "xz",
    ".tar.zst": "zst",
    ".tzst": "zst",
}
SUFFIXES = (*TAR_SUFFIXES, ".zip")


class ArchiveError(AssayError):
    """An archive is missing, unreadable, of an unknown kind, or unsafe to unpack."""


@dataclass(frozen=True)
class Limits:
    """How much one archive may unpack to."""

    max_bytes: int = 64 * 2**30
    max_members: int = 1_000_000


@dataclass(frozen=True)
class Unpacked:
    files: int
    bytes: int


def kind(path: Path) -> str | None:
    """``"tar"``, ``"zip"`` or None, from the file name."""
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if any(name.endswith(s) for s in TAR_SUFFIXES):
        return "tar"
    return None


def is_archive(path: Path) -> bool:
    return kind(path) is not None


def unpack(archive: Path, target: Path, limits: Limits = Limits()) -> Unpacked:
    """Unpack ``archive`` into the directory ``target`` (created if needed; existing files are
    overwritten, as an overlay does). Raises :class:`ArchiveError` before writing anything if
    a member is unsafe or a limit is exceeded."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive")
    what = kind(archive)
    if what is None:
        raise ArchiveError(
            f"{archive}: not an archive assay can unpack; use one of {', '.join(SUFFIXES)}"
        )
    target.mkdir(parents=True, exist_ok=True)
    try:
        if what == "zip":
            return _unpack_zip(archive, target, limits)
        return _unpack_tar(archive, target, limits)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveError(f"{archive}: corrupt or truncated archive: {exc}") from None
    except OSError as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"{archive}: cannot unpack: {exc}") from None


# --- checks shared by both formats ------------------------------------------------------------


def _safe_name(archive: Path, name: str) -> str:
    """The member's normalised relative name, or an error naming what is wrong with it."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to unpack")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise ArchiveError(f"{archive}: member {name!r} climbs out with '..'; refusing to unpack")
    clean = posixpath.normpath(name.replace("\\", "/"))
    return "" if clean == "." else clean


def _check_link(archive: Path, name: str, link: str, *, hard: bool) -> None:
    """A link must stay inside the target: relative, and not climbing above the root."""
    kind_ = "hard link" if hard else "symlink"
    if link.startswith("/"):
        raise ArchiveError(
            f"{archive}: {kind_} {name!r} points to the absolute path {link!r}; refusing to unpack"
        )
    base = "" if hard else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, link))
    if resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(
            f"{archive}: {kind_} {name!r} points outside the target ({link!r}); refusing to unpack"
        )


class _Budget:
    def __init__(self, archive: Path, limits: Limits) -> None:
        self.archive, self.limits = archive, limits
        self.members = 0
        self.bytes = 0

    def add(self, size: int) -> None:
        self.members += 1
        self.bytes += size
        if self.members > self.limits.max_members:
            raise ArchiveError(
                f"{self.archive}: more than {self.limits.max_members:,} members; refusing to "
                f"unpack (raise the member limit if this archive is trusted)"
            )
        if self.bytes > self.limits.max_bytes:
            raise ArchiveError(
                f"{self.archive}: unpacks to more than {_size(self.limits.max_bytes)}; refusing "
                f"to unpack (raise the size limit if this archive is trusted)"
            )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


# --- tar -------------------------------------------------------------------------------------


@contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    name = archive.name.lower()
    if not name.endswith((".tar.zst", ".tzst")):
        with tarfile.open(archive, "r:*") as tar:  # gzip, bzip2, xz or none: detected
            yield tar
        return
    import zstandard

    # tarfile needs to seek for a two-pass check; decompress to a temporary file first.
    with tempfile.TemporaryFile() as plain:
        with open(archive, "rb") as raw:
            zstandard.ZstdDecompressor().copy_stream(raw, plain)
        plain.seek(0)
        with tarfile.open(fileobj=plain, mode="r:") as tar:
            yield tar


def _unpack_tar(archive: Path, target: Path, limits: Limits) -> Unpacked:
    with _open_tar(archive) as tar:
        members = tar.getmembers()
        budget = _Budget(archive, limits)
        files = 0
        for member in members:
            name = _safe_name(archive, member.name)
            budget.add(member.size if member.isreg() else 0)
            if member.issym():
                _check_link(archive, name, member.linkname, hard=False)
            elif member.islnk():
                _check_link(archive, name, _safe_name(archive, member.linkname), hard=True)
            elif member.ischr() or member.isblk() or member.isfifo() or member.isdev():
                raise ArchiveError(
                    f"{archive}: member {member.name!r} is a device or FIFO; refusing to unpack"
                )
            files += member.isreg()
        # The data filter re-checks every member against the real target as it extracts.
        tar.extractall(target, members=members, filter="data")
    return Unpacked(files, budget.bytes)


# --- zip -------------------------------------------------------------------------------------


def _unpack_zip(archive: Path, target: Path, limits: Limits) -> Unpacked:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        budget = _Budget(archive, limits)
        plan: list[tuple[zipfile.ZipInfo, str, int]] = []
        for info in infos:
            name = _safe_name(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                _check_link(archive, name, zf.read(info).decode(), hard=False)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                raise ArchiveError(
                    f"{archive}: member {info.filename!r} is a device or FIFO; refusing to unpack"
                )
            budget.add(info.file_size)
            plan.append((info, name, mode))
        written = 0
        files = 0
        root = target.resolve()
        for info, name, mode in plan:
            if not name:
                continue
            dest = target / name
            if not dest.resolve().is_relative_to(root):  # a symlink unpacked earlier
                raise ArchiveError(
                    f"{archive}: member {info.filename!r} would be written outside the target "
                    f"through a link; refusing to unpack"
                )
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            if stat.S_ISLNK(mode):
                os.symlink(zf.read(info).decode(), dest)
                continue
            with zf.open(info) as src, open(dest, "wb") as out:
                written += _copy_limited(src, out, archive, limits.max_bytes - written)
            if mode & 0o777:
                os.chmod(dest, mode & 0o777)
            files += 1
    return Unpacked(files, written)


def _copy_limited(src: IO[bytes], dst: IO[bytes], archive: Path, allowance: int) -> int:
    """Copy, counting real bytes: a zip's declared sizes may lie."""
    copied = 0
    while chunk := src.read(1 << 20):
        copied += len(chunk)
        if copied > allowance:
            raise ArchiveError(
                f"{archive}: unpacks to more than its declared size allows; refusing to unpack"
            )
        dst.write(chunk)
    return copied


def copy_tree(src: Path, target: Path) -> None:
    """Copy a directory's contents into ``target`` (merging, symlinks kept as links)."""
    shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)


# --- streaming members (for importing into the store) -----------------------------------------


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Member:
    """One checked member of an archive, read in order."""

    name: str  # normalised, relative, safe
    type: str  # "file", "dir", "symlink", "hardlink"
    mode: int
    size: int
    link: str | None  # symlink target, or the (safe) name a hard link points to
    stream: Readable | None  # the file's content, for "file" members; read it before the next


def iter_members(archive: Path, limits: Limits = Limits()) -> Iterator[Member]:
    """Every member of ``archive``, checked like :func:`unpack` checks them, in one streaming
    pass (a ``.tar.zst`` is decompressed on the fly). Raises :class:`ArchiveError`."""
    what = kind(archive)
    if what is None:
        raise ArchiveError(
            f"{archive}: not an archive assay can unpack; use one of {', '.join(SUFFIXES)}"
        )
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive")
    budget = _Budget(archive, limits)
    try:
        if what == "zip":
            yield from _zip_members(archive, budget)
        else:
            yield from _tar_members(archive, budget)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveError(f"{archive}: corrupt or truncated archive: {exc}") from None


def _tar_members(archive: Path, budget: _Budget) -> Iterator[Member]:
    with contextlib.ExitStack() as stack:
        if archive.name.lower().endswith((".tar.zst", ".tzst")):
            import zstandard

            raw = stack.enter_context(open(archive, "rb"))
            reader = stack.enter_context(zstandard.ZstdDecompressor().stream_reader(raw))
            tar = stack.enter_context(tarfile.open(fileobj=reader, mode="r|"))
        else:
            tar = stack.enter_context(tarfile.open(archive, "r|*"))
        for info in tar:
            name = _safe_name(archive, info.name)
            if not name:
                continue
            budget.add(info.size if info.isreg() else 0)
            if info.isreg():
                yield Member(
                    name, "file", info.mode & 0o7777, info.size, None, tar.extractfile(info)
                )
            elif info.isdir():
                yield Member(name, "dir", info.mode & 0o7777, 0, None, None)
            elif info.issym():
                _check_link(archive, name, info.linkname, hard=False)
                yield Member(name, "symlink", 0o777, 0, info.linkname, None)
            elif info.islnk():
                target = _safe_name(archive, info.linkname)
                _check_link(archive, name, target, hard=True)
                yield Member(name, "hardlink", info.mode & 0o7777, 0, target, None)
            else:
                raise ArchiveError(
                    f"{archive}: member {info.name!r} is a device or FIFO; refusing to unpack"
                )


def _zip_members(archive: Path, budget: _Budget) -> Iterator[Member]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = _safe_name(archive, info.filename)
            if not name:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                target = zf.read(info).decode()
                _check_link(archive, name, target, hard=False)
                budget.add(0)
                yield Member(name, "symlink", 0o777, 0, target, None)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                raise ArchiveError(
                    f"{archive}: member {info.filename!r} is a device or FIFO; refusing to unpack"
                )
            elif info.is_dir():
                budget.add(0)
                yield Member(name, "dir", (mode & 0o7777) or 0o755, 0, None, None)
            else:
                budget.add(info.file_size)
                with zf.open(info) as stream:
                    limited = _Limited(stream, archive, info.file_size)
                    yield Member(
                        name, "file", (mode & 0o7777) or 0o644, info.file_size, None, limited
                    )


class _Limited:
    """A zip member's stream that refuses to deliver more than its declared size."""

    def __init__(self, stream: IO[bytes], archive: Path, size: int) -> None:
        self.stream, self.archive, self.left = stream, archive, size

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.left -= len(data)
        if self.left < 0:
            raise ArchiveError(
                f"{self.archive}: a member is larger than its declared size; refusing to unpack"
            )
        return data
