"""Putting a tree into a directory without copying what need not be copied.

Files are hard links to the store's read-only objects. A path the test declares writable
gets a private copy (a reflink where the filesystem supports it). Where a hard link is
impossible (the store is on another filesystem, an inode has too many links) the file is
copied, and the result says how many were.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assay.store.objects import ObjectStore
from assay.store.trees import Entry, Tree

_FICLONE = 0x40049409  # ioctl: share the source's blocks copy-on-write (btrfs, xfs, ...)
_NO_LINK = (errno.EXDEV, errno.EMLINK, errno.EPERM)


@dataclass
class Staged:
    linked: int = 0
    copied: int = 0  # private copies: writable paths, and links that were impossible
    reflinked: int = 0
    links: int = 0
    dirs: int = 0
    linked_paths: list[tuple[str, str]] = field(default_factory=list)  # (staged path, object)


def _writable(path: str, patterns: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns
    )


def stage_tree(
    objects: ObjectStore,
    tree: Tree,
    target: Path,
    writable: Sequence[str] = (),
    copy_all: bool = False,
) -> Staged:
    """Materialise ``tree`` under ``target`` (which may exist and hold other files)."""
    result = Staged()
    target.mkdir(parents=True, exist_ok=True)
    root = str(target) + os.sep
    for entry in tree.entries:
        dest = root + entry.path
        if entry.type == "dir":
            with contextlib.suppress(FileExistsError):
                os.mkdir(dest)
            result.dirs += 1
        elif entry.type == "symlink":
            _retry_after_replace(os.symlink, entry.target or "", dest)
            result.links += 1
        else:
            _stage_file(objects, entry, dest, copy_all or _writable(entry.path, writable), result)
    return result


def _stage_file(objects: ObjectStore, entry: Entry, dest: str, private: bool, out: Staged) -> None:
    assert entry.hash is not None
    source = objects.blob_path(entry.hash, entry.size, entry.chunk_list(), entry.executable)
    if private:
        _replace(dest)
        if _reflink(source, dest):
            out.reflinked += 1
        else:
            shutil.copyfile(source, dest)
            out.copied += 1
        os.chmod(dest, entry.mode | 0o200)  # a private copy: the test may write it
        return
    try:
        _retry_after_replace(os.link, source, dest)
        out.linked += 1
        out.linked_paths.append((entry.path, source))
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        _replace(dest)
        shutil.copyfile(source, dest)  # another filesystem, or too many links
        os.chmod(dest, entry.mode & ~0o222)
        out.copied += 1


def _retry_after_replace(make: object, source: object, dest: str) -> None:
    """``make(source, dest)``; if ``dest`` exists (a stage dir reused), replace it first."""
    try:
        make(source, dest)  # type: ignore[operator]
    except FileExistsError:
        _replace(dest)
        make(source, dest)  # type: ignore[operator]


def _replace(dest: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        else:
            os.unlink(dest)


def _reflink(source: str, dest: str) -> bool:
    try:
        with open(source, "rb") as src, open(dest, "wb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        return True
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        return False
