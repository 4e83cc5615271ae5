"""How ``assay bless`` writes an expected file: only inside the case's expected root, never
through a symbolic link.

The store's :class:`~assay.store.agent.treewrite.TreeWriter` does the writing: the path from
the expected root's parent down to the file is walked by directory descriptors opened with
``O_NOFOLLOW``, so a directory swapped for a link after the plan was checked is refused,
not followed; the file is written beside its target under a fresh name and renamed over it,
so a target swapped for a link (or a hard link to a file elsewhere) is replaced, never
written through. The actual output it copies is opened the same way: a link there (to a
secret) is not copied into the suite's files.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from assay.errors import AssayError
from assay.store.agent.treewrite import TreeWriter, WriteRefused

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
        info = os.fstat(src)
        if not stat.S_ISREG(info.st_mode):
            raise NotBlessed(f"{source} is not a regular file")
        # From the root's parent: the root is one more directory that must be no link.
        with TreeWriter(root.parent) as writer:
            writer.replace_file(f"{root.name}/{relative}", src, stat.S_IMODE(info.st_mode))
    except WriteRefused as exc:
        where = root.parent / exc.where
        if exc.what == "a symlink":
            raise _refused(where) from None
        raise NotBlessed(f"{where} is {exc.what or 'not a plain path'}") from None
    except OSError as exc:
        raise _refused(root / relative, exc) from None
    finally:
        os.close(src)
