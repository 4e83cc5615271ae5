"""A case's job may take its own permissions away (``chmod 000 dir``, ``chmod 500 .``).

Root ignores that, but any other user then cannot list, move out of or delete in those
directories, and the cleanup that keeps the case's files and removes its stage dir would
fail with ``PermissionError``. The directories are the user's own, made by the case: the
cleanup gives their owner read, write and search back and tries again (the host agent does
the same on remote hosts). Only done when an operation was refused, so the usual case costs
nothing. Every directory is opened relative to the one above it without following a link
and its mode changed through that descriptor: a process the case left behind that swaps a
directory for a link meanwhile has no directory elsewhere opened up.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from assay.compare import beneath

T = TypeVar("T")


# A directory looked at without reading it: needs no permission on it (Linux's O_PATH).
_PATH_DIR = beneath.STEP


def open_stage(path: Path, ident: tuple[int, int] | None) -> int:
    """The stage dir ``path`` opened for listing (:func:`assay.compare.beneath.open_dir`:
    not a link at its name, only while it is the directory ``ident``); one the job closed
    to its owner (``chmod 000``) is opened up first."""
    try:
        return beneath.open_dir(str(path), ident)
    except PermissionError:
        pass
    fd = os.open(path, _PATH_DIR)
    try:
        if ident is not None and beneath.identity(os.fstat(fd)) != ident:
            raise beneath.NotTheSame(str(path))
        _give_back(fd, os.geteuid())
    finally:
        os.close(fd)
    return beneath.open_dir(str(path), ident)


def by_descriptor(fd: int, path: Path) -> Path:
    """A name of the directory ``fd`` itself, for code that takes paths (a glob): its
    ``/proc`` name, which leads to that directory whatever is at ``path`` by now; ``path``
    where there is no ``/proc``."""
    proc = Path(f"/proc/self/fd/{fd}")
    return proc if os.path.isdir(proc) else path


def open_up(dir_fd: int) -> None:
    """Give the owner ``rwx`` on every directory under ``dir_fd`` (itself included) that
    this user owns; links are never followed."""
    me = os.geteuid()
    _give_back(dir_fd, me)
    todo = [os.dup(dir_fd)]
    while todo:
        fd = todo.pop()
        try:
            with os.scandir(fd) as entries:
                names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
            for name in names:
                sub = _opened_up(name, fd, me)
                if sub is not None:
                    todo.append(sub)
        except OSError:  # gone, or not ours: the retry says what is wrong
            continue
        finally:
            os.close(fd)


def _opened_up(name: str, dir_fd: int, me: int) -> int | None:
    """The subdirectory ``name`` of ``dir_fd`` given back to its owner (when that is this
    user) and opened for listing; None when it is no directory (a link), not ours, gone."""
    try:
        fd = os.open(name, _PATH_DIR, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not _give_back(fd, me):
            return None
        return os.open(".", beneath.DIR, dir_fd=fd)  # (that directory, now readable)
    except OSError:
        return None
    finally:
        os.close(fd)


def _give_back(fd: int, me: int) -> bool:
    """``rwx`` for the owner of the directory ``fd`` when it is ``me``; whether it is."""
    info = os.fstat(fd)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != me:
        return False
    if info.st_mode & 0o700 != 0o700:
        mode = stat.S_IMODE(info.st_mode) | 0o700
        if hasattr(os, "O_PATH"):  # (fchmod refuses an O_PATH descriptor: its /proc name)
            os.chmod(f"/proc/self/fd/{fd}", mode)
        else:
            os.fchmod(fd, mode)
    return True


def with_access(dir_fd: int, action: Callable[[], T]) -> T:
    """``action()``; refused for lack of permission under the directory ``dir_fd``, it is
    tried once more after :func:`open_up` (``action`` must be safe to repeat after a
    refusal)."""
    try:
        return action()
    except PermissionError:
        with contextlib.suppress(OSError):
            open_up(dir_fd)
        return action()
