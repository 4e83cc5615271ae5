"""A case's job may take its own permissions away (``chmod 000 dir``, ``chmod 500 .``).

Root ignores that, but any other user then cannot list, move out of or delete in those
directories, and the cleanup that keeps the case's files and removes its stage dir would
fail with ``PermissionError``. The directories are the user's own, made by the case: the
cleanup gives their owner read, write and search back and tries again (the host agent does
the same on remote hosts). Only done when an operation was refused, so the usual case costs
nothing; the case's processes are all ended by then (see :mod:`assay.transports.contain`),
so nothing swaps a directory for a link in between.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def open_up(root: Path) -> None:
    """Give the owner ``rwx`` on every directory under ``root`` (``root`` included) that
    this user owns; links are never followed."""
    me = os.geteuid()
    todo = [str(root)]
    while todo:
        path = todo.pop()
        try:
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != me:
                continue
            if info.st_mode & 0o700 != 0o700:
                os.chmod(path, stat.S_IMODE(info.st_mode) | 0o700)
            with os.scandir(path) as entries:
                todo.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:  # gone, or not ours: the retry says what is wrong
            continue


def with_access(root: Path, action: Callable[[], T]) -> T:
    """``action()``; refused for lack of permission under ``root``, it is tried once more
    after :func:`open_up` (``action`` must be safe to repeat after a refusal)."""
    try:
        return action()
    except PermissionError:
        with contextlib.suppress(OSError):
            open_up(root)
        return action()
