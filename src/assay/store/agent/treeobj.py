"""Directory tree objects (format 2): one object per directory, as git keeps trees.

Shared by assay and the agent (standard library only, Python 3.7). A stored tree is the
object of its root directory; each subdirectory is named by the digest of its own object, so
a new version of a build stores (and sends) only the objects of the directories on the paths
of what changed, and two versions are compared by walking only the subtrees whose digests
differ.

An object is ``MAGIC`` then its entries, sorted by name (as UTF-8 bytes), each::

    tag (1 byte) | name (varint length + UTF-8) | the tag's fields

    f  file:      mode, size (varints), content hash (32 bytes)
    c  chunked:   mode, size, content hash, chunk count, then (chunk hash, size) each
    d  directory: mode, the digest of its object (32 bytes)
    l  symlink:   target (varint length + UTF-8)

Nothing in an object is taken on trust: a name is one path component (not empty, ``.``,
``..``, and without ``/`` or NUL), names are strictly increasing (no duplicates), varints are
minimal, chunk sizes add up, and nothing follows the last entry. The walk (``walk``) refuses
a subtree that is one of its own ancestors, a depth beyond ``MAX_DEPTH`` and more than
``max_entries`` entries in all (a small object that names one subtree many times could
otherwise stand for billions of paths).

The first format, one JSON manifest of every path, starts with ``{`` and is still read.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

if TYPE_CHECKING:
    from collections.abc import Iterator

MAGIC = b"assay-tree-2\n"
MAX_DEPTH = 256
MAX_ENTRIES = 5_000_000
_MAX_VARINT = 1 << 63
MODE_MASK = 0o7777

Chunks = Optional[List[Tuple[str, int]]]


class BadTree(ValueError):
    """A tree object that does not follow the format (or a walk that would not end)."""


class Item:
    """One entry of a directory object."""

    __slots__ = ("chunks", "digest", "kind", "mode", "name", "size", "target")

    def __init__(
        self,
        name: str,
        kind: str,
        mode: int = 0,
        size: int = 0,
        digest: str = "",
        chunks: Chunks = None,
        target: str = "",
    ) -> None:
        self.name, self.kind, self.mode, self.size = name, kind, mode, size
        self.digest, self.chunks, self.target = digest, chunks, target

    def __repr__(self) -> str:
        return f"Item({self.name!r}, {self.kind!r}, digest={self.digest[:12]!r})"


def is_dir_object(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def _varint(value: int) -> bytes:
    if not 0 <= value < _MAX_VARINT:
        raise BadTree(f"a number out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    return _varint(len(raw)) + raw


def _raw_digest(digest: str) -> bytes:
    if len(digest) != 64:
        raise BadTree(f"not a digest: {digest!r}")
    try:
        return binascii.unhexlify(digest)
    except (binascii.Error, ValueError):
        raise BadTree(f"not a digest: {digest!r}") from None


def check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise BadTree(f"{name!r} is not a name within a directory")


def encode(items: list[Item]) -> bytes:
    """The object of a directory holding ``items`` (sorted here; names must be unique)."""
    keyed = sorted(((i.name.encode("utf-8", "surrogateescape"), i) for i in items), key=_first)
    out = [MAGIC]
    previous = None
    for key, item in keyed:
        check_name(item.name)
        if key == previous:
            raise BadTree(f"{item.name!r} is named twice in one directory")
        previous = key
        if item.kind == "l":
            out += [b"l", _text(item.name), _text(item.target)]
        elif item.kind == "d":
            out += [b"d", _text(item.name), _varint(item.mode), _raw_digest(item.digest)]
        elif item.kind == "f":
            head = [_text(item.name), _varint(item.mode), _varint(item.size)]
            if item.chunks is None:
                out += [b"f", *head, _raw_digest(item.digest)]
            else:
                out += [b"c", *head, _raw_digest(item.digest), _varint(len(item.chunks))]
                for chunk, size in item.chunks:
                    out += [_raw_digest(chunk), _varint(size)]
        else:
            raise BadTree(f"unknown entry kind {item.kind!r}")
    return b"".join(out)


def _first(pair: tuple[bytes, Item]) -> bytes:
    return pair[0]


def _number(data: bytes, pos: int) -> tuple[int, int]:
    """The number at ``pos`` and the position after it (one byte below 128: the usual case)."""
    try:
        byte = data[pos]
    except IndexError:
        raise BadTree("it ends inside an entry") from None
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        try:
            byte = data[pos]
        except IndexError:
            raise BadTree("it ends inside an entry") from None
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0:
                raise BadTree("a number is not written in its shortest form")
            if value >= _MAX_VARINT:
                raise BadTree("a number out of range")
            return value, pos + 1
        if shift > 63:
            raise BadTree("a number out of range")


def _take(data: bytes, pos: int, n: int) -> bytes:
    if pos + n > len(data):
        raise BadTree("it ends inside an entry")
    return data[pos : pos + n]


_L, _D, _F, _C = b"l"[0], b"d"[0], b"f"[0], b"c"[0]


def decode(data: bytes) -> list[Item]:
    """The entries of a directory object (checked: see the module's docstring)."""
    # Positions in locals and plain functions, not a reader object: every push decodes each
    # directory of the tree on both sides, 10,000 entries for a 10,000-file build.
    if not is_dir_object(data):
        raise BadTree("not a directory tree object")
    hexlify = binascii.hexlify
    end = len(data)
    pos = len(MAGIC)
    items: list[Item] = []
    previous = None
    while pos < end:
        tag = data[pos]
        length, pos = _number(data, pos + 1)
        raw = _take(data, pos, length)
        pos += length
        name = raw.decode("utf-8", "surrogateescape")
        check_name(name)
        if previous is not None and raw <= previous:
            raise BadTree(f"names out of order or named twice ({name!r})")
        previous = raw
        if tag == _L:
            length, pos = _number(data, pos)
            target = _take(data, pos, length).decode("utf-8", "surrogateescape")
            pos += length
            items.append(Item(name, "l", 0o777, target=target))
            continue
        mode, pos = _number(data, pos)
        if mode > MODE_MASK:
            raise BadTree(f"{name!r} has a bad mode")
        if tag == _D:
            digest = hexlify(_take(data, pos, 32)).decode("ascii")
            items.append(Item(name, "d", mode, digest=digest))
            pos += 32
        elif tag in (_F, _C):
            size, pos = _number(data, pos)
            digest = hexlify(_take(data, pos, 32)).decode("ascii")
            pos += 32
            chunks = None
            if tag == _C:
                count, pos = _number(data, pos)
                if count > end:
                    raise BadTree(f"{name!r} claims more chunks than the object holds")
                chunks = []
                for _ in range(count):
                    chunk = hexlify(_take(data, pos, 32)).decode("ascii")
                    piece, pos = _number(data, pos + 32)
                    chunks.append((chunk, piece))
                if sum(n for _, n in chunks) != size:
                    raise BadTree(f"the chunks of {name!r} do not add up to its size")
            items.append(Item(name, "f", mode, size, digest, chunks))
        else:
            raise BadTree(f"unknown entry tag {chr(tag)!r} at {name!r}")
    return items


Load = Callable[[str], bytes]  # the bytes of a stored tree object (its digest checked)


def walk(
    load: Load,
    digest: str,
    prefix: str = "",
    skip: Callable[[str], bool] | None = None,
    max_entries: int | None = None,
    items_of: Callable[[str], list[Item]] | None = None,
) -> Iterator[tuple[str, Item]]:
    """Every entry below the directory object ``digest``, as (path, item), parents before
    their content. ``skip(digest)`` true: that subtree is yielded but not entered (one
    already seen, unchanged ...); ``items_of(digest)``: its decoded items, in place of
    decoding what ``load`` gives (a cache). Refuses cycles, depth and entry-count bombs."""
    limit = MAX_ENTRIES if max_entries is None else max_entries
    count = 0
    # (path of the directory, its digest, digests of its ancestors, itself included)
    stack: list[tuple[str, str, tuple[str, ...]]] = [(prefix, digest, (digest,))]
    while stack:
        path, current, ancestors = stack.pop()
        if len(ancestors) > MAX_DEPTH:
            raise BadTree(f"directories nested deeper than {MAX_DEPTH}")
        items = items_of(current) if items_of is not None else decode(load(current))
        below: list[tuple[str, str, tuple[str, ...]]] = []
        for item in items:
            count += 1
            if count > limit:
                raise BadTree(f"more than {limit} entries in all")
            full = path + "/" + item.name if path else item.name
            yield full, item
            if item.kind == "d":
                if item.digest in ancestors:
                    raise BadTree(f"{full!r} names one of its own parents")
                if skip is None or not skip(item.digest):
                    below.append((full, item.digest, (*ancestors, item.digest)))
        stack.extend(reversed(below))
