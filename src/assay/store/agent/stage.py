"""Staging trees into directories by hard links, and checkouts (a read-only directory per tree,
made once and shared), as :mod:`assay.store.stage` and :mod:`assay.store.checkouts` do.

Files are hard links to the store's read-only objects; a path the caller declares writable
gets a private copy (a reflink where the file system can); where a link is impossible (another
file system, too many links) the file is copied. A chunked file is assembled once into
``assembled/`` (each chunk re-hashed against the SHA-256 it arrived with) and linked from
there. The tree is checked first (:mod:`.treecheck`) and written without following links
(:mod:`.treewrite`); a failure half-way removes what the staging created.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import os
import secrets
import stat
import tempfile
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .layout import Layout, ObjectId
    from .state import AgentStore
    from .trees import Entry

from .layout import EPOCH, READ_EXEC, READ_ONLY, AgentError, Corrupt, blob_kind, check_object
from .treecheck import UnsafeEntry, check_tree
from .trees import load as load_tree
from .trees import objects as tree_objects
from .treewrite import TreeWriter, WriteRefused, remove_path

_NO_LINK = (errno.EXDEV, errno.EMLINK, errno.EPERM)
PARTIAL, TRASH = ".partial-", ".trash-"
_BUF = 1 << 20


def _writable(path: str, patterns: Iterable[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns
    )


def _loaded(store: AgentStore, tree: str) -> list[Entry]:
    """The tree's entries, pinned for this agent's lease and checked safe to write out."""
    entries = load_tree(store.layout, tree)
    store.pin_trees([tree], tree_objects(tree, entries))
    try:
        check_tree(((e.path, e.type, e.target) for e in entries), where="the tree")
    except UnsafeEntry as exc:
        raise AgentError(
            f"tree {tree[:16]}: {exc}; refusing to write it out (put it again from a safe source)"
        ) from None
    return entries


class _Sources:
    """The file to link for each entry: its blob, or its chunks assembled once."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.sums: dict[str, dict[ObjectId, str]] = {}  # two-digit prefix -> sha256s
        self.checked: set[str] = set()

    def path(self, entry: Entry) -> str:
        kind = blob_kind(entry.executable)
        if entry.chunks is None:
            path = self.layout.path(kind, entry.hash)
        else:
            path = self._assemble(entry, kind)
        if path not in self.checked:
            try:
                info = os.stat(path)
            except FileNotFoundError:
                raise AgentError(
                    f"store object {entry.hash[:16]} is missing ({path}); run verify on this store"
                ) from None
            if info.st_mtime_ns != EPOCH or info.st_size != entry.size:
                raise Corrupt(
                    f"store object {entry.hash[:16]} was modified after it was stored "
                    f"({path}), probably written through a hard link by a test (as root, or "
                    "after chmod u+w); declare such files writable in the test, then run "
                    "verify --repair on this store"
                )
            self.checked.add(path)
        return path

    def _sum(self, digest: str) -> str | None:
        prefix = digest[:2]
        if prefix not in self.sums:
            self.sums[prefix] = self.layout.load_sums(prefix)
        return self.sums[prefix].get(("chunks", digest))

    def _assemble(self, entry: Entry, kind: str) -> str:
        layout = self.layout
        final = layout.assembled_path(kind, entry.hash)
        if os.path.exists(final):
            return final
        fd, tmp = tempfile.mkstemp(dir=layout.tmp, prefix="asm-")
        try:
            with os.fdopen(fd, "wb") as out:
                for digest, size in entry.chunks or ():
                    self._copy_chunk(digest, size, out, entry)
            os.chmod(tmp, READ_EXEC if kind == "xblobs" else READ_ONLY)
            os.utime(tmp, ns=(EPOCH, EPOCH))
            os.makedirs(os.path.dirname(final), exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, final)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return final

    def _copy_chunk(self, digest: str, size: int, out: IO[bytes], entry: Entry) -> None:
        expected = self._sum(digest)
        hasher = hashlib.sha256()
        try:
            src = open(self.layout.path("chunks", digest), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise AgentError(
                f"a chunk of {entry.path} ({entry.hash[:16]}) is missing: chunks/{digest}; "
                "push its version again"
            ) from None
        got = 0
        with src:
            while True:
                data = src.read(_BUF)
                if not data:
                    break
                got += len(data)
                hasher.update(data)
                out.write(data)
        if got != size or (expected is not None and hasher.hexdigest() != expected):
            raise Corrupt(
                f"chunk {digest[:16]} of {entry.path} is damaged; run verify --repair on "
                "this store and push its version again"
            )


def stage(
    store: AgentStore,
    tree: str,
    target: str,
    writable: Iterable[str] = (),
    copy_all: bool = False,
) -> dict[str, int]:
    """Materialise ``tree`` under ``target`` (which may exist and hold other files)."""
    counts = {"linked": 0, "copied": 0, "reflinked": 0, "links": 0, "dirs": 0}
    with store.lock.shared():
        entries = _loaded(store, tree)
        _write(store, entries, target, writable, copy_all, counts)
    return counts


def _write(
    store: AgentStore,
    entries: list[Entry],
    target: str,
    writable: Iterable[str],
    copy_all: bool,
    counts: dict[str, int],
) -> None:
    sources = _Sources(store.layout)
    os.makedirs(target, exist_ok=True)
    with TreeWriter(target) as out:
        entry = None
        try:
            for entry in entries:
                if entry.type == "dir":
                    out.make_dir(entry.path)
                    counts["dirs"] += 1
                elif entry.type == "symlink":
                    out.symlink(entry.target or "", entry.path)
                    counts["links"] += 1
                else:
                    private = copy_all or _writable(entry.path, writable)
                    _file(out, sources.path(entry), entry, private, counts)
        except WriteRefused as exc:
            out.undo()
            raise AgentError(f"cannot stage into {target}: {exc}") from None
        except OSError as exc:
            out.undo()
            where = f"{entry.path!r} " if entry is not None else ""
            raise AgentError(f"cannot stage {where}into {target}: {exc.strerror or exc}") from None
        except BaseException:
            out.undo()
            raise


def _file(
    out: TreeWriter, source: str, entry: Entry, private: bool, counts: dict[str, int]
) -> None:
    mode = entry.mode & 0o755
    if private:
        counts["reflinked" if out.copy_file(source, entry.path, mode | 0o200) else "copied"] += 1
        return
    try:
        out.link_file(source, entry.path)
        counts["linked"] += 1
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        out.copy_file(source, entry.path, mode & ~0o222)
        counts["copied"] += 1


def set_aside(store: AgentStore, objects: object) -> list[str]:
    """Remove the objects among ``objects`` ([kind, digest] pairs) that were modified
    after they were stored (written through a hard link by a test), so that the next push
    sends them again; a sound object stays whatever is asked. The ids removed."""
    if not isinstance(objects, list):
        raise AgentError("set_aside needs a list of [kind, digest] pairs")
    removed = []
    with store.lock.shared():
        for item in objects:
            if not isinstance(item, list) or len(item) != 2:
                raise AgentError("set_aside needs a list of [kind, digest] pairs")
            kind, digest = item
            check_object(kind, digest)
            path = store.layout.path(kind, digest)
            try:
                if os.lstat(path).st_mtime_ns == EPOCH:
                    continue
                os.unlink(path)
            except FileNotFoundError:
                continue
            removed.append(f"{kind}/{digest}")
    return removed


def checkout(store: AgentStore, tree: str) -> str:
    """``checkouts/TREE``: a read-only directory holding the tree, built once and shared,
    rebuilt when it differs from the tree."""
    layout = store.layout
    final = os.path.join(layout.checkouts, tree)
    with store.lock.shared():
        entries = _loaded(store, tree)
        damaged = os.path.isdir(final) and bool(problems(layout, entries, final))
        if os.path.isdir(final) and not damaged:
            return final
        os.makedirs(layout.checkouts, exist_ok=True)
        partial = f"{final}{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            _write(
                store,
                entries,
                partial,
                (),
                False,
                dict.fromkeys(("linked", "copied", "reflinked", "links", "dirs"), 0),
            )
        except BaseException:
            remove_path(partial)
            raise
        if damaged:
            drop(final)
        try:
            os.rename(partial, final)
        except OSError:  # another process put a sound one there first
            remove_path(partial)
    return final


def drop(folder: str) -> None:
    """Remove a checkout: renamed aside first, so no one finds it half-deleted."""
    trash = os.path.join(
        os.path.dirname(folder), f"{TRASH}{os.path.basename(folder)}-{secrets.token_hex(4)}"
    )
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    remove_path(trash)


def problems(layout: Layout, entries: list[Entry], folder: str) -> list[str]:
    """How ``folder`` differs from the tree (empty: it holds exactly the tree)."""
    expected = {e.path: e for e in entries}
    found: list[str] = []
    seen: set[str] = set()
    base = len(folder) + 1
    for current, dirs, files in os.walk(folder):
        rel_dir = current[base:]
        for name in sorted(dirs + files):
            rel = rel_dir + "/" + name if rel_dir else name
            entry = expected.get(rel)
            if entry is None:
                found.append(rel + ": not in the tree")
                if name in dirs:
                    dirs.remove(name)
                continue
            seen.add(rel)
            try:
                problem = _differs(layout, entry, os.path.join(current, name))
            except FileNotFoundError:
                problem = "missing"
            if problem:
                found.append(f"{rel}: {problem}")
    found.extend(rel + ": missing" for rel in sorted(set(expected) - seen))
    return found


def _differs(layout: Layout, entry: Entry, path: str) -> str | None:
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
    kind = blob_kind(entry.executable)
    source = (
        layout.path(kind, entry.hash)
        if entry.chunks is None
        else layout.assembled_path(kind, entry.hash)
    )
    try:
        linked = os.stat(source)
    except FileNotFoundError:
        return "its object is missing"
    if (linked.st_dev, linked.st_ino) == (info.st_dev, info.st_ino):
        return None if info.st_mtime_ns == EPOCH else "its object was modified after it was stored"
    return None if _same_bytes(source, path) else "content differs from the tree"


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(_BUF), fb.read(_BUF)
            if x != y:
                return False
            if not x:
                return True
