"""Small case directories staged by plain copies, without the store.

A suite case run on this machine (local transport, direct scheduler) whose directory is
small (at most :data:`MAX_FILES` files, each at most :data:`FILE_LIMIT`, all of them
together at most :data:`TOTAL_LIMIT`) is copied straight into its stage dir: reading a
few small files once costs less than storing them (content hashes into objects, tree
objects, the store's lock and stat cache) and hard-linking them back. Larger
directories, builds, overlays and artifacts keep the store (:mod:`assay.store.stage`).
What the store's staging promises still holds:

* the test cannot change the user's files: it sees copies;
* a copy of an undeclared input is read-only (the source's mode without its write bits;
  the exec bit is kept), and the case drops root's capabilities to override modes as it
  does for store links; paths declared ``writable`` get writable copies;
* the directory is checked as a store import checks it, with the import's own functions
  and messages (:mod:`assay.store.importer`): no FIFOs or devices, no relative link
  leaving it, no file that changes while it is read. Links are copied as links;
* provenance: :attr:`Copied.digest` is the hash the store would give the copied tree
  (``assay store put`` of the same files), from the store's own tree encoding and blob
  hash, computed while copying.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assay.store.agent.treecheck import _plain as plain_name
from assay.store.agent.treewrite import TreeWriter, WriteRefused
from assay.store.dirwalk import (
    check_links,
    file_entry_mode,
    other_entry,
    walk_directory,
)
from assay.store.failures import outside
from assay.store.objects import (
    CHUNK_THRESHOLD,
    StoreError,
    changed_while_read,
    hash_bytes,
)
from assay.store.stage import matcher
from assay.store.trees import Entry, Tree, make_tree, tree_digest

# Measured (CPU per case; a copy against a first import into the store, and against a
# later run, when the stat cache and the store's objects make an import a few stats and
# links): 1 file of 4 KiB 0.22 ms against 1.35 ms first, 0.34 ms later; 4 files of 4 KiB
# 0.61 / 3.1 / 0.44 ms; 8 files 4.7 / 6.8 / 1.3 ms (creating a file costs more than
# linking one); 1 file of 128 KiB 0.46 / 1.9 / 0.39 ms; 1 MiB 0.88 / 2.5 / 0.30 ms; 8 MiB
# 7.3 / 23 / 0.8 ms. Below these bounds a copy is never much dearer than a later run's
# import and much cheaper than the first; above them the store wins from the second run.
MAX_FILES = 4
"""The most files a copied case directory may hold."""
FILE_LIMIT = 256 << 10
"""The largest file a copied case directory may hold (256 KiB)."""
TOTAL_LIMIT = 256 << 10
"""The most a copied case directory's files may hold together (256 KiB)."""
MAX_ENTRIES = 64
"""The most entries (files, directories, links; ``expected/`` too) looked at: the look
runs in the event loop, so a large directory is left to the store (in a worker thread)."""
# A file below the chunking threshold is one blob, whose hash is its content's.
assert FILE_LIMIT < CHUNK_THRESHOLD


@dataclass
class Planned:
    """A small directory, looked at and checked, not yet copied."""

    root: Path
    tree: Tree  # every entry to stage; files without their hashes yet
    found: dict[str, tuple[str, os.stat_result]] = field(default_factory=dict)  # rel -> file
    bytes: int = 0
    flat: bool = False  # only files right below the root, every name plain (see plan_copy)


@dataclass
class Copied:
    """A directory copied into a stage dir."""

    tree: Tree
    digest: str  # the tree's hash, as the store names it
    read_only: int = 0
    writable: int = 0


def plan_copy(root: Path, exclude: Sequence[str]) -> Planned | None:
    """The entries of ``root`` to copy (those ``exclude`` does not name), or None when
    they are more than :data:`MAX_FILES` files, one is larger than :data:`FILE_LIMIT`, all
    of them than :data:`TOTAL_LIMIT`, or the directory has more than :data:`MAX_ENTRIES`
    entries (the store stages it). Raises
    :class:`StoreError`, with the store import's message, for what an import would refuse
    (the excluded part too: an import reads it all)."""
    entries: list[Entry] = []
    plan = Planned(root, Tree(()))
    excluded = matcher(tuple(exclude))
    dropped: set[str] = set()  # what exclude names (asked once an entry)
    plain = True  # every name plain ASCII, no link: the tree model could refuse nothing
    try:
        for rel, path, info in walk_directory(root):
            if len(entries) >= MAX_ENTRIES:
                return None
            plain = plain and plain_name(rel)
            if exclude and excluded(rel):
                dropped.add(rel)
            entry = other_entry(rel, path, info)
            if entry is not None:
                plain = plain and entry.type == "dir"
                entries.append(entry)
                continue
            entries.append(Entry(rel, "file", mode=file_entry_mode(info), size=info.st_size))
            if rel in dropped:
                continue
            plan.bytes += info.st_size
            plan.found[rel] = (path, info)
            if info.st_size > FILE_LIMIT or plan.bytes > TOTAL_LIMIT:
                return None
            if len(plan.found) > MAX_FILES:
                return None
    except OSError as exc:
        raise StoreError(outside(exc)) from None
    whole = make_tree(entries)
    if not plain:
        # (A walk's paths are unique and below directories it walked: with plain names and
        # no link, the model's checks of names, parents and links all pass; measured 14 us
        # of the plan's 60 per small case.)
        check_links(whole, root)
    plan.tree = Tree(tuple(e for e in whole.entries if e.path not in dropped)) if dropped else whole
    plan.flat = plain and all(e.type == "file" and "/" not in e.path for e in plan.tree.entries)
    return plan


def copy_planned(plan: Planned, target: Path, writable: Sequence[str]) -> Copied:
    """Copy ``plan`` into the existing directory ``target`` (an entry replaces what has its
    name), hashing each file as it is read. If it fails midway, what it created is removed."""
    entries: list[Entry] = []
    copied = Copied(plan.tree, "")
    private = matcher(tuple(writable))
    if plan.flat and _copy_flat(plan, target, private, copied, entries):
        copied.tree = Tree(tuple(entries))
        copied.digest = tree_digest(copied.tree)
        return copied
    with TreeWriter(target) as out:
        try:
            for entry in plan.tree.entries:
                if entry.type == "dir":
                    out.make_dir(entry.path)
                elif entry.type == "symlink":
                    out.symlink(entry.target or "", entry.path)
                else:
                    path, info = plan.found[entry.path]
                    data = _read(path, info)
                    if private(entry.path):
                        mode = (entry.mode & 0o755) | 0o200
                        copied.writable += 1
                    else:  # the source's own bits, but no write, set-id or sticky bit
                        mode = stat.S_IMODE(info.st_mode) & 0o555
                        copied.read_only += 1
                    out.write_bytes(entry.path, data, mode)
                    entry = Entry(
                        entry.path, "file", mode=entry.mode, size=len(data), hash=hash_bytes(data)
                    )
                entries.append(entry)
        except WriteRefused as exc:
            out.undo()
            raise StoreError(f"cannot stage into {target}: {exc}") from None
        except OSError as exc:
            out.undo()
            raise StoreError(outside(exc)) from None
        except BaseException:
            out.undo()
            raise
    copied.tree = Tree(tuple(entries))
    copied.digest = tree_digest(copied.tree)
    return copied


_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _copy_flat(
    plan: Planned,
    target: Path,
    private: Callable[[str], object],
    copied: Copied,
    entries: list[Entry],
) -> bool:
    """:func:`copy_planned` of a flat plan (files right below the root, plain names: no
    directory to make or walk, no name to check), each file created beside the others in
    the directory opened once, as the writer creates it (``O_EXCL | O_NOFOLLOW``), without
    the writer's bookkeeping. False, with nothing left of it, when a name is taken: the
    writer then replaces what is in the way."""
    root = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    made: list[str] = []
    writable = 0
    try:
        for entry in plan.tree.entries:
            path, info = plan.found[entry.path]
            data = _read(path, info)
            if private(entry.path):
                mode = (entry.mode & 0o755) | 0o200
                writable += 1
            else:  # the source's own bits, but no write, set-id or sticky bit
                mode = stat.S_IMODE(info.st_mode) & 0o555
            try:
                fd = os.open(entry.path, _NEW, 0o600, dir_fd=root)
            except FileExistsError:
                _unmake(root, made)
                return False
            made.append(entry.path)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            entries.append(
                Entry(entry.path, "file", mode=entry.mode, size=len(data), hash=hash_bytes(data))
            )
    except OSError as exc:
        _unmake(root, made)
        raise StoreError(outside(exc)) from None
    except BaseException:
        _unmake(root, made)
        raise
    finally:
        os.close(root)
    copied.writable += writable
    copied.read_only += len(made) - writable
    return True


def _unmake(root: int, names: list[str]) -> None:
    """Remove the files ``names`` that :func:`_copy_flat` made in ``root``."""
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=root)


def _read(path: str, before: os.stat_result) -> bytes:
    """The whole content of the regular file ``path``, which must be the one looked at
    (never a link put in its place or on its way) and unchanged while it is read."""
    try:
        # O_NONBLOCK: a FIFO put in its place would otherwise make the open wait for a
        # writer (forever); opened at once, its fstat below refuses it. (No effect on the
        # reads of a regular file.)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link now stands where the file was
            raise changed_while_read(path) from None
        raise
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise changed_while_read(path)
        # Raw reads, no file object: one read for a small file. A file that grew or was
        # rewritten meanwhile shows it in its size or mtime afterwards.
        data = os.read(fd, before.st_size + 1)
        while len(data) < before.st_size:  # (a short read)
            part = os.read(fd, before.st_size + 1 - len(data))
            if not part:
                break
            data += part
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or len(
        data
    ) != before.st_size:
        raise changed_while_read(path)
    return data
