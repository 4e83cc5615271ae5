"""Operating-system failures inside store operations, told as store errors.

A store on a read-only filesystem, one the user may not write, a full disk, or a file
that vanished under a damaged store: each is the user's to fix, so it becomes one
``StoreError`` naming the store, the path and the cause (a traceback only with --debug).
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from assay.store.objects import StoreError

F = TypeVar("F", bound=Callable[..., Any])

_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
_FULL = (errno.ENOSPC, errno.EDQUOT)


class _Rooted(Protocol):
    root: Path


def describe(exc: OSError, root: Path) -> str:
    """One line: which path of which store, what went wrong, and what to do."""
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    where = " -> ".join(names) or str(root)
    cause = exc.strerror or str(exc)
    inside = any(_within(n, root) for n in names)
    if not inside:
        return outside(exc, where)
    message = f"the store at {root}: {where}: {cause}"
    if exc.errno in _NOT_WRITABLE:
        message += "; use a store you may write (--store DIR or $ASSAY_STORE)"
    elif exc.errno in _FULL:
        message += "; free space (assay store gc) or use another store"
    elif exc.errno == errno.ENOENT and not root.is_dir():  # (no store there: not made)
        message += "; give --store (or $ASSAY_STORE) a directory that can be made there"
    elif exc.errno == errno.ENOENT:  # (a file of a store that is there: damage)
        message += "; run `assay store verify`"
    return message


def outside(exc: OSError, where: str | None = None) -> str:
    """One line for a failure on a path outside any store (a user's file): the path (or
    ``where``) and the cause, as :func:`describe` says it."""
    if where is None:
        where = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
    cause = exc.strerror or str(exc)
    return f"{where}: {cause}" if where else cause


def check_writable(folder: Path) -> None:
    """Raise the ``OSError`` a write into ``folder`` would meet (SQLite's own messages
    name neither the path nor the cause)."""
    if os.access(folder, os.W_OK):
        return
    read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    code = errno.EROFS if read_only else errno.EACCES
    raise OSError(code, os.strerror(code), str(folder))


def _within(path: str, root: Path) -> bool:
    try:
        here = os.path.abspath(path)
        base = os.path.abspath(root)
    except (OSError, ValueError):
        return False
    return here == base or here.startswith(base.rstrip(os.sep) + os.sep)


def store_errors(method: F) -> F:
    """Turn the OS and SQLite errors of a ``Store`` method into ``StoreError``."""

    @functools.wraps(method)
    def wrapper(self: _Rooted, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            raise StoreError(describe(exc, self.root)) from exc
        except sqlite3.Error as exc:
            raise StoreError(
                f"the store at {self.root}: its stat cache ({self.root / 'cache'}) cannot be "
                f"used: {exc}"
            ) from exc

    return cast(F, wrapper)
