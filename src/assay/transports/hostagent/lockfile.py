"""The lock file of a daemon's name (``NAME.lock``): held by a connector while it looks for
the daemon or starts one, and by a daemon while it removes its files at its end."""

from __future__ import annotations

import errno
import fcntl
import os

_LOCK = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def hold_lock(path: str) -> int:
    """Lock ``path`` (made if missing) and return its descriptor; :func:`release` ends it.

    A daemon at its end unlinks the lock file while it holds it: whoever waited on that
    file then holds a lock on a file no longer there, which the next caller does not see.
    So the lock counts only once the file locked is still the one at ``path``; if not,
    the new one is locked instead."""
    while True:
        try:
            fd = os.open(path, _LOCK, 0o600)
        except OSError as exc:
            # A link at the name (test code runs as the user and may plant one): removed,
            # never followed (O_CREAT through a dangling one made a file where it led).
            if exc.errno != errno.ELOOP:
                raise
            os.unlink(path)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            there = os.stat(path)
        except FileNotFoundError:  # unlinked by the last holder: lock the next one
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino):
            return fd
        os.close(fd)


def release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def same_file(path: str, known: tuple[int, int]) -> bool:
    """Whether ``path`` is (without following a link) the file whose (st_dev, st_ino) is
    ``known``."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == known


def identity(path: str) -> tuple[int, int]:
    info = os.lstat(path)
    return (info.st_dev, info.st_ino)
