"""Putting a tree into a directory without copying what need not be copied.

Files are hard links to the store's read-only objects. A path the test declares writable
gets a private copy (a reflink where the filesystem supports it). Where a hard link is
impossible (the store is on another filesystem, an inode has too many links) the file is
copied, and the result says how many were.

Every entry is written relative to its parent directory's descriptor, never following a
link (:mod:`assay.store.agent.treewrite`); the caller checks the tree first (:func:`check_tree`).
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assay.store.agent.treewrite import TreeWriter, WriteRefused
from assay.store.objects import ObjectStore, StoreError
from assay.store.trees import Entry, Tree

_NO_LINK = (errno.EXDEV, errno.EMLINK, errno.EPERM)


@dataclass
class Staged:
    """What staging a tree did: the files linked, copied and reflinked, the links and
    directories made, and the (staged path, object) pairs of the linked files."""

    linked: int = 0
    copied: int = 0  # private copies: writable paths, and links that were impossible
    reflinked: int = 0
    links: int = 0
    dirs: int = 0
    linked_paths: list[tuple[str, str]] = field(default_factory=list)  # (staged path, object)


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Whether a tree path is one of ``patterns`` (globs) or lies below one: how ``writable``
    and ``exclude_sources`` name inputs."""
    return matcher(tuple(patterns))(path)


@functools.lru_cache(maxsize=64)
def matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """:func:`matches` for ``patterns``, compiled once: the globs as one regular expression
    (``fnmatch``'s own translation), the directories as one ``startswith`` (a staged case
    asks it of every entry, and every case asks it of the same few patterns)."""
    if not patterns:
        return _nothing
    globs = re.compile("|".join(fnmatch.translate(p) for p in patterns)).match
    below = tuple(p.rstrip("/") + "/" for p in patterns)
    return lambda path: path.startswith(below) or globs(path) is not None


def _nothing(path: str) -> bool:
    return False


writable_path = matches


def stage_tree(
    objects: ObjectStore,
    tree: Tree,
    target: Path,
    writable: Sequence[str] = (),
    copy_all: bool = False,
    link: bool = True,
) -> Staged:
    """Materialise ``tree`` under ``target`` (which may exist and hold other files: an entry
    replaces what has its name). If it fails midway, what it created is removed again.
    ``copy_all``: every file a private writable copy; without ``link`` the read-only files
    are private read-only copies, not links (a reader that could write through a link)."""
    result = Staged()
    target.mkdir(parents=True, exist_ok=True)
    private_path = matcher(tuple(writable))
    with TreeWriter(target) as out:
        entry: Entry | None = None
        try:
            for entry in tree.entries:
                if entry.type == "dir":
                    out.make_dir(entry.path)
                    result.dirs += 1
                elif entry.type == "symlink":
                    out.symlink(entry.target or "", entry.path)
                    result.links += 1
                else:
                    private = copy_all or private_path(entry.path)
                    _stage_file(objects, out, entry, private, result, link)
        except WriteRefused as exc:
            out.undo()
            raise StoreError(f"cannot stage into {target}: {exc}") from None
        except OSError as exc:
            out.undo()
            where = f"{entry.path!r} " if entry is not None else ""
            raise StoreError(f"cannot stage {where}into {target}: {exc.strerror}") from None
        except BaseException:
            out.undo()
            raise
    return result


def stage_entry(objects: ObjectStore, out: TreeWriter, entry: Entry, result: Staged) -> None:
    """One file of a checkout: a hard link to its object (a read-only copy where a link is
    impossible)."""
    _stage_file(objects, out, entry, False, result)


def _stage_file(
    objects: ObjectStore,
    out: TreeWriter,
    entry: Entry,
    private: bool,
    result: Staged,
    link: bool = True,
) -> None:
    assert entry.hash is not None
    source = objects.blob_path(entry.hash, entry.size, entry.chunk_list(), entry.executable)
    mode = entry.mode & 0o755  # no setuid/setgid/sticky, no group/other write
    if private:
        # A private copy: the test may write it.
        if out.copy_file(source, entry.path, mode | 0o200):
            result.reflinked += 1
        else:
            result.copied += 1
        return
    if not link:  # read-only, but an inode of its own: writing it leaves the store alone
        if out.copy_file(source, entry.path, mode & ~0o222):
            result.reflinked += 1
        else:
            result.copied += 1
        return
    try:
        out.link_file(source, entry.path)
        result.linked += 1
        result.linked_paths.append((entry.path, source))
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        out.copy_file(source, entry.path, mode & ~0o222)  # another filesystem, or too many links
        result.copied += 1
