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
from assay.store.trees import Tree

_FICLONE = 0x40049409  # ioctl: share the source's blocks copy-on-write (btrfs, xfs, ...)


@dataclass
class Staged:
    linked: int = 0
    copied: int = 0  # private copies: writable paths, and links that were impossible
    reflinked: int = 0
    links: int = 0
    dirs: int = 0
    linked_paths: list[tuple[str, Path]] = field(default_factory=list)  # (staged path, object)


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
    for entry in tree.entries:
        dest = target / entry.path
        if entry.type == "dir":
            dest.mkdir(exist_ok=True)
            result.dirs += 1
            continue
        if entry.type == "symlink":
            _replace(dest)
            os.symlink(entry.target or "", dest)
            result.links += 1
            continue
        assert entry.hash is not None
        source = objects.blob_path(entry.hash, entry.size, entry.chunk_list(), entry.executable)
        _replace(dest)
        if copy_all or _writable(entry.path, writable):
            if _reflink(source, dest):
                result.reflinked += 1
            else:
                shutil.copyfile(source, dest)
                result.copied += 1
            os.chmod(dest, entry.mode | 0o200)  # a private copy: the test may write it
            continue
        try:
            os.link(source, dest)
            result.linked += 1
            result.linked_paths.append((entry.path, source))
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                raise
            shutil.copyfile(source, dest)  # another filesystem, or too many links
            os.chmod(dest, entry.mode & ~0o222)
            result.copied += 1
    return result


def _replace(dest: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        else:
            dest.unlink()


def _reflink(source: Path, dest: Path) -> bool:
    try:
        with open(source, "rb") as src, open(dest, "wb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        return True
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        return False
