"""The artifact store: content-addressed builds and reference data, reused by name.

``Store(root)`` is the one entry point: put directories and archives under names, resolve
references, check trees out (once ever) or stage them into case directories by hard links,
collect garbage and verify. See docs/store.md.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from assay.archives import Limits, is_archive
from assay.store.importer import Imported, StatCache, import_archive, import_directory
from assay.store.names import Refs, Version, check_name
from assay.store.objects import Corrupt, ObjectStore, StoreError, locked
from assay.store.stage import Staged, stage_tree
from assay.store.trees import Tree, check_tree, load_tree, overlay, put_tree
from assay.treecheck import UnsafeEntry
from assay.treewrite import remove_path

__all__ = ["Corrupt", "PutResult", "Store", "StoreError", "default_root"]

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
    import platformdirs

    return Path(platformdirs.user_data_dir("assay")) / "store"


@dataclass
class PutResult:
    version: Version
    created: bool
    imported: Imported


@dataclass
class GcReport:
    versions: list[Version] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    checkouts: int = 0


@dataclass
class VerifyReport:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    damaged_versions: list[str] = field(default_factory=list)


class Store:
    """A store rooted at ``root`` (created on first use)."""

    def __init__(self, root: Path, limits: Limits | None = None) -> None:
        self.root = root
        self.objects = ObjectStore(root)
        self.refs = Refs(root)
        self.limits = limits or Limits()
        self._cache: StatCache | None = None
        self._cache_lock = threading.Lock()
        self._checked: set[str] = set()  # stored trees found safe to write out
        self._recent: list[Tree] = []  # tree objects found safe, the latest few

    # -- plumbing ----------------------------------------------------------------------------

    def _ready(self) -> None:
        try:
            self.objects.ensure()
        except OSError as exc:
            raise StoreError(f"cannot use the store at {self.root}: {exc.strerror}") from None

    @property
    def cache(self) -> StatCache:
        with self._cache_lock:
            if self._cache is None:
                self._ready()
                self._cache = StatCache(self.root / "cache" / "stat.sqlite")
            return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def _lock(self, exclusive: bool = False) -> AbstractContextManager[None]:
        return locked(self.root / "lock", exclusive)

    # -- putting -----------------------------------------------------------------------------

    def import_path(self, source: Path) -> Imported:
        """Bring a directory or an archive into the store as an (unnamed) tree."""
        self._ready()
        with self._lock():
            if source.is_dir():
                return import_directory(self.objects, self.cache, source)
            if source.is_file() and is_archive(source):
                return import_archive(self.objects, self.cache, source, self.limits)
            if not source.exists():
                raise StoreError(f"{source}: no such file or directory")
            raise StoreError(
                f"{source}: not a directory or an archive (.tar, .tar.gz, .tgz, .tar.bz2, "
                ".tar.xz, .tar.zst, .zip)"
            )

    def put(
        self,
        name: str,
        source: Path,
        message: str | None = None,
        overlays: Sequence[Path] = (),
    ) -> PutResult:
        """A new version of ``name`` from ``source`` (plus overlays), unless unchanged."""
        check_name(name)
        base = self.import_path(source)
        layers = [base]
        trees = [base.tree]
        for extra in overlays:
            layers.append(self.import_path(extra))
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
            "git_commit": _git_commit(source),
            "message": message,
            "files": imported.files,
            "bytes": imported.bytes,
            "new_bytes": imported.new_bytes,
            "layers": trees if overlays else None,
        }
        version, created = self.refs.add(name, tree, provenance)
        return PutResult(version, created, imported)

    # -- reading -----------------------------------------------------------------------------

    def resolve(self, ref: str) -> Version:
        return self.refs.resolve(ref)

    def tree(self, digest: str) -> Tree:
        return load_tree(self.objects, digest)

    def stage(self, tree: str | Tree, target: Path, writable: Sequence[str] = ()) -> Staged:
        """Materialise a tree into ``target`` by hard links (writable paths: private copies)."""
        self._ready()
        digest = tree if isinstance(tree, str) else None
        loaded = self.tree(tree) if isinstance(tree, str) else tree
        self._check(loaded, digest)
        with self._lock():
            return stage_tree(self.objects, loaded, target, writable)

    def checkout(self, tree: str) -> Path:
        """A read-only directory holding ``tree``, made once ever and shared by every run."""
        self._ready()
        loaded = self.tree(tree)
        self._check(loaded, tree)  # a checkout an older assay made is not handed out either
        final = self.root / "checkouts" / tree
        if final.is_dir():
            return final
        partial = final.with_name(f"{tree}.partial-{os.getpid()}")
        remove_path(partial)
        try:
            with self._lock():
                stage_tree(self.objects, loaded, partial)
            try:
                partial.rename(final)
            except OSError:  # another process finished first
                remove_path(partial)
        except BaseException:
            remove_path(partial)
            raise
        return final

    def get(self, ref: str, target: Path) -> Version:
        """Materialise a version into ``target`` as ordinary, writable files. If that fails,
        what it wrote is removed again (``target`` too, if it made it)."""
        version = self.resolve(ref)
        self._ready()
        tree = self.tree(version.tree)
        self._check(tree, version.tree, version.ref)
        made = not target.exists()
        try:
            with self._lock():
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

    def gc(self, keep: int, dry_run: bool = False) -> GcReport:
        """Drop versions beyond the newest ``keep`` of each name (tagged ones stay), then every
        object no kept version reaches."""
        from assay.store.maintenance import collect

        self._ready()
        with self._lock(exclusive=True):
            return collect(self, keep, dry_run)

    def verify(self, repair: bool = False) -> VerifyReport:
        """Re-hash every object; with ``repair``, remove the corrupt ones."""
        from assay.store.maintenance import verify

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
