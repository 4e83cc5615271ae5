"""Tree manifests as the agent reads them: the JSON assay.store writes, checked field by field
(the agent derives paths from what a tree names, so nothing in it is taken on trust)."""

from __future__ import annotations

import json
import os
from typing import Any

from .layout import DIGEST, Corrupt, Layout, ObjectId, Refused, blob_kind, check_object

_TYPES = ("file", "dir", "symlink")
_FIELDS = {"path", "type", "mode", "size", "hash", "chunks", "target"}


class Entry:
    __slots__ = ("chunks", "hash", "mode", "path", "size", "target", "type")
    path: str
    type: str
    mode: int
    size: int
    hash: str  # files only ("" for the others)
    chunks: list[tuple[str, int]] | None
    target: str | None

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict) or not set(raw) <= _FIELDS:
            raise Refused(f"{where}: an entry is not a tree entry: {raw!r}"[:500])
        path, kind = raw.get("path"), raw.get("type")
        mode, size = raw.get("mode", 0o644), raw.get("size", 0)
        digest, chunks, target = raw.get("hash"), raw.get("chunks"), raw.get("target")
        if not isinstance(path, str) or kind not in _TYPES:
            raise Refused(f"{where}: an entry has no path or an unknown type: {raw!r}")
        if not _count(mode) or not _count(size):
            raise Refused(f"{where}: {path!r} has a bad mode or size")
        self.path, self.type, self.mode, self.size = path, kind, mode, size
        self.hash, self.chunks, self.target = "", None, None
        if kind == "file":
            if not isinstance(digest, str) or not DIGEST.match(digest):
                raise Refused(f"{where}: the file {path!r} has no content hash")
            self.hash = digest
            if chunks is not None:
                self.chunks = _chunks(chunks, size, where, path)
        elif digest is not None or chunks is not None:
            raise Refused(f"{where}: {path!r} is not a file but names content")
        if kind == "symlink":
            if not isinstance(target, str):
                raise Refused(f"{where}: the symlink {path!r} has no target")
            self.target = target

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)

    def objects(self) -> list[ObjectId]:
        """The (kind, digest) objects this entry's content is stored as."""
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


def load(layout: Layout, digest: str) -> list[Entry]:
    """The entries of the stored tree ``digest``."""
    check_object("trees", digest)
    try:
        with open(layout.path("trees", digest), "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise Refused(f"tree {digest[:16]} is not in the store at {layout.root}") from None
    return parse(data, "tree " + digest[:16])


def objects(digest: str, entries: list[Entry]) -> list[ObjectId]:
    """Every object a tree needs, once each: its files' blobs or chunks, then the tree."""
    seen: dict[ObjectId, None] = {}
    for entry in entries:
        for obj in entry.objects():
            seen[obj] = None
    seen[("trees", digest)] = None
    return list(seen)


def lacking(layout: Layout, digest: str, entries: list[Entry]) -> list[str]:
    """The objects of a tree the store does not hold ("kind/digest")."""
    exists = os.path.exists
    return [f"{k}/{d}" for k, d in objects(digest, entries) if not exists(layout.path(k, d))]
