"""Files below a case's directory: paths kept inside it, its listing, what a run left
worth bringing back, and removal."""

from __future__ import annotations

import errno
import os
import shutil
import stat

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from typing import Any


def parts_below(rel: str) -> list[str]:
    """The components of ``rel``, refused when it is not a path below a directory
    (absolute, ``..``, ``.`` or an empty part)."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OSError(errno.EINVAL, "not a relative path below the directory", rel)
    return parts


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
# O_NONBLOCK: a FIFO a job put at the name is opened at once (then refused), not waited on.
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC


def create_at(dir_fd: int, name: str, mode: int = 0o644) -> int:
    """A descriptor of a new file ``name`` in the directory ``dir_fd``: whatever a job left
    at the name (a link to a file of the user's, a hard link, a FIFO) is removed first,
    never written through (``O_EXCL``: not even a link planted again meanwhile)."""
    try:
        return os.open(name, _NEW, mode, dir_fd=dir_fd)
    except FileExistsError:
        os.unlink(name, dir_fd=dir_fd)  # (a directory there: IsADirectoryError, EPERM)
        return os.open(name, _NEW, mode, dir_fd=dir_fd)


def create(path: str, mode: int = 0o644) -> int:
    """:func:`create_at` for ``path``, in its directory as named (the directories of the
    path are the caller's: a session's job directory may be reached through a link of the
    user's); only the file's own name is never followed."""
    directory, name = os.path.split(path)
    dfd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        return create_at(dfd, name, mode)
    finally:
        os.close(dfd)


def clear(path: str) -> None:
    """Remove what is at ``path`` (a job's output about to be made: a link a build left
    there, a hard link to another file, a FIFO, an earlier attempt's file), never what it
    points to; a directory there stays (opening it then fails, as it did)."""
    try:
        os.unlink(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        pass


def open_dir(path: str) -> int:
    """A case's directory, opened: not through a link at its name (a job may have swapped
    it for one); the directories above it are the user's, followed."""
    return os.open(path, _DIR)


def dir_below(base_fd: int, parts: list[str], make: bool = False) -> int:
    """The directory ``parts`` below ``base_fd``, opened one component at a time without
    following a link (ELOOP, ENOTDIR: a link a job put on the way leads nowhere);
    ``make``: made where missing."""
    fd = os.dup(base_fd)
    for part in parts:
        if make:
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
        try:
            inner = os.open(part, _DIR, dir_fd=fd)
        finally:
            os.close(fd)
        fd = inner
    return fd


def open_regular_below(base_fd: int, rel: str) -> int:
    """The regular file ``rel`` below ``base_fd`` opened for reading, with no link on the
    way nor at its name, and no FIFO or device (``OSError`` for each, naming ``rel``)."""
    parts = rel.split("/")
    folder = dir_below(base_fd, parts[:-1])
    try:
        fd = os.open(parts[-1], _READ, dir_fd=folder)
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", rel)
    os.set_blocking(fd, True)
    return fd


def read_regular(path: str, limit: int | None, root: str | None = None) -> tuple[bytes, int]:
    """The file at ``path`` (its last ``limit`` bytes at most) and its size: only a regular
    file, not a link at its name (a job's file: it may have put a link to a secret there,
    or a FIFO that would hold the agent's thread for good). ``root``: a directory above
    ``path`` (a session's work directory) from which on no link is followed on the way
    either (a job may have swapped a directory of its own for a link to the user's)."""
    if root is None:
        fd = os.open(path, _READ)
    else:
        base_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)  # the user's
        try:
            rel = path[len(root) :].lstrip("/")
            fd = open_regular_below(base_fd, "/".join(parts_below(rel)))
        finally:
            os.close(base_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as fh:
            size = info.st_size
            want = size if limit is None else min(size, int(limit))
            fh.seek(size - want)
            return fh.read(want), size
    finally:
        os.close(fd)


def files_below(base: str) -> dict[str, list[int]]:
    """Every regular file below ``base``: relative path -> [size, mtime in ns]."""
    found = {}
    for folder, _dirs, names in os.walk(base):
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[os.path.relpath(path, base)] = [info.st_size, info.st_mtime_ns]
    return found


def collect(
    base: str,
    names: list[str],
    patterns: list[str],
    baseline: dict[str, list[int]],
    max_file: int,
    max_total: int,
    max_kept: int | None = None,
    kept_left: list[list[Any]] | None = None,
) -> tuple[list[tuple[str, bytes, int, int]], list[list[Any]]]:
    """What a run left in ``base`` that is worth bringing back, as (relative path, content,
    size, permission bits) and the files left where they are as [path, size]:

    * the files ``names`` (a job's own logs): whole, or their last ``max_file`` bytes;
    * the files matching ``patterns`` (``keep_files``): whole, while ``max_kept`` bytes
      last (the others go to ``kept_left``);
    * the files new or changed since ``baseline`` (:func:`files_below` before the run):
      whole if at most ``max_file`` bytes, while the case's ``max_total`` lasts.
    """
    now = files_below(base)
    out: list[tuple[str, bytes, int, int]] = []
    left: list[list[Any]] = []
    taken: set[str] = set()
    budget = max_total
    kept_budget = max_kept
    try:
        base_fd = open_dir(base)
    except OSError:  # the job swapped its directory for a link (or removed it): nothing
        return out, left

    def take(rel: str, limit: int | None) -> int:
        # Listed as a regular file, opened again: a job's process still running may have
        # swapped it (or a directory on its way) for a link to elsewhere since, or for a
        # FIFO; then it is left where it is, unread. Read no further than its listed size
        # (or ``limit``): a file still growing is not read for ever.
        size = now[rel][0]
        taken.add(rel)
        try:
            fd = open_regular_below(base_fd, rel)
        except OSError:
            left.append([rel, size])
            return 0
        with os.fdopen(fd, "rb") as fh:
            mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)  # a program stays one
            if limit is not None and size > limit:
                fh.seek(size - limit)
            data = fh.read(size if limit is None else min(size, limit))
        out.append((rel, data, size, mode))
        return len(data)

    try:
        for rel in names:
            if rel in now:
                budget -= take(rel, max_file)
        real = os.path.realpath(base)
        for pattern in patterns:
            import pathlib  # only for keep_files: not at every agent start

            for path in sorted(pathlib.Path(base).glob(pattern)):
                if not os.path.realpath(path).startswith(real + os.sep):
                    continue  # a pattern or a link that leads out of the directory
                rel = path.relative_to(base).as_posix()
                if rel in now and rel not in taken:
                    if kept_budget is not None and now[rel][0] > kept_budget:
                        taken.add(rel)
                        if kept_left is not None:
                            kept_left.append([rel, now[rel][0]])
                        continue
                    size = take(rel, None)
                    budget -= size
                    if kept_budget is not None:
                        kept_budget -= size
        for rel in sorted(now):
            if rel in taken or baseline.get(rel) == now[rel]:
                continue
            size = now[rel][0]
            if size <= max_file and size <= budget:
                budget -= take(rel, None)
            else:
                left.append([rel, size])
    finally:
        os.close(base_fd)
    return out, left


def rmtree(path: str) -> None:
    def writable(func, target, _exc):  # type: ignore[no-untyped-def]
        os.chmod(os.path.dirname(target), 0o700)  # a read-only dir of the job's
        func(target)

    shutil.rmtree(path, onerror=writable)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
