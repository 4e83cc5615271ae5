"""Unpack build trees and reference data from archives, refusing anything unsafe.

Formats: ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``/``.tbz2``, ``.tar.xz``/``.txz``,
``.tar.zst``/``.tzst`` and ``.zip``. Every member is checked *before* anything is written,
against a model of the whole tree the archive makes (:mod:`assay.store.agent.treecheck`): no
absolute names, no ``..``, nothing below a symlink or a file, no symlink that leads out of the
target at any step of its resolution, hard links only to earlier files, no device files or
FIFOs, limits on the total size and the number of members (a zip bomb or a tar of a
billion empty files is refused, not half-written). Writing then never follows a link
(:mod:`assay.store.agent.treewrite`), and happens in bounded memory.

Modes: setuid, setgid and sticky bits and group/other write bits are dropped; a file the
owner cannot execute is executable by no one; the owner can read and write every file.
Names are POSIX names: a backslash is an ordinary character, except in a zip made on
Windows (its "made by" field says MS-DOS, NTFS or VFAT), where it is the separator.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from assay.archive_formats import Raw, Readable, Refused, members
from assay.archive_names import SUFFIXES, is_archive, kind
from assay.errors import AssayError
from assay.store.agent.treecheck import DIR, FILE, SYMLINK, TreeModel, UnsafeEntry, clean_name
from assay.store.agent.treewrite import TreeWriter, WriteRefused, remove_path
from assay.store.dirwalk import file_mode

__all__ = [
    "SUFFIXES",
    "ArchiveError",
    "Limits",
    "Member",
    "Readable",
    "Unpacked",
    "is_archive",
    "iter_members",
    "kind",
    "unpack",
]


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


# --- members, checked -------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One checked member of an archive, read in order."""

    name: str  # normalised, relative, safe
    type: str  # "file", "dir", "symlink", "hardlink"
    mode: int  # for files: see file_mode
    size: int
    link: str | None  # symlink target, or the (normalised) name a hard link points to
    stream: Readable | None  # the file's content, for "file" members; read it before the next


def iter_members(
    archive: Path, limits: Limits = Limits(), opened: IO[bytes] | None = None
) -> Iterator[Member]:
    """Every member of ``archive``, checked like :func:`unpack` checks them, in one streaming
    pass (from ``opened``, the archive already open, when given: the very file the caller
    looked at). The checks that need the whole list (where symlinks lead) run after the last
    member: consume the iterator to the end before trusting what it gave. Raises
    :class:`ArchiveError`."""
    what = _kind(archive)
    model = TreeModel(where="the tree")
    with _reading(archive):
        for member in _checked(archive, what, limits, model, opened):
            if member.name:
                stream = None if member.stream is None else _Guarded(archive, member.stream)
                yield Member(
                    member.name, member.type, member.mode, member.size, member.link, stream
                )
        _links(archive, model)


class _Guarded:
    """A member's content as the caller reads it: the format's errors as ArchiveError."""

    def __init__(self, archive: Path, stream: Readable) -> None:
        self.archive, self.stream = archive, stream

    def read(self, n: int = -1, /) -> bytes:
        with _reading(self.archive):
            return self.stream.read(n)


def _checked(
    archive: Path, what: str, limits: Limits, model: TreeModel, opened: IO[bytes] | None
) -> Iterator[Member]:
    budget = _Budget(archive, limits)
    for raw in members(archive, what, opened):
        budget.add(raw.size if raw.kind == "file" else 0)
        try:
            name = clean_name(raw.name)
            link = _hardlink_name(raw) if raw.kind == "hardlink" else raw.link
            model.add(name, raw.kind, link)
        except UnsafeEntry as exc:
            raise _refused(archive, exc) from None
        if raw.kind in ("file", "hardlink"):
            mode = file_mode(raw.mode) if raw.mode else 0o644  # 0: a zip without Unix modes
        else:
            mode = (raw.mode & 0o755) or 0o755
        yield Member(name, raw.kind, mode, raw.size, link, raw.stream)


def _hardlink_name(raw: Raw) -> str:
    try:
        return clean_name(raw.link or "")
    except UnsafeEntry as exc:
        raise UnsafeEntry(raw.name, f"is a hard link to {raw.link!r}, which {exc.reason}") from None


def _links(archive: Path, model: TreeModel, tolerated: frozenset[str] = frozenset()) -> None:
    try:
        model.check_links(only=lambda name, node: not node.old or name not in tolerated)
    except UnsafeEntry as exc:
        raise _refused(archive, exc) from None


def _refused(archive: Path, exc: UnsafeEntry) -> ArchiveError:
    return ArchiveError(f"{archive}: member {exc}; refusing to unpack")


def _kind(archive: Path) -> str:
    what = kind(archive)
    if what is None:
        raise ArchiveError(
            f"{archive}: not an archive assay can unpack; use one of {', '.join(SUFFIXES)}"
        )
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive")
    return what


@contextmanager
def _reading(archive: Path) -> Iterator[None]:
    """Errors of the format readers as :class:`ArchiveError`."""
    try:
        yield
    except Refused as exc:
        raise ArchiveError(f"{archive}: {exc}; refusing to unpack") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{archive}: corrupt or truncated archive: {exc}") from None
    except RecursionError:
        raise
    except (NotImplementedError, RuntimeError) as exc:  # zip: unknown compression, password
        raise ArchiveError(f"{archive}: cannot read it: {exc}") from None
    except OSError as exc:
        if isinstance(exc, AssayError):
            raise
        if exc.filename is None:  # the decompressors' "invalid data" errors
            raise ArchiveError(f"{archive}: corrupt or truncated archive: {exc}") from None
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("lzma", "_lzma", "zstandard")):
            raise ArchiveError(f"{archive}: corrupt or truncated archive: {exc}") from None
        raise


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


# --- unpacking ---------------------------------------------------------------------------------


def unpack(archive: Path, target: Path, limits: Limits = Limits()) -> Unpacked:
    """Unpack ``archive`` into the directory ``target`` (created if needed; what it already
    holds is overlaid: a member replaces an entry of the same name). Raises
    :class:`ArchiveError` before writing anything if a member is unsafe, alone or together
    with what ``target`` already holds, or a limit is exceeded. If writing fails midway,
    what this call created is removed again (``target`` too, if it made it)."""
    what = _kind(archive)
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        model = TreeModel(where="the target")
        tolerated = frozenset() if made else _existing(target, model)
        with open(archive, "rb") as opened:  # both passes read this file, whatever its name
            with _reading(archive):
                plan = [_plain(m) for m in _checked(archive, what, limits, model, opened)]
            _links(archive, model, tolerated)
            return _write(archive, what, target, plan, opened)
    except BaseException:
        if made:
            remove_path(target)
        raise


def _plain(member: Member) -> Member:
    """A member without its stream: the plan of what to write, kept for the second pass."""
    return Member(member.name, member.type, member.mode, member.size, member.link, None)


def _existing(target: Path, model: TreeModel) -> frozenset[str]:
    """Put what ``target`` already holds into the model (never following a link); the
    links there that already leave it (not this archive's doing, and not refused)."""
    stack = [(target, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_symlink():
                    model.add_existing(rel, SYMLINK, os.readlink(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    model.add_existing(rel, DIR)
                    stack.append((Path(entry.path), rel + "/"))
                else:
                    model.add_existing(rel, FILE)
    return frozenset(model.escaping_links())


def _write(
    archive: Path, what: str, target: Path, plan: list[Member], opened: IO[bytes]
) -> Unpacked:
    """The second pass: the archive is read again and each member written as planned (a
    member that differs from the first pass means the file changed in between)."""
    files = written = 0
    with TreeWriter(target) as out:
        try:
            with _reading(archive):
                index = 0
                for raw in members(archive, what, opened):
                    if index >= len(plan) or not _same(raw, plan[index]):
                        raise ArchiveError(f"{archive}: changed while being unpacked; try again")
                    member = plan[index]
                    index += 1
                    if member.name:
                        written += _write_member(out, member, raw)
                        files += member.type == "file"
                if index != len(plan):
                    raise ArchiveError(f"{archive}: changed while being unpacked; try again")
        except WriteRefused as exc:
            out.undo()
            raise ArchiveError(f"{archive}: member {exc}; refusing to unpack") from None
        except OSError as exc:
            out.undo()
            raise ArchiveError(f"{archive}: cannot unpack into {target}: {exc}") from None
        except BaseException:
            out.undo()
            raise
    return Unpacked(files, written)


def _same(raw: Raw, planned: Member) -> bool:
    try:
        name = clean_name(raw.name)
        link = _hardlink_name(raw) if raw.kind == "hardlink" else raw.link
    except UnsafeEntry:
        return False
    return (name, raw.kind, raw.size, link) == (
        planned.name,
        planned.type,
        planned.size,
        planned.link,
    )


def _write_member(out: TreeWriter, member: Member, raw: Raw) -> int:
    if member.type == "dir":
        out.make_dir(member.name)
    elif member.type == "symlink":
        out.symlink(member.link or "", member.name)
    elif member.type == "hardlink":
        out.hard_link(member.link or "", member.name)
    else:
        assert raw.stream is not None
        return out.write_file(member.name, raw.stream, member.mode | 0o600)
    return 0
