"""Trees: manifests of path -> (type, mode, content hash, chunks, symlink target).

A tree is stored as canonical JSON (entries sorted by path) under the hash of that JSON,
so "is this the same build?" is one comparison of tree hashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from assay import treecheck
from assay.store.objects import Chunk, Corrupt, ObjectStore, hash_bytes

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


def make_tree(entries: Iterable[Entry]) -> Tree:
    return Tree(tuple(sorted(entries, key=lambda e: e.path)))


def encode(tree: Tree) -> bytes:
    return _ENCODER.encode(tree)


def put_tree(objects: ObjectStore, tree: Tree) -> str:
    digest, _ = objects.put_bytes("trees", encode(tree))
    return digest


def load_tree(objects: ObjectStore, digest: str) -> Tree:
    """The tree stored under ``digest``, re-hashed first (trees are small, and a damaged one
    would stage the wrong files)."""
    data = objects.read_tree_bytes(digest)
    if hash_bytes(data) != digest:
        raise Corrupt(
            f"tree {digest[:16]} is damaged: its content no longer matches its hash; run "
            "`assay store verify --repair` and put its versions again"
        )
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Corrupt(
            f"tree {digest[:16]} is damaged ({exc}); run `assay store verify --repair` and "
            "put its versions again"
        ) from None


def check_tree(tree: Tree, where: str = "the tree") -> None:
    """Refuse (:class:`UnsafeEntry`) a tree that cannot be written out safely: see
    :mod:`assay.treecheck`. Absolute symlinks are allowed (a directory the user put may
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
