"""Trees as the agent reads them, checked field by field (the agent derives paths from what a
tree names, so nothing in it is taken on trust): one object per directory (:mod:`.treeobj`),
walked from the root, or a whole tree in one JSON manifest (the first format)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

from . import treeobj
from .layout import DIGEST, Corrupt, Layout, ObjectId, Refused, blob_kind, check_object

_TYPES = ("file", "dir", "symlink")
_is_digest = DIGEST.match
_FIELDS = {"path", "type", "mode", "size", "hash", "chunks", "target"}


class Entry:
    __slots__ = ("chunks", "hash", "mode", "path", "size", "target", "tree", "type")
    path: str
    type: str
    mode: int
    size: int
    hash: str  # files only ("" for the others)
    chunks: list[tuple[str, int]] | None
    target: str | None
    tree: str  # a directory's object ("" in a tree of the first format)

    def __init__(self, raw: Any, where: str) -> None:
        self.tree = ""
        # Every entry of a 10,000-file tree passes here on each push: plain type() and
        # key-view checks (bool is not int for type()), one dict lookup per field.
        if type(raw) is not dict or not raw.keys() <= _FIELDS:
            raise Refused(f"{where}: an entry is not a tree entry: {raw!r}"[:500])
        get = raw.get
        path, kind = get("path"), get("type")
        mode, size = get("mode", 0o644), get("size", 0)
        if type(path) is not str or kind not in _TYPES:
            raise Refused(f"{where}: an entry has no path or an unknown type: {raw!r}")
        if type(mode) is not int or type(size) is not int or mode < 0 or size < 0:
            raise Refused(f"{where}: {path!r} has a bad mode or size")
        self.path, self.type, self.mode, self.size = path, kind, mode, size
        self.hash, self.chunks, self.target = "", None, None
        if kind == "file":
            digest, chunks = get("hash"), get("chunks")
            if type(digest) is not str or not _is_digest(digest):
                raise Refused(f"{where}: the file {path!r} has no content hash")
            self.hash = digest
            if chunks is not None:
                self.chunks = _chunks(chunks, size, where, path)
            return
        if get("hash") is not None or get("chunks") is not None:
            raise Refused(f"{where}: {path!r} is not a file but names content")
        if kind == "symlink":
            target = get("target")
            if not isinstance(target, str):
                raise Refused(f"{where}: the symlink {path!r} has no target")
            self.target = target

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)

    def objects(self) -> list[ObjectId]:
        """The (kind, digest) objects this entry's content is stored as."""
        if self.type == "dir" and self.tree:
            return [("trees", self.tree)]
        if self.type != "file":
            return []
        if self.chunks is None:
            return [(blob_kind(self.executable), self.hash)]
        return [("chunks", h) for h, _ in self.chunks]


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _chunks(raw: object, size: int, where: str, path: str) -> list[tuple[str, int]]:
    if not isinstance(raw, list):
        raise Refused(f"{where}: the chunks of {path!r} are not a list")
    chunks = []
    for item in raw:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not DIGEST.match(item[0])
            or not _count(item[1])
        ):
            raise Refused(f"{where}: {path!r} has a bad chunk {item!r}")
        chunks.append((item[0], item[1]))
    if sum(n for _, n in chunks) != size:
        raise Refused(f"{where}: the chunks of {path!r} do not add up to its size")
    return chunks


def parse(data: bytes, where: str) -> list[Entry]:
    """The entries of a tree object's bytes."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Corrupt(f"{where} is not a tree: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        raise Corrupt(f"{where} is not a tree (no entries)")
    if raw.get("version", 1) != 1:
        raise Refused(
            "{} is a tree of version {!r}; this agent reads 1".format(where, raw["version"])
        )
    return [Entry(e, where) for e in raw["entries"]]


def from_item(path: str, item: treeobj.Item) -> Entry:
    """An entry of a directory object (already checked by :func:`treeobj.decode`)."""
    raw: dict[str, Any] = {"path": path}
    if item.kind == "d":
        raw.update(type="dir", mode=item.mode)
    elif item.kind == "l":
        raw.update(type="symlink", mode=0o777, target=item.target)
    else:
        raw.update(type="file", mode=item.mode, size=item.size, hash=item.digest)
        if item.chunks is not None:
            raw["chunks"] = [list(c) for c in item.chunks]
    entry = Entry(raw, path)
    if item.kind == "d":
        entry.tree = item.digest
    return entry


def read(layout: Layout, digest: str) -> bytes:
    """The bytes of one stored tree object."""
    check_object("trees", digest)
    try:
        with open(layout.path("trees", digest), "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise Refused(f"tree {digest[:16]} is not in the store at {layout.root}") from None


_DECODED_ITEMS = 1_000_000  # items kept decoded per agent (a few hundred MB at most)


def items(layout: Layout, digest: str, data: bytes | None = None) -> list[treeobj.Item]:
    """The items of the stored directory object ``digest`` (``data``: its bytes, read
    already), decoded once per agent: a stored object never changes (it is read-only and
    named by its content), and an agent that read it once reads the same bytes again."""
    found: list[treeobj.Item] | None = layout.decoded.get(digest)
    if found is None:
        found = treeobj.decode(read(layout, digest) if data is None else data)
        if layout.decoded_items + len(found) <= _DECODED_ITEMS:
            layout.decoded_items += len(found)
            layout.decoded[digest] = found
    return found


def walk(
    layout: Layout, digest: str, enter: Callable[[str], bool] | None = None, once: bool = False
) -> list[Entry]:
    """The entries of the stored tree ``digest``: a directory object that appears in several
    places is listed in each, or with ``once`` entered only the first time (to collect
    objects, not paths); ``enter`` false for a subtree: listed, not entered."""
    data = read(layout, digest)
    where = "tree " + digest[:16]
    if not treeobj.is_dir_object(data):
        return parse(data, where)
    seen = {digest}

    def load(key: str) -> bytes:
        return data if key == digest else read(layout, key)

    def skip(key: str) -> bool:
        if once:
            if key in seen:
                return True
            seen.add(key)
        return enter is not None and not enter(key)

    def items_of(key: str) -> list[treeobj.Item]:
        return items(layout, key, data if key == digest else None)

    try:
        found = treeobj.walk(load, digest, skip=skip, items_of=items_of)
        return [from_item(path, item) for path, item in found]
    except treeobj.BadTree as exc:
        raise Corrupt(f"{where} is not a valid tree: {exc}") from None


def load(layout: Layout, digest: str) -> list[Entry]:
    """The entries of the stored tree ``digest``."""
    return walk(layout, digest)


def objects(digest: str, entries: list[Entry]) -> list[ObjectId]:
    """Every object a tree needs, once each: its files' blobs or chunks, its directories'
    objects, then the tree."""
    seen: dict[ObjectId, None] = {}
    for entry in entries:
        for obj in entry.objects():
            seen[obj] = None
    seen[("trees", digest)] = None
    return list(seen)


def lacking(layout: Layout, digest: str) -> tuple[list[str], list[ObjectId]]:
    """The objects of a stored tree the store does not hold ("kind/digest"; a lacking tree
    object is named, not entered), and every object of it that is held."""
    exists = os.path.exists
    if not exists(layout.path("trees", digest)):
        return ["trees/" + digest], []
    absent: dict[str, None] = {}

    def enter(key: str) -> bool:
        if exists(layout.path("trees", key)):
            return True
        absent["trees/" + key] = None
        return False

    data = read(layout, digest)
    if treeobj.is_dir_object(data):
        found = _walk_objects(layout, digest, data, enter)
    else:
        found = objects(digest, parse(data, "tree " + digest[:16]))
    held = []
    base = layout.objects
    for kind, key in found:
        if exists(f"{base}/{kind}/{key[:2]}/{key[2:]}"):
            held.append((kind, key))
        else:
            absent[kind + "/" + key] = None
    return list(absent), held


def _walk_objects(
    layout: Layout, digest: str, data: bytes, enter: Callable[[str], bool]
) -> list[ObjectId]:
    """Every object a stored tree of directory objects names, once each, then the tree
    (the items as :func:`treeobj.decode` checked them: no entries are built, as a push's
    two walks of a 10,000-file tree would build 20,000)."""
    seen = {digest}
    found: dict[ObjectId, None] = {}

    def load(key: str) -> bytes:
        return data if key == digest else read(layout, key)

    def skip(key: str) -> bool:
        if key in seen:
            return True
        seen.add(key)
        return not enter(key)

    def items_of(key: str) -> list[treeobj.Item]:
        return items(layout, key, data if key == digest else None)

    try:
        for _, item in treeobj.walk(load, digest, skip=skip, items_of=items_of):
            kind = item.kind
            if kind == "f":
                if item.chunks is None:
                    found[(blob_kind(bool(item.mode & 0o111)), item.digest)] = None
                else:
                    found.update((("chunks", h), None) for h, _ in item.chunks)
            elif kind == "d":
                found[("trees", item.digest)] = None
    except treeobj.BadTree as exc:
        raise Corrupt(f"tree {digest[:16]} is not a valid tree: {exc}") from None
    found[("trees", digest)] = None
    return list(found)


def lacking_below(layout: Layout, trees: list[str]) -> tuple[list[ObjectId], list[ObjectId]]:
    """Of the objects the stored directory objects ``trees`` name directly (their files'
    blobs or chunks, their subdirectories' objects), those the store lacks and those it
    holds."""
    exists = os.path.exists
    absent: dict[ObjectId, None] = {}
    held: dict[ObjectId, None] = {}
    base = layout.objects
    for tree in trees:
        named: list[ObjectId] | None
        if tree in layout.decoded:
            named = _named(items(layout, tree))
        else:
            data = read(layout, tree)
            try:
                is_dir = treeobj.is_dir_object(data)
                named = _named(items(layout, tree, data)) if is_dir else None
            except treeobj.BadTree as exc:
                raise Corrupt(f"tree {tree[:16]} is not a valid tree: {exc}") from None
            if named is None:  # the first format: entries, checked field by field
                named = [o for e in parse(data, "tree " + tree[:16]) for o in e.objects()]
        for obj in named:
            if obj not in held and obj not in absent:
                kind, key = obj
                (held if exists(f"{base}/{kind}/{key[:2]}/{key[2:]}") else absent)[obj] = None
    return list(absent), list(held)


def _named(found: list[treeobj.Item]) -> list[ObjectId]:
    """The objects directory items name directly (as :meth:`Entry.objects` says them)."""
    named: list[ObjectId] = []
    for item in found:
        if item.kind == "d":
            named.append(("trees", item.digest))
        elif item.kind == "f":
            if item.chunks is None:
                named.append((blob_kind(bool(item.mode & 0o111)), item.digest))
            else:
                named.extend(("chunks", h) for h, _ in item.chunks)
    return named
