"""Trees: path -> (type, mode, content hash, chunks, symlink target).

In memory a :class:`Tree` is the flat list of every path. On disk it is one object per
directory (:mod:`assay.store.agent.treeobj`, as git keeps trees), named by the hash of its
bytes, so "is this the same build?" is one comparison of root hashes, a new version stores
only the objects of the directories on the paths of what changed, and ``diff_stored``
enters only the subtrees whose hashes differ. Trees of the first format (one JSON manifest
of every path, from stores made before) are read as they are.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import msgspec

from assay.store.agent import treecheck, treeobj
from assay.store.agent.treeobj import BadTree, Item
from assay.store.objects import Chunk, Corrupt, ObjectStore, StoreError, blob_kind, hash_bytes

TREE_VERSION = 1


class Entry(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    path: str
    type: Literal["file", "dir", "symlink"]
    mode: int = 0o644
    size: int = 0
    hash: str | None = None
    chunks: list[tuple[str, int]] | None = None
    target: str | None = None

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)

    def chunk_list(self) -> list[Chunk] | None:
        return None if self.chunks is None else [Chunk(h, n) for h, n in self.chunks]

    def same_content(self, other: Entry) -> bool:
        return (
            self.type == other.type
            and self.hash == other.hash
            and self.target == other.target
            and self.executable == other.executable
        )


class Tree(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    entries: tuple[Entry, ...]
    version: int = TREE_VERSION

    @property
    def files(self) -> int:
        return sum(1 for e in self.entries if e.type == "file")

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries if e.type == "file")

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Tree)


_PATH = operator.attrgetter("path")  # (a C call per entry, not a lambda's frame)


def make_tree(entries: Iterable[Entry]) -> Tree:
    return Tree(tuple(sorted(entries, key=_PATH)))


def encode_legacy(tree: Tree) -> bytes:
    """A tree in the first format (one JSON manifest): for tests of stores made before."""
    return _ENCODER.encode(tree)


def put_legacy_tree(objects: ObjectStore, tree: Tree) -> str:
    """Store ``tree`` in the first format, as assay did before directory objects."""
    digest, _ = objects.put_bytes("trees", encode_legacy(tree))
    return digest


def _item(name: str, entry: Entry) -> Item:
    if entry.type == "symlink":
        return Item(name, "l", 0o777, target=entry.target or "")
    return Item(name, "f", entry.mode, entry.size, entry.hash or "", entry.chunks)


def put_tree(objects: ObjectStore, tree: Tree) -> str:
    """Store ``tree`` as one object per directory, deepest first (a directory's object is
    stored only after everything it names); the root's hash names the tree. A directory
    the tree holds content in but does not list gets mode 0755."""
    return _fold(tree, lambda data: objects.put_bytes("trees", data)[0])


def tree_digest(tree: Tree) -> str:
    """The hash :func:`put_tree` would name ``tree`` by, without storing anything."""
    items = _flat(tree)
    if items is None:
        return _fold(tree, hash_bytes)
    try:  # (as _fold does for a tree of one directory: the root's object, its hash)
        return hash_bytes(treeobj.encode(items))
    except BadTree as exc:
        raise StoreError(f"cannot store the directory .: {exc}") from None


def _flat(tree: Tree) -> list[Item] | None:
    """The root's items when ``tree`` holds only files and links right below it (a small
    case directory staged by a copy), with the names checked as :func:`_fold` checks them;
    None for any other tree. (A suite case's copy: its digest without _fold's directory
    bookkeeping, a third of the copy's Python.)"""
    items = []
    for entry in tree.entries:
        path = entry.path
        if entry.type == "dir" or "/" in path:
            return None
        try:
            treeobj.check_name(path)
        except BadTree as exc:
            raise StoreError(f"cannot store the directory of {path!r}: {exc}") from None
        items.append(_item(path, entry))
    return items


def _fold(tree: Tree, put: Callable[[bytes], str]) -> str:
    """Encode ``tree`` one directory object at a time, deepest first, handing each to
    ``put`` (which returns its hash); the root's hash."""
    dirs: dict[str, list[Item]] = {"": []}
    modes: dict[str, int] = {}

    def folder(path: str) -> list[Item]:
        if path not in dirs:
            folder(path.rpartition("/")[0])
            dirs[path] = []
        return dirs[path]

    for entry in tree.entries:
        try:  # each part one name: "/abs", "a//b", "a/../b" are refused, never reinterpreted
            for part in entry.path.split("/"):
                treeobj.check_name(part)
        except BadTree as exc:
            raise StoreError(f"cannot store the directory of {entry.path!r}: {exc}") from None
        parent, _, name = entry.path.rpartition("/")
        if entry.type == "dir":
            folder(entry.path)
            modes[entry.path] = entry.mode
        else:
            folder(parent).append(_item(name, entry))
    for path in sorted(dirs, key=lambda p: p.count("/") + 1 if p else 0, reverse=True):
        try:
            digest = put(treeobj.encode(dirs[path]))
        except BadTree as exc:
            raise StoreError(f"cannot store the directory {path or '.'}: {exc}") from None
        if not path:
            return digest
        parent, _, name = path.rpartition("/")
        dirs[parent].append(Item(name, "d", modes.get(path, 0o755), digest=digest))
    raise AssertionError("unreachable: the root is always stored last")


def read_tree_object(objects: ObjectStore, digest: str) -> bytes:
    """The bytes of one stored tree object, re-hashed first (a damaged one would stage the
    wrong files)."""
    data = objects.read_tree_bytes(digest)
    if hash_bytes(data) != digest:
        raise Corrupt(
            f"tree {digest[:16]} is damaged: its content no longer matches its hash; run "
            "`assay store verify --repair` and put its versions again"
        )
    return data


def to_entry(path: str, item: Item) -> Entry:
    if item.kind == "d":
        return Entry(path, "dir", mode=item.mode)
    if item.kind == "l":
        return Entry(path, "symlink", mode=0o777, target=item.target)
    return Entry(path, "file", mode=item.mode, size=item.size, hash=item.digest, chunks=item.chunks)


def decode_legacy(data: bytes, digest: str) -> Tree:
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Corrupt(
            f"tree {digest[:16]} is damaged ({exc}); run `assay store verify --repair` and "
            "put its versions again"
        ) from None


def walk_stored(
    objects: ObjectStore,
    digest: str,
    seen: set[str] | None = None,
    enter: Callable[[str], bool] | None = None,
) -> Iterator[tuple[Entry, Item | None]]:
    """Every entry of the stored tree ``digest`` (with its directory-object item; None for a
    tree of the first format), a subtree that appears in several places listed in each.
    With ``seen``, a subtree whose hash is in it is listed but not entered, and every tree
    object entered is added to it (gc and transfers walk a subtree many places or versions
    share once). ``enter`` false for a subtree: listed, not entered."""
    if seen is not None:
        seen.add(digest)
    data = read_tree_object(objects, digest)
    if not treeobj.is_dir_object(data):
        for entry in decode_legacy(data, digest).entries:
            yield entry, None
        return

    def load(key: str) -> bytes:
        return data if key == digest else read_tree_object(objects, key)

    def skip(key: str) -> bool:
        if seen is not None:
            if key in seen:
                return True
            seen.add(key)
        return enter is not None and not enter(key)

    try:
        for path, item in treeobj.walk(load, digest, skip=skip):
            yield to_entry(path, item), item
    except BadTree as exc:
        raise Corrupt(f"tree {digest[:16]} is not a valid tree: {exc}") from None


def load_tree(objects: ObjectStore, digest: str) -> Tree:
    """The tree stored under ``digest`` (every object of it re-hashed as it is read)."""
    return make_tree(entry for entry, _ in walk_stored(objects, digest))


def stored_trees(objects: ObjectStore, digest: str) -> list[str]:
    """The hashes of every tree object the tree ``digest`` is made of (itself first)."""
    found = {digest: None}
    for _, item in walk_stored(objects, digest, set()):
        if item is not None and item.kind == "d":
            found[item.digest] = None
    return list(found)


def file_objects(entry: Entry) -> list[tuple[str, str, int]]:
    """(kind, digest, size) of the objects a file entry's content is stored as."""
    if entry.type != "file" or entry.hash is None:
        return []
    if entry.chunks is None:
        return [(blob_kind(entry.executable), entry.hash, entry.size)]
    return [("chunks", h, n) for h, n in entry.chunks]


def check_tree(tree: Tree, where: str = "the tree") -> None:
    """Refuse (:class:`UnsafeEntry`) a tree that cannot be written out safely: see
    :mod:`assay.store.agent.treecheck`. Absolute symlinks are allowed (a directory the user put may
    hold them; an archive's never do); a relative one may not climb above the root."""
    checked = ((e.path, e.type, e.target) for e in tree.entries)
    treecheck.check_tree(checked, allow_absolute_links=True, where=where)


def overlay(layers: Sequence[Tree]) -> Tree:
    """Stack trees in order: a later layer's path replaces an earlier one's, and a path that
    becomes a file or link hides what an earlier layer had below it."""
    merged: dict[str, Entry] = {}
    for tree in layers:
        for entry in tree.entries:
            if entry.type != "dir":
                prefix = entry.path + "/"
                for path in [p for p in merged if p.startswith(prefix)]:
                    del merged[path]
            merged[entry.path] = entry
    return make_tree(merged.values())


@dataclass
class Diff:
    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    changed: list[tuple[Entry, Entry]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def changed_bytes(self) -> int:
        return sum(e.size for e in self.added) + sum(new.size for _, new in self.changed)


def diff(old: Tree, new: Tree) -> Diff:
    """What changed from ``old`` to ``new`` (directories only when added or removed)."""
    a, b = old.by_path(), new.by_path()
    result = Diff()
    for path in sorted(set(a) | set(b)):
        if path not in a:
            result.added.append(b[path])
        elif path not in b:
            result.removed.append(a[path])
        elif not a[path].same_content(b[path]):
            result.changed.append((a[path], b[path]))
    return result


def diff_stored(objects: ObjectStore, old: str, new: str) -> Diff:
    """``diff`` of two stored trees, entering only the subtrees whose hashes differ (a tree
    of the first format is compared whole)."""
    old_data, new_data = read_tree_object(objects, old), read_tree_object(objects, new)
    if not (treeobj.is_dir_object(old_data) and treeobj.is_dir_object(new_data)):
        return diff(load_tree(objects, old), load_tree(objects, new))
    result = Diff()
    try:
        _diff_dirs(objects, old_data, new_data, "", result, 0)
    except BadTree as exc:
        raise Corrupt(f"tree {old[:16]} or {new[:16]} is not a valid tree: {exc}") from None
    for entries in (result.added, result.removed):
        entries.sort(key=lambda e: e.path)
    result.changed.sort(key=lambda pair: pair[1].path)
    return result


def _below(objects: ObjectStore, path: str, item: Item) -> list[Entry]:
    """An entry and, for a directory, everything in it."""
    found = [to_entry(path, item)]
    if item.kind == "d":
        load = partial(read_tree_object, objects)
        found += [to_entry(p, i) for p, i in treeobj.walk(load, item.digest, prefix=path)]
    return found


def _diff_dirs(
    objects: ObjectStore, old: bytes, new: bytes, prefix: str, result: Diff, depth: int
) -> None:
    if depth > treeobj.MAX_DEPTH:
        raise BadTree(f"directories nested deeper than {treeobj.MAX_DEPTH}")
    a = {i.name: i for i in treeobj.decode(old)}
    b = {i.name: i for i in treeobj.decode(new)}
    for name in sorted(a.keys() | b.keys()):
        path = f"{prefix}/{name}" if prefix else name
        was, now = a.get(name), b.get(name)
        if was is None and now is not None:
            result.added += _below(objects, path, now)
        elif now is None and was is not None:
            result.removed += _below(objects, path, was)
        elif was is not None and now is not None:
            if was.kind == now.kind == "d":
                if was.digest != now.digest:
                    _diff_dirs(
                        objects,
                        read_tree_object(objects, was.digest),
                        read_tree_object(objects, now.digest),
                        path,
                        result,
                        depth + 1,
                    )
                continue
            before, after = to_entry(path, was), to_entry(path, now)
            if not before.same_content(after):
                result.changed.append((before, after))
            if was.kind == "d":
                result.removed += _below(objects, path, was)[1:]
            if now.kind == "d":
                result.added += _below(objects, path, now)[1:]


def stored_objects(objects: ObjectStore, digest: str) -> list[tuple[str, str]]:
    """Every object the stored tree ``digest`` is made of, once each: its tree objects (the
    root first) and its files' blobs or chunks."""
    found: dict[tuple[str, str], None] = {("trees", digest): None}
    for entry, item in walk_stored(objects, digest, set()):
        if item is not None and item.kind == "d":
            found[("trees", item.digest)] = None
        found.update(((k, d), None) for k, d, _ in file_objects(entry))
    return list(found)
