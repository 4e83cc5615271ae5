"""How ``assay bless`` writes an expected file: only inside the case's expected root, never
through a symbolic link.

The path from the expected root down to the file is walked by directory descriptors opened
with ``O_NOFOLLOW``, so a directory swapped for a link after the plan was checked is
refused, not followed; the file is written beside its target under a fresh name and renamed
over it, so a target swapped for a link at the last moment is replaced, never written
through. The actual output it copies is opened the same way: a link there (to a secret) is
not copied into the suite's files.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path, PurePosixPath

from assay.errors import AssayError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

LINK_HINT = (
    "bless does not write through links (that would change the file the link points to): "
    "replace the link by a file, or copy the actual output by hand"
)


class NotBlessed(AssayError):
    """An expected file that bless will not write (a link in the way)."""

    exit_code = 1


def link_in_the_way(root: Path, relative: str) -> Path | None:
    """The expected root, a directory under it toward ``relative``, or the file itself,
    whichever is first a symbolic link; None if none is (the plan's check: the write
    checks again on descriptors)."""
    path = root
    for part in ("", *PurePosixPath(relative).parts):
        path = path / part if part else path
        if path.is_symlink():
            return path
    return None


def _refused(path: Path, exc: OSError | None = None) -> NotBlessed:
    if exc is None or exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return NotBlessed(f"{path} is a symbolic link (or not a directory)", hint=LINK_HINT)
    return NotBlessed(f"cannot write {path}: {exc.strerror or exc}")


def _open_root(root: Path) -> int:
    """The expected root's descriptor (made when missing: a case's first expected file)."""
    parent = os.open(root.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.mkdir(root.name, 0o777, dir_fd=parent)
        except FileExistsError:
            pass
        return os.open(root.name, _DIR, dir_fd=parent)
    finally:
        os.close(parent)


def replace_file(root: Path, relative: str, source: Path) -> None:
    """Write ``source``'s content as ``root/relative``, inside ``root`` and through no link.
    An existing file keeps its mode; a new one takes the source's."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("..", ".") for p in parts):
        raise NotBlessed(f"{relative!r} is not a path inside {root}")
    try:
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise _refused(source, exc) from None
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            raise NotBlessed(f"{source} is not a regular file")
        _write_into(root, parts, src)
    finally:
        os.close(src)


def _write_into(root: Path, parts: tuple[str, ...], src: int) -> None:
    where = root
    try:
        fd = _open_root(root)
    except OSError as exc:
        raise _refused(root, exc) from None
    try:
        for part in parts[:-1]:
            where = where / part
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                inner = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                raise _refused(where, exc) from None
            os.close(fd)
            fd = inner
        _replace(fd, parts[-1], where / parts[-1], src)
    finally:
        os.close(fd)


def _replace(fd: int, name: str, path: Path, src: int) -> None:
    try:
        old = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        mode = stat.S_IMODE(os.fstat(src).st_mode)
    else:
        if stat.S_ISLNK(old.st_mode):
            raise _refused(path)
        if not stat.S_ISREG(old.st_mode):
            raise NotBlessed(f"{path} is not a regular file")
        mode = stat.S_IMODE(old.st_mode)
    temporary = f".{name}.bless-{secrets.token_hex(6)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(temporary, flags, 0o600, dir_fd=fd)
    try:
        try:
            while chunk := os.read(src, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]
            os.fchmod(out, mode)
            os.fsync(out)
        finally:
            os.close(out)
        # rename: a link put at ``name`` meanwhile is replaced, not written through
        os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException:
        os.unlink(temporary, dir_fd=fd)
        raise
