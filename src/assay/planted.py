"""Writes of assay's own into a directory a job has had: never through what it planted.

A job runs in its stage dir, and a job that ran may have left anything at the names assay
writes there afterwards (``assay-python.out``, the run script after a build, the
comparison spec): a symbolic link to a file elsewhere, a FIFO, a hard link to a file
elsewhere. Opened by path, such a name would have assay's process (for a root run whose
job dropped its capabilities: with privileges the job lacked) write outside the stage dir,
or block on the FIFO. Here a name is opened without following a link (``O_NOFOLLOW``),
only a regular file with no other name is written to, and anything else is removed (the
entry, never what it points to) and a new file made in its place (``O_EXCL``).

The directory itself is opened as :func:`assay.compare.beneath.open_dir` opens it (not through a
link at its name) where assay appends: a stage dir the job replaced with a link is refused.
The directories above it are followed (they are the user's, not the job's).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import PurePath

NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# The directory, never a link at its name: :func:`assay.compare.beneath.open_dir`'s open,
# made here (that function, imported in the call, cost an import statement per case:
# ~12 k instructions with the AttributeError of its module's missing ``__path__``).
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO with no reader fails (ENXIO) instead of blocking the runner.
_OLD = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def create(path: PurePath | str, mode: int = 0o666) -> int:
    """A descriptor of a new file at ``path`` (``mode`` less the umask): whatever is at
    that name already is removed first, never opened. In the directory opened without
    following a link at its name (``ELOOP``, ``ENOTDIR``): a stage dir a job replaced
    with a link to elsewhere gets no file there, and has nothing there removed."""
    directory, name = os.path.split(os.fspath(path))
    dfd = os.open(directory or ".", _DIR)
    try:
        return _new(name, dfd, mode)  # (a directory at the name fails: IsADirectoryError)
    finally:
        os.close(dfd)


def describe(info: os.stat_result) -> str:
    """What a non-regular (or many-named) entry is, for a message."""
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return f"a hard link to another file ({info.st_nlink} names)"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "a special file"


def append(path: PurePath | str, mode: int = 0o666) -> tuple[int, str | None]:
    """A descriptor appending to the regular file at ``path``, made when missing; and when
    something else was at that name (a symbolic link, a FIFO, a hard link to another
    file), what it was: it has been removed, untouched, and the file made new.

    Raises :class:`OSError` when the directory is a link (``ELOOP``) or the name is a
    directory."""
    directory, name = os.path.split(os.fspath(path))
    dfd = os.open(directory or ".", _DIR)
    try:
        try:
            fd = os.open(name, _OLD, dir_fd=dfd)
        except FileNotFoundError:
            return _new(name, dfd, mode), None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                found = "a symbolic link"
            elif exc.errno == errno.ENXIO:
                found = "a FIFO"
            else:
                raise
        else:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                os.set_blocking(fd, True)
                return fd, None
            os.close(fd)
            found = describe(info)
        os.unlink(name, dir_fd=dfd)
        return _new(name, dfd, mode), found
    finally:
        os.close(dfd)


def _new(name: str, dfd: int, mode: int) -> int:
    try:
        return os.open(name, NEW, mode, dir_fd=dfd)
    except FileExistsError:  # planted again since: removed once more, never followed
        os.unlink(name, dir_fd=dfd)
        return os.open(name, NEW, mode, dir_fd=dfd)
