"""What a session takes from the artifact store: builds, reference data and test sources.

* **Artifacts** (``artifacts = {"build": [base, overlay, ...]}``): each layer is a path
  (directory or archive, put into the store under its own name so the next run recognises
  it), ``store:NAME[@V|#TAG]``, or ``dep:TEST/path`` (a file a dependency produced); the
  syntax and the checks made at load time are :mod:`assay.define.artifact_refs`. The
  layers are stacked into one tree and checked out once ever; every case of every session
  shares that read-only directory (``$ASSAY_<NAME>``).
* **Sources** (a test's ``sources``, a suite case's inputs): imported once per session (the
  stat cache makes an unchanged directory cost one ``stat`` per file) and staged into each
  case's stage dir by hard links; paths the test declares ``writable`` get private copies.
  A suite case's own directory, when it is small and the case runs here without a batch
  scheduler, is copied instead, without the store (:func:`copy_small`). Either way the
  case's result names each source's tree (:data:`assay.results.model.SOURCES`).

Imports and checkouts run in worker threads, at most once per session for the same input,
so the event loop keeps driving the other cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from assay.define.artifact_refs import DEP_PREFIX, STORE_PREFIX, check_layers
from assay.define.test import DependencyInfo
from assay.errors import AssayError, StoreError
from assay.run.input_watch import input_watch

if TYPE_CHECKING:
    from assay.store import Store
    from assay.store.copystage import Copied
    from assay.store.stage import Staged
    from assay.store.trees import Tree

T = TypeVar("T")


class ArtifactError(AssayError):
    """An artifact layer is missing, unknown to the store, or cannot be imported."""


_ARCHIVE_SUFFIX = re.compile(r"\.(tar(\.(gz|bz2|xz|zst))?|tgz|tbz2|txz|tzst|zip)$", re.I)


def layer_path(text: str, base: Path, dependencies: Sequence[DependencyInfo] = ()) -> Path:
    """The file or directory a path layer (or ``dep:`` layer) names."""
    if text.startswith(DEP_PREFIX):
        test, _, rel = text[len(DEP_PREFIX) :].partition("/")
        found = [d for d in dependencies if d.test == test]
        if len(found) != 1:
            raise ArtifactError(
                f"{text!r} needs exactly one case of {test!r} among this case's dependencies, "
                f"found {len(found)}; add {test!r} to depends_on"
            )
        return found[0].local_copy / rel
    path = Path(text)
    return path if path.is_absolute() else base / path


def auto_name(path: Path) -> str:
    """The store name a path gets when a run puts it there: its name without archive
    suffixes, in the characters names allow."""
    stem = _ARCHIVE_SUFFIX.sub("", path.name) or "artifact"
    clean = re.sub(r"[^A-Za-z0-9._+-]", "-", stem).lstrip("._+-")
    return clean or "artifact"


class SessionStore:
    """The store as one session uses it: each import and checkout happens once."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open = open_store
        self._store: Store | None = None
        self._opening = threading.Lock()  # worker threads may ask for it at once
        self._tasks: dict[tuple[str, ...], asyncio.Future[Any]] = {}

    @property
    def store(self) -> Store:
        with self._opening:
            if self._store is None:
                store = self._open()
                # Everything the session imports, resolves or checks out is pinned until
                # close(): gc in another process leaves it alone.
                store.take_lease("assay run")
                self._store = store
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    async def _once(self, key: tuple[str, ...], work: Callable[[], T], inline: bool = False) -> T:
        """``work``'s result, computed once per session: in a worker thread, or ``inline``
        (small work: a thread hop costs more, and a worker running Python code holds the
        GIL while the event loop starts the other cases' processes)."""
        task = self._tasks.get(key)
        if task is None:
            if inline:
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                try:
                    future.set_result(work())
                except Exception as exc:
                    future.set_exception(exc)
                self._tasks[key] = future
                return cast(T, await future)
            task = asyncio.create_task(asyncio.to_thread(work))
            self._tasks[key] = task
        # Shielded: one case being cancelled must not cancel what the others await.
        result = await asyncio.shield(task)
        return cast(T, result)

    async def artifact(
        self, name: str, layers: Sequence[str], base: Path, deps: Sequence[DependencyInfo]
    ) -> tuple[Path, list[tuple[str | None, str]]]:
        """The read-only directory of an artifact's stacked layers, and each layer's
        (store version ``name@N`` when it has one, tree)."""
        tree, used = await self.artifact_tree(name, layers, base, deps)
        return await self.checkout(name, tree), used

    async def artifact_tree(
        self, name: str, layers: Sequence[str], base: Path, deps: Sequence[DependencyInfo]
    ) -> tuple[str, list[tuple[str | None, str]]]:
        """The tree (its digest) of an artifact's stacked layers, and each layer's
        (store version ``name@N`` when it has one, tree)."""
        used = [await self._layer_tree(name, text, base, deps) for text in layers]
        trees = [tree for _, tree in used]
        if len(trees) == 1:
            return trees[0], used
        try:
            merged = await self._once(("merge", *trees), lambda: self.store.merge(trees))
            return merged, used
        except StoreError as exc:
            raise ArtifactError(f"artifact {name!r}: {exc}") from None

    async def checkout(self, name: str, tree: str) -> Path:
        """The read-only directory of ``tree`` on this machine (checked out once ever)."""
        try:
            return await self._once(("checkout", tree), lambda: self.store.checkout(tree))
        except StoreError as exc:
            raise ArtifactError(f"artifact {name!r}: {exc}") from None

    async def _layer_tree(
        self, name: str, text: str, base: Path, deps: Sequence[DependencyInfo]
    ) -> tuple[str | None, str]:
        try:
            if text.startswith(STORE_PREFIX):
                ref = text[len(STORE_PREFIX) :]
                version = await self._once(("ref", ref), lambda: self.store.resolve(ref))
                return f"{version.name}@{version.version}", version.tree
            path = layer_path(text, base, deps)
            problems = check_layers(name, [path])
            if problems:
                raise ArtifactError("; ".join(problems))
            if text.startswith(DEP_PREFIX):  # produced by this run: imported, not named
                tree = await self._once(
                    ("import", str(path)), lambda: self.store.import_path(path).tree
                )
                return None, tree
            put = await self._once(
                ("put", str(path)), lambda: self.store.put(auto_name(path), path).version
            )
            return f"{put.name}@{put.version}", put.tree
        except (StoreError, _archive_error()) as exc:
            raise ArtifactError(f"artifact {name!r}: {exc}") from None

    async def source_tree(self, path: Path, exclude: Sequence[str] = ()) -> Tree:
        """The tree of a source directory or file (imported once per session)."""

        def work() -> Tree:
            store = self.store
            if path.is_dir():
                imported = store.import_path(path)
                if imported.loaded is not None:  # as just written: no need to read it back
                    return imported.loaded
                return store.tree(imported.tree)
            return store.import_file(path)

        tree = await self._once(("source", str(path)), work, inline=_small(path))
        if not exclude:
            return tree
        from assay.store.stage import matches  # lazy: start-up time (a run without sources)
        from assay.store.trees import Tree

        return Tree(tuple(e for e in tree.entries if not matches(e.path, exclude)))

    async def source_digest(self, path: Path, exclude: Sequence[str], tree: Tree) -> str:
        """The hash the store names ``tree`` (``path``'s sources without ``exclude``) by,
        computed once per session."""
        from assay.store.trees import tree_digest  # lazy: start-up time

        key = ("digest", str(path), *exclude)
        return await self._once(key, lambda: tree_digest(tree), inline=len(tree.entries) < 64)

    async def stage(
        self, tree: Tree, target: Path, writable: Sequence[str], link: bool = True
    ) -> Staged:
        """Hard-link ``tree`` into ``target`` (in a thread when it is big); without
        ``link``, private copies instead (:func:`assay.run.root_inputs.copies_needed`)."""
        if len(tree.entries) < 64:
            return self.store.stage(tree, target, writable, link)
        return await asyncio.to_thread(self.store.stage, tree, target, writable, link)

    async def copy_tree(self, tree: str, target: Path) -> list[str]:
        """Private read-only copies of ``tree``'s files in ``target`` (in a thread); the
        paths of its entries that are not directories."""

        def work() -> list[str]:
            store = self.store
            store.stage(tree, target, (), False)
            return [e.path for e in store.tree(tree).entries if e.type != "dir"]

        try:
            return await asyncio.to_thread(work)
        except StoreError as exc:
            raise ArtifactError(f"cannot copy artifact tree {tree[:12]}: {exc}") from None


_INLINE_COPY = 1 << 20  # bytes: a smaller copy runs in the event loop (a thread hop costs more)


async def copy_small(
    source: Path, target: Path, exclude: Sequence[str], writable: Sequence[str]
) -> Copied | None:
    """Copy the directory ``source`` into ``target`` when it is small (else None: the store
    stages it); see :mod:`assay.store.copystage`."""
    from assay.store.copystage import copy_planned, plan_copy  # lazy: start-up time

    plan = plan_copy(source, exclude)
    if plan is None:
        return None
    if plan.bytes <= _INLINE_COPY:
        return copy_planned(plan, target, writable)
    return await asyncio.to_thread(copy_planned, plan, target, writable)


_SMALL_ENTRIES = 64
_SMALL_BYTES = 1 << 20


def _small(path: Path) -> bool:
    """Whether ``path`` is a file or a tree of at most 64 entries and 1 MiB (looked at
    without reading more than that many entries): importing it takes about a millisecond."""
    try:
        if not path.is_dir():
            return path.stat().st_size <= _SMALL_BYTES
        entries, size, pending = 0, 0, [path]
        while pending:
            with os.scandir(pending.pop()) as it:
                for entry in it:
                    entries += 1
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        size += entry.stat(follow_symlinks=False).st_size
                    if entries > _SMALL_ENTRIES or size > _SMALL_BYTES:
                        return False
    except OSError:
        return False  # the import in a worker says what is wrong
    return True


def note_changes(linked: Sequence[tuple[str, str]], changed: dict[str, tuple[int, int]]) -> None:
    """Note each linked store object's inode and inode change time as they are once staged,
    in ``changed`` (by the object's path), for :func:`modified_inputs`."""
    watch = input_watch()
    for _, blob in linked:
        with contextlib.suppress(OSError):  # (gone: nothing there to write to)
            info = os.stat(blob)
            changed[blob] = (info.st_ino, info.st_ctime_ns)
            if watch is not None:
                watch.add(blob)


def modified_inputs(
    linked: Sequence[tuple[str, str]], changed: Mapping[str, tuple[int, int]] | None = None
) -> tuple[list[str], list[str]]:
    """Staged read-only inputs whose store object changed: they must not be used again;
    and those whose object was set aside as damaged since this case staged it (another
    case wrote to it: this case's job may have read it so).

    Written through a hard link: by root, or by a job of the objects' owner, who may make
    a read-only file writable again (chmod u+w). Objects keep a modification time of 1970,
    which a write changes; but the job can set it back too (touch -d @0), and its mode, and
    keep the size. What no process can set back is the inode's change time: an object whose
    change time moved since it was staged (``changed``: see :func:`note_changes`) is hashed
    again (others' links to it move it too: a false alarm costs a hash, never a failure),
    unless an inotify watch tells: then only an object opened for writing is hashed."""
    bad: list[str] = []
    set_aside: list[str] = []
    hashed: dict[str, bool] = {}  # blob -> whether it still holds its content
    watch = input_watch() if changed else None
    for rel, blob in linked:
        staged = changed.get(blob) if changed else None
        try:
            info = os.stat(blob)
        except FileNotFoundError:
            if staged is not None:
                set_aside.append(rel)
            continue
        if staged is not None and info.st_ino != staged[0]:  # stored anew since
            set_aside.append(rel)
            continue
        if info.st_mtime_ns != 0:
            bad.append(rel)
            continue
        if staged is None:
            continue
        # The kernel's word where it has one (:mod:`assay.run.input_watch`): a write or a
        # descriptor opened for writing since the object was watched; else the change time.
        written = watch.written(blob) if watch is not None else None
        if written is False or (written is None and info.st_ctime_ns == staged[1]):
            continue
        if blob not in hashed:
            hashed[blob] = _holds_its_content(blob)
            if hashed[blob] and watch is not None:
                watch.cleared(blob)
        if not hashed[blob]:
            bad.append(rel)
    return bad, set_aside


def _holds_its_content(blob: str) -> bool:
    """Whether a store object (``.../xx/rest``, named by the BLAKE3 hash of its content,
    xx + rest) still hashes to its name."""
    from assay.store.objects import hash_file  # lazy: the store waits until used

    path = Path(blob)
    try:
        return hash_file(path) == path.parent.name + path.name
    except OSError:  # made unreadable: not what was stored either
        return False


def _archive_error() -> type[Exception]:
    """:class:`assay.archives.ArchiveError`, imported when an artifact is put (start-up
    time: archives imports tarfile and zipfile)."""
    from assay.archives import ArchiveError

    return ArchiveError
