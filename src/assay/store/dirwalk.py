"""Looking at a directory as a store import does: its entries in name order (links not
followed), each one's tree entry, and the check of its links. Shared by the import
(:mod:`assay.store.importer`) and the copy of small case dirs (:mod:`assay.store.copystage`),
which needs it without the archive code the import also carries."""

from __future__ import annotations

import operator
import os
import stat
from collections.abc import Container, Iterator
from pathlib import Path

from assay.store.agent.treecheck import UnsafeEntry
from assay.store.objects import StoreError
from assay.store.trees import Entry, Tree, check_tree


def file_mode(mode: int) -> int:
    """The permission bits a file from an archive gets (as tarfile's ``data`` filter): no
    setuid/setgid/sticky, no group/other write, executable only if the owner may."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode


_NAME = operator.attrgetter("name")  # (a C call per entry, not a lambda's frame)


def walk_directory(
    root: Path, skip: Container[tuple[int, int]] = ()
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, path, lstat) of everything below ``root``, each directory's entries
    in name order; a directory whose (device, inode) ``skip`` holds is left out, with what
    it holds."""
    stack: list[tuple[Path | str, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            items = sorted(it, key=_NAME)
        for item in items:
            rel = prefix + item.name
            info = item.stat(follow_symlinks=False)
            if skip and stat.S_ISDIR(info.st_mode) and (info.st_dev, info.st_ino) in skip:
                continue
            yield rel, item.path, info
            if stat.S_ISDIR(info.st_mode):
                stack.append((item.path, rel + "/"))  # (a str: scandir takes either)


def other_entry(rel: str, path: str, info: os.stat_result) -> Entry | None:
    """The tree entry of a directory or a symlink found at ``path``; None for a regular file
    (its content is the caller's to read); anything else is refused."""
    if stat.S_ISDIR(info.st_mode):
        return Entry(rel, "dir", mode=stat.S_IMODE(info.st_mode) & 0o755)
    if stat.S_ISLNK(info.st_mode):
        return Entry(rel, "symlink", mode=0o777, target=os.readlink(path))
    if stat.S_ISREG(info.st_mode):
        return None
    raise StoreError(f"{path}: not a regular file, directory or symlink; leave it out")


def file_entry_mode(info: os.stat_result) -> int:
    """The mode a regular file's entry gets (as for archives: the same tree either way)."""
    return file_mode(stat.S_IMODE(info.st_mode))


def check_links(tree: Tree, root: Path) -> None:
    """Refuse a directory whose symlinks could not be written out where it is staged."""
    try:
        check_tree(tree, "the directory")
    except UnsafeEntry as exc:
        if not exc.reason.startswith(_LINK_REASONS):  # a file's name: the fix is in the reason
            raise StoreError(f"{root}: {exc}") from None
        raise StoreError(
            f"{root}: symlink {exc}; a relative link must stay inside the directory to mean "
            "the same once staged elsewhere (make it absolute, or copy what it points to)"
        ) from None


# How check_tree's reasons about a symlink's target start (the others are about a name).
_LINK_REASONS = ("is a symlink", "points ", "leads")
