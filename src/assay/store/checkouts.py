"""Checkouts: ``checkouts/TREE``, a read-only directory holding a tree, shared by every run.

A checkout's files are hard links to the store's objects (copies where a link is
impossible), so they can go wrong in two ways: the object they link is damaged, or the
checkout itself changed (a file replaced, added or removed, or a link left to an object that
was since set aside and stored again). ``problems`` finds both; a checkout with problems is
never used as it is: it is rebuilt on next use, and ``verify --repair`` drops it.

A checkout is built under a temporary name and renamed into place; it is removed by renaming
it aside first. A process killed half-way leaves a name that is never used as a checkout,
never a half-filled or half-deleted directory under the final name.

A checkout of a new version is made from the checkout of an earlier version of the same
name when no live lease pins that one (:func:`take_over`): it is renamed to the new one's
temporary name (from that moment it is a checkout of nothing), patched with the difference
of the two trees (:func:`patch`, which enters only the directories whose tree objects
differ), checked like any checkout that is used again, and renamed into place. Choosing and
renaming happen under ``checkouts.lock``, the same lock under which :meth:`Store.checkout`
pins a tree and finds its checkout, so a checkout is never taken from a process that was
just handed it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from assay.store.agent.treewrite import TreeWriter
from assay.store.leases import read_pins
from assay.store.objects import EPOCH, ObjectStore, blob_kind, hash_file
from assay.store.stage import Staged, stage_entry
from assay.store.trees import Diff, Entry, Tree

PARTIAL = ".partial-"
TRASH = ".trash-"


def is_leftover(name: str) -> bool:
    """A checkout being built, or being removed (left by a killed process when no one
    holds the store lock)."""
    return PARTIAL in name or name.startswith(TRASH)


def object_file(objects: ObjectStore, entry: Entry) -> str:
    """The file a checkout's file should be a link to (a plain string: this runs once per
    file of every checkout a run reuses)."""
    assert entry.hash is not None
    kind = blob_kind(entry.executable)
    folder = objects.objects if entry.chunks is None else objects.assembled_root
    return f"{folder}/{kind}/{entry.hash[:2]}/{entry.hash[2:]}"


def problems(
    objects: ObjectStore,
    tree: Tree,
    folder: Path,
    bad: Collection[str] = (),
    deep: bool = False,
) -> list[str]:
    """How ``folder`` differs from ``tree`` (empty: it holds exactly the tree).

    A file that is the object's own inode is as sound as that object: ``bad`` names object
    files found corrupt, and without ``deep`` an object's modification time must still be
    the epoch (how the store notices a write through a link). Any other file (a copy, or a
    link to an object since replaced) is re-hashed.
    """
    expected = tree.by_path()
    found: list[str] = []
    seen: set[str] = set()
    base = len(str(folder)) + 1
    for current, dirs, files in os.walk(folder):
        rel_dir = current[base:]
        for name in sorted(dirs + files):
            path = os.path.join(current, name)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            entry = expected.get(rel)
            if entry is None:
                found.append(f"{rel}: not in the tree")
                if name in dirs:
                    dirs.remove(name)
                continue
            seen.add(rel)
            try:
                problem = _check(objects, entry, path, bad, deep)
            except FileNotFoundError:  # the checkout is being dropped by another process
                problem = "missing"
            if problem:
                found.append(f"{rel}: {problem}")
    found.extend(f"{rel}: missing" for rel in sorted(set(expected) - seen))
    return found


def _check(
    objects: ObjectStore, entry: Entry, path: str, bad: Collection[str], deep: bool
) -> str | None:
    info = os.lstat(path)
    if entry.type == "dir":
        return None if stat.S_ISDIR(info.st_mode) else "not a directory"
    if entry.type == "symlink":
        if not stat.S_ISLNK(info.st_mode):
            return "not a symbolic link"
        target = os.readlink(path)
        return None if target == entry.target else f"links to {target!r}, not {entry.target!r}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size != entry.size:
        return f"{info.st_size} bytes, not {entry.size}"
    if info.st_mode & 0o222:
        return "writable"
    if bool(info.st_mode & 0o111) != entry.executable:
        return "executable bit differs"
    source = object_file(objects, entry)
    try:
        linked = os.stat(source)
    except FileNotFoundError:
        linked = None
    if linked is not None and (linked.st_dev, linked.st_ino) == (info.st_dev, info.st_ino):
        if source in bad:
            return "links a corrupt object"
        if not deep and info.st_mtime_ns != EPOCH:
            return "its object was modified after it was stored"
        return None
    assert entry.hash is not None
    return None if hash_file(Path(path)) == entry.hash else "content differs from the tree"


def partial_name(final: Path) -> Path:
    return final.with_name(f"{final.name}{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}")


def drop(folder: Path) -> None:
    """Remove a checkout: renamed aside first, so no one finds it half-deleted."""
    trash = folder.with_name(f"{TRASH}{folder.name}-{secrets.token_hex(4)}")
    try:
        folder.rename(trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def publish(partial: Path, final: Path, replace: bool) -> None:
    """Rename a finished checkout into place; ``replace`` a damaged one that is there."""
    if replace:
        drop(final)
    try:
        partial.rename(final)
    except OSError:  # another process (or thread) put a sound one there first
        shutil.rmtree(partial, ignore_errors=True)


HANDOVER_LOCK = "checkouts.lock"  # in the store's root (not in checkouts/, which gc empties)


@dataclass
class Patched:
    """What :func:`patch` did to a taken-over checkout."""

    removed: int = 0
    written: int = 0  # files, links and directories written anew


def take_over(root: Path, final: Path, candidates: Iterable[str]) -> tuple[Path, str] | None:
    """Rename the checkout of the first of ``candidates`` (trees) that exists and no live
    lease pins to ``final``'s temporary name; that name and the tree it holds, or None.
    The caller holds ``HANDOVER_LOCK`` (and pinned ``final``'s tree under it)."""
    folder = final.parent
    wanted = [c for c in candidates if c != final.name and (folder / c).is_dir()]
    if not wanted:
        return None
    pinned = read_pins(root).trees
    for tree in wanted:
        if tree in pinned:
            continue
        partial = partial_name(final)
        try:
            (folder / tree).rename(partial)
        except FileNotFoundError:  # dropped meanwhile (gc, verify --repair)
            continue
        return partial, tree
    return None


def patch(objects: ObjectStore, folder: Path, changes: Diff) -> Patched:
    """Turn a checkout of one tree into one of another, given their difference: what went
    is removed (the top-most path of each removed directory only), what changed or came is
    written (parents first). Each entry is written relative to its parent's descriptor,
    never through a link (:class:`TreeWriter`)."""
    done = Patched()
    staged = Staged()
    with TreeWriter(folder) as out:
        # a directory that became something else goes whole, with what it held
        gone = {old.path for old, new in changes.changed if old.type == "dir" != new.type}
        for path in sorted(gone):
            out.remove(path)
            done.removed += 1
        for entry in changes.removed:
            if _below_any(entry.path, gone):
                continue  # went with its directory
            out.remove(entry.path)
            gone.add(entry.path)
            done.removed += 1
        new = [after for _, after in changes.changed] + changes.added
        for entry in sorted(new, key=lambda e: e.path):
            if entry.type == "dir":
                out.make_dir(entry.path)
            elif entry.type == "symlink":
                out.symlink(entry.target or "", entry.path)
            else:
                stage_entry(objects, out, entry, staged)
            done.written += 1
    return done


def _below_any(path: str, folders: Collection[str]) -> bool:
    head = path.rpartition("/")[0]
    while head:
        if head in folders:
            return True
        head = head.rpartition("/")[0]
    return False
