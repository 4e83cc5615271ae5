"""The tree objects a transfer walks: the objects a tree's files need, and one directory
object's entries (with the hash of each subdirectory's own object)."""

from __future__ import annotations

from assay.store.agent import treeobj
from assay.store.agent.treeobj import BadTree
from assay.store.objects import Corrupt
from assay.store.transfer_types import ObjectId
from assay.store.trees import Entry, Tree, decode_legacy, file_objects, to_entry


def tree_objects(digest: str, tree: Tree) -> list[ObjectId]:
    """The objects a flat tree's files need, once each, then the root tree object (the
    objects of its subdirectories are not in a flat tree: see ``tree_level``)."""
    seen: dict[ObjectId, None] = {}
    for entry in tree.entries:
        seen.update(((k, d), None) for k, d, _ in file_objects(entry))
    seen[("trees", digest)] = None
    return list(seen)


def tree_level(data: bytes, digest: str, path: str) -> list[tuple[Entry, str | None]]:
    """The entries of one tree object (a directory's, or a whole tree of the first format),
    each with the hash of its subtree's object for a directory (else None)."""
    try:
        if treeobj.is_dir_object(data):
            out: list[tuple[Entry, str | None]] = []
            for item in treeobj.decode(data):
                full = f"{path}/{item.name}" if path else item.name
                out.append((to_entry(full, item), item.digest if item.kind == "d" else None))
            return out
    except BadTree as exc:
        where = path or "the root"
        raise Corrupt(f"tree {digest[:16]} ({where}) is not a valid tree: {exc}") from None
    if path:
        raise Corrupt(f"tree {digest[:16]} ({path}) is not a directory object")
    return [(entry, None) for entry in decode_legacy(data, digest).entries]
