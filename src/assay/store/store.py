"""``Store``: the artifact store's one entry point (see :mod:`assay.store`).

Every operation that writes objects or reads them runs under the store's shared lock (gc
and repair take it exclusively). A store that holds a lease (``take_lease``) pins every
tree it imports, resolves, merges or checks out, in the same hold of the lock: gc keeps
those trees, everything they reach and their checkouts until the lease ends.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assay.store import checkouts
from assay.store.agent.treecheck import UnsafeEntry
from assay.store.agent.treeobj import is_dir_object
from assay.store.agent.treewrite import WriteRefused, remove_path
from assay.store.failures import check_writable, store_errors
from assay.store.importer import (
    Imported,
    StatCache,
    import_archive,
    import_directory,
    single_file_tree,
)
from assay.store.leases import Lease, object_pin, tree_pin
from assay.store.locking import store_lock
from assay.store.maintenance import GcReport, collect
from assay.store.names import Refs, Version, check_name
from assay.store.objects import ObjectStore, StoreError, locked
from assay.store.stage import Staged, stage_tree
from assay.store.trees import (
    Diff,
    Tree,
    check_tree,
    diff_stored,
    load_tree,
    overlay,
    put_tree,
    read_tree_object,
)
from assay.store.verify import VerifyReport, verify

if TYPE_CHECKING:
    from assay.archives import Limits

STORE_ENV = "ASSAY_STORE"


def default_root(cwd: Path | None = None) -> Path:
    """``$ASSAY_STORE``, else ``./.assay/store`` in a project (a directory with assay.toml),
    else the user's data directory."""
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env)
    here = cwd or Path.cwd()
    if (here / "assay.toml").is_file():
        return here / ".assay" / "store"
    import platformdirs  # lazy: start-up time (7 ms; only when no store is configured)

    return Path(platformdirs.user_data_dir("assay")) / "store"


@dataclass
class PutResult:
    version: Version
    created: bool
    imported: Imported


class Store:
    """A store rooted at ``root`` (created on first use)."""

    def __init__(self, root: Path, limits: Limits | None = None) -> None:
        self.root = root
        self.objects = ObjectStore(root)
        self.refs = Refs(root)
        self._limits = limits
        self._cache: StatCache | None = None
        self._cache_lock = threading.Lock()
        self._lease: Lease | None = None
        self._checked: set[str] = set()  # stored trees found safe to write out
        self._recent: list[Tree] = []  # tree objects found safe, the latest few

    @property
    def limits(self) -> Limits:
        """What an archive put into this store may unpack to."""
        if self._limits is None:
            # Imported here: the archive code (tarfile, zipfile, the format checks) is for
            # putting archives, not for pushing, pulling or staging what is stored.
            from assay.archives import Limits

            self._limits = Limits()
        return self._limits

    # -- plumbing ----------------------------------------------------------------------------

    @store_errors
    def _ready(self) -> None:
        self.objects.ensure()

    @property
    def cache(self) -> StatCache:
        with self._cache_lock:
            if self._cache is None:
                self._ready()
                (self.root / "cache").mkdir(exist_ok=True)
                check_writable(self.root / "cache")
                self._cache = StatCache(self.root / "cache" / "stat.sqlite")
            return self._cache

    def close(self) -> None:
        """Release the lease (if any) and the stat cache."""
        self.release_lease()
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def _lock(self, exclusive: bool = False) -> AbstractContextManager[None]:
        return store_lock(self.root, exclusive)

    # -- leases ------------------------------------------------------------------------------

    @store_errors
    def take_lease(self, purpose: str) -> Lease:
        """Pin, from now until ``close``, every tree this store imports, resolves, merges or
        checks out (and every object ``pin_objects`` names), so that gc leaves them alone."""
        if self._lease is None or not self._lease.held:
            self._ready()
            self._lease = Lease(self.root, purpose)
        return self._lease

    @property
    def lease(self) -> Lease | None:
        return self._lease

    def release_lease(self) -> None:
        """End the lease: what only it pinned is garbage for the next gc."""
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def _pin(self, lines: list[str]) -> None:
        """Pin under the shared lock (the caller's critical section: re-entrant)."""
        lease = self._lease
        if lease is None:
            return
        if lease.owner.pid != os.getpid():  # a forked child: that lease is its parent's
            lease = self._lease = Lease(self.root, lease.owner.purpose)
        if lease.missing(lines):
            with self._lock():
                lease.pin(lines)

    def pin_trees(self, trees: Sequence[str]) -> None:
        self._pin([tree_pin(t) for t in trees])

    def pin_objects(self, objects: Sequence[tuple[str, str]]) -> None:
        self._pin([object_pin(k, d) for k, d in objects])

    # -- putting -----------------------------------------------------------------------------

    @store_errors
    def import_path(self, source: Path) -> Imported:
        """Bring a directory or an archive into the store as an (unnamed) tree."""
        self._ready()
        with self._lock():
            imported = self._import(source)
            self.pin_trees([imported.tree])
            return imported

    def _import(self, source: Path) -> Imported:
        if source.is_dir():
            # Never itself: sources = "." in a project holding the store (.assay/store).
            return import_directory(self.objects, self.cache, source, self._itself())
        from assay.archives import is_archive

        if source.is_file() and is_archive(source):
            return import_archive(self.objects, self.cache, source, self.limits)
        if not source.exists():
            raise StoreError(f"{source}: no such file or directory")
        raise StoreError(
            f"{source}: not a directory or an archive (.tar, .tar.gz, .tgz, .tar.bz2, "
            ".tar.xz, .tar.zst, .zip)"
        )

    def _itself(self) -> frozenset[tuple[int, int]]:
        """The (device, inode) of the store's own directory: no import walks into it."""
        info = self.root.stat()
        return frozenset({(info.st_dev, info.st_ino)})

    @store_errors
    def import_file(self, path: Path) -> Tree:
        """A one-file tree for a single file (a test's ``sources = "input.dat"``)."""
        self._ready()
        with self._lock():
            tree, imported = single_file_tree(self.objects, path)
            self.pin_trees([imported.tree])
            return tree

    @store_errors
    def put_tree(self, tree: Tree) -> str:
        """Store a tree made of stored objects (a part of another one); its digest."""
        self._ready()
        with self._lock():
            digest = put_tree(self.objects, tree)
            self.pin_trees([digest])
            return digest

    @store_errors
    def merge(self, trees: Sequence[str]) -> str:
        """The tree of ``trees`` stacked in order (a later one's paths win)."""
        self._ready()
        with self._lock():
            merged = put_tree(self.objects, overlay([self.tree(t) for t in trees]))
            self.pin_trees([merged])
            return merged

    @store_errors
    def put(
        self,
        name: str,
        source: Path,
        message: str | None = None,
        overlays: Sequence[Path] = (),
        tags: Sequence[str] = (),
    ) -> PutResult:
        """A new version of ``name`` from ``source`` (plus overlays), unless unchanged.

        Everything from the first object stored to the version record (and its tags) happens
        in one hold of the shared lock: gc never sees the new objects without their version.
        """
        check_name(name)
        git_commit = _git_commit(source)
        self._ready()
        with self._lock():
            return self._put(name, source, message, overlays, tags, git_commit)

    def _put(
        self,
        name: str,
        source: Path,
        message: str | None,
        overlays: Sequence[Path],
        tags: Sequence[str],
        git_commit: str | None,
    ) -> PutResult:
        base = self._import(source)
        layers = [base]
        trees = [base.tree]
        for extra in overlays:
            layers.append(self._import(extra))
            trees.append(layers[-1].tree)
        if overlays:
            merged = overlay([self.tree(t) for t in trees])
            self._check(merged, None, f"{name} (with its overlays)")
            tree = put_tree(self.objects, merged)
        else:
            tree, merged = base.tree, None
        imported = Imported(
            tree=tree,
            files=merged.files if merged else base.files,
            bytes=merged.size if merged else base.bytes,
            new_bytes=sum(i.new_bytes for i in layers),
            new_files=sum(i.new_files for i in layers),
            read_bytes=sum(i.read_bytes for i in layers),
            archive_hash=base.archive_hash,
            cached=all(i.cached for i in layers),
        )
        provenance: dict[str, object] = {
            "source": str(source.resolve()),
            "source_kind": "layers"
            if overlays
            else ("directory" if source.is_dir() else "archive"),
            "archive_hash": base.archive_hash,
            "git_commit": git_commit,
            "message": message,
            "files": imported.files,
            "bytes": imported.bytes,
            "new_bytes": imported.new_bytes,
            "layers": trees if overlays else None,
        }
        version, created = self.refs.add(name, self._unchanged_legacy(name, tree), provenance)
        for tag in tags:
            self.refs.tag(version.name, version.version, tag)
        self.pin_trees([tree, *(trees if overlays else [])])
        return PutResult(version, created, imported)

    def _unchanged_legacy(self, name: str, tree: str) -> str:
        """The newest version's tree if it is a tree of the first format (a store made
        before directory objects) with the same content as ``tree``, else ``tree``: an
        unchanged build is not a new version because the store's format moved on."""
        versions = self.refs.versions(name)
        if not versions or versions[-1].tree == tree:
            return tree
        newest = versions[-1].tree
        try:
            if is_dir_object(read_tree_object(self.objects, newest)):
                return tree
            same = load_tree(self.objects, newest).entries == load_tree(self.objects, tree).entries
        except StoreError:
            return tree  # a damaged old version: the new one stands on its own
        return newest if same else tree

    @store_errors
    def tag(self, ref: str, tag: str) -> Version:
        """Tag the version ``ref`` names (under the shared lock: gc cannot drop it between
        the lookup and the tag)."""
        self._ready()
        with self._lock():
            version = self.refs.resolve(ref)
            self.refs.tag(version.name, version.version, tag)
            return version

    # -- reading -----------------------------------------------------------------------------

    @store_errors
    def resolve(self, ref: str) -> Version:
        """The version ``ref`` names; with a lease, its tree is pinned as it is found."""
        if self._lease is None:
            return self.refs.resolve(ref)
        self._ready()
        with self._lock():
            version = self.refs.resolve(ref)
            self.pin_trees([version.tree])
            return version

    def tree(self, digest: str) -> Tree:
        return load_tree(self.objects, digest)

    @store_errors
    def check_root(self, digest: str) -> None:
        """Refuse (``Corrupt``) a tree whose root object is missing or damaged."""
        read_tree_object(self.objects, digest)

    @store_errors
    def diff(self, old: str, new: str) -> Diff:
        """What changed from tree ``old`` to tree ``new`` (entering only the directories
        whose objects differ)."""
        return diff_stored(self.objects, old, new)

    @store_errors
    def stage(
        self, tree: str | Tree, target: Path, writable: Sequence[str] = (), link: bool = True
    ) -> Staged:
        """Materialise a tree into ``target`` by hard links (writable paths: private copies;
        without ``link``, read-only private copies of the others too)."""
        self._ready()
        digest = tree if isinstance(tree, str) else None
        with self._lock():
            loaded = self.tree(tree) if isinstance(tree, str) else tree
            self._check(loaded, digest)
            return stage_tree(self.objects, loaded, target, writable, link=link)

    @store_errors
    def checkout(self, tree: str) -> Path:
        """A read-only directory holding ``tree``, made once ever and shared by every run.

        An existing checkout is checked against its tree first (one ``stat`` per file; files
        that are not their object's inode are re-hashed) and rebuilt if it differs. A new one
        is made from the unused checkout of an earlier version of the same name if there is
        one (:func:`checkouts.take_over`: only what changed is written), else built whole."""
        self._ready()
        final = self.root / "checkouts" / tree
        with self._lock():
            loaded = self.tree(tree)
            self._check(loaded, tree)  # a checkout an older assay made is not handed out either
            with locked(self.root / checkouts.HANDOVER_LOCK, exclusive=True):
                self.pin_trees([tree])  # gc waits for our shared lock: pinned in time
                taken = None
                if not final.is_dir():
                    taken = checkouts.take_over(self.root, final, self._earlier_trees(tree))
            if taken is not None and self._patched(*taken, loaded, tree):
                checkouts.publish(taken[0], final, replace=False)
                return final
            damaged = final.is_dir() and bool(checkouts.problems(self.objects, loaded, final))
            if final.is_dir() and not damaged:
                return final
            partial = checkouts.partial_name(final)
            try:
                stage_tree(self.objects, loaded, partial)
            except BaseException:
                remove_path(partial)
                raise
            if damaged and not checkouts.problems(self.objects, loaded, final):
                damaged = False  # another process rebuilt it meanwhile
            checkouts.publish(partial, final, replace=damaged)
        return final

    def _earlier_trees(self, tree: str) -> list[str]:
        """The trees of the other versions of every name that has ``tree`` as a version,
        the closest earlier version first."""
        found: list[tuple[int, str]] = []
        for name in self.refs.names():
            versions, _ = self.refs.scan(name)
            mine = [v.version for v in versions if v.tree == tree]
            if mine:
                found += [(abs(v.version - mine[-1]), v.tree) for v in versions if v.tree != tree]
        return list(dict.fromkeys(t for _, t in sorted(found)))

    def _patched(self, folder: Path, old: str, loaded: Tree, tree: str) -> bool:
        """Patch ``folder``, a taken-over checkout of ``old``, into one of ``tree``; False
        (and ``folder`` is gone) if that fails or the result is not exactly the tree (the
        old checkout was damaged)."""
        try:
            checkouts.patch(self.objects, folder, diff_stored(self.objects, old, tree))
            if not checkouts.problems(self.objects, loaded, folder):
                return True
        except (OSError, StoreError, WriteRefused):
            pass  # built whole instead; a real problem (a lost object) shows again there
        except BaseException:
            remove_path(folder)
            raise
        remove_path(folder)
        return False

    @store_errors
    def get(self, ref: str, target: Path) -> Version:
        """Materialise a version into ``target`` as ordinary, writable files. If that fails,
        what it wrote is removed again (``target`` too, if it made it)."""
        self._ready()
        made = not target.exists()
        try:
            with self._lock():
                version = self.refs.resolve(ref)
                tree = self.tree(version.tree)
                self._check(tree, version.tree, version.ref)
                stage_tree(self.objects, tree, target, copy_all=True)
        except BaseException:
            if made:
                remove_path(target)
            raise
        return version

    def _check(self, tree: Tree, digest: str | None, ref: str | None = None) -> None:
        """Refuse to materialise a tree that would write outside its target (trees stored by
        an older assay may hold such entries); each stored tree is checked once."""
        if digest is not None and digest in self._checked:
            return
        if digest is None and any(tree is seen for seen in self._recent):
            return  # the same tree object staged again (a test's sources, case after case)
        try:
            check_tree(tree)
        except UnsafeEntry as exc:
            if ref is None and digest is not None:
                ref = self._version_of(digest)
            what = ref or (f"tree {digest[:16]}" if digest else "a tree")
            raise StoreError(
                f"{what}: {exc}; refusing to write it out (put it again from a safe source)"
            ) from None
        if digest is not None:
            self._checked.add(digest)
        else:
            self._recent = [tree, *self._recent[:7]]

    def _version_of(self, digest: str) -> str | None:
        try:
            return self.refs.resolve(f"tree:{digest}").ref
        except StoreError:
            return None

    # -- maintenance -------------------------------------------------------------------------

    @store_errors
    def gc(self, keep: int, dry_run: bool = False) -> GcReport:
        """Drop versions beyond the newest ``keep`` of each name (tagged ones stay), then every
        object that neither a kept version nor a live lease reaches."""
        self._ready()
        with self._lock(exclusive=True):
            return collect(self, keep, dry_run)

    @store_errors
    def verify(self, repair: bool = False) -> VerifyReport:
        """Re-hash every object and check every checkout; with ``repair``, remove the corrupt
        objects and every checkout that is damaged or uses one."""
        self._ready()
        with self._lock(exclusive=repair):
            return verify(self, repair)


def _git_commit(source: Path) -> str | None:
    folder = source if source.is_dir() else source.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
