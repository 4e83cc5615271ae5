"""Whether a list of entries (an archive's members, a stored tree) is safe to write out.

Checking path text alone is not enough: ``a -> .``, ``b -> a/..`` looks harmless as text
but ``b`` is the target's parent on disk, and ``b/FILE`` then lands outside. So the whole
list is replayed into a model of the tree it makes, and judged there:

* **names**: relative, no ``..`` component, no NUL, valid UTF-8, each component at most
  255 bytes (``NAME_MAX``), the whole at most 4,095 (``PATH_MAX``) and 256 levels deep;
* **parents**: no entry lies below a symlink or a file (of the list, or already there);
* **the same name twice**: a later entry of the same kind replaces the earlier one
  (directories merge); a directory may not become a file or link, nor the reverse;
* **hard links**: only to an earlier regular file of the list, by its exact name;
* **symlinks**: resolved against the model itself (following the model's other links,
  missing components taken as directories, at most 40 links deep), no step may climb
  above the root; absolute targets only where the caller allows them (a directory the
  user put), and then nothing may climb out through them either.

A refusal is an :class:`UnsafeEntry` naming the entry. Writing is a separate, second line of
defence (:mod:`.treewrite`) that never follows a link.

One copy serves both sides: assay (unpacking archives, putting, staging) imports it, and the
store agent carries it (standard library only, Python 3.7), so the two cannot drift. Each side
turns an :class:`UnsafeEntry` into its own error (``ArchiveError``, ``StoreError``, the agent's
refusal) where it is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# Where a link leads: path components below the root, or None (out through an absolute link).
Resolved = Optional[Tuple[str, ...]]  # typing: this module runs on Python 3.7

NAME_MAX = 255
PATH_MAX = 4095  # bytes, without the terminating NUL
MAX_DEPTH = 256  # directory levels; deeper trees break recursive tools (shutil.rmtree)
MAX_LINK_DEPTH = 40  # as Linux
DIR, FILE, SYMLINK, HARDLINK = "dir", "file", "symlink", "hardlink"
_KINDS = {DIR: "directory", FILE: "file", SYMLINK: "symlink", HARDLINK: "hard link"}


class UnsafeEntry(Exception):
    """An entry that would write outside the target, or cannot be written as named."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name!r} {reason}")
        self.name = name
        self.reason = reason


def clean_name(raw: str) -> str:
    """The normalised relative form of an entry name (``""`` for the root itself), or
    :class:`UnsafeEntry` saying what is wrong with it. ``./`` prefixes, repeated and
    trailing slashes go; a backslash is an ordinary character (POSIX)."""
    if "\0" in raw:
        raise UnsafeEntry(raw, "has a NUL byte in its name")
    if raw.startswith("/"):
        raise UnsafeEntry(raw, "has an absolute path")
    try:
        encoded = raw.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeEntry(raw, "has a name that is not valid UTF-8; rename it") from None
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeEntry(raw, "climbs out with '..'")
    for part in parts:
        if len(part.encode("utf-8")) > NAME_MAX:
            raise UnsafeEntry(
                raw,
                f"has a name component of {len(part.encode('utf-8'))} bytes; file systems "
                f"allow at most {NAME_MAX}",
            )
    if len(encoded) > PATH_MAX:
        raise UnsafeEntry(
            raw, f"has a path of {len(encoded):,} bytes; file systems allow at most {PATH_MAX:,}"
        )
    if len(parts) > MAX_DEPTH:
        raise UnsafeEntry(
            raw, f"is {len(parts):,} levels deep; assay unpacks at most {MAX_DEPTH} levels"
        )
    return "/".join(parts)


def _plain(path: str) -> bool:
    """The common case of a normalised name, quickly (thousands per staging)."""
    if not path.isascii() or len(path) > PATH_MAX or "\0" in path:
        return False
    parts = path.split("/")
    return (
        not ("" in parts or "." in parts or ".." in parts) and len(max(parts, key=len)) <= NAME_MAX
    )


def check_link_text(name: str, target: str, *, allow_absolute: bool) -> None:
    """What a symlink's target text may be, before any resolving."""
    if not target:
        raise UnsafeEntry(name, "is a symlink with an empty target")
    if "\0" in target:
        raise UnsafeEntry(name, "is a symlink whose target has a NUL byte")
    try:
        size = len(target.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafeEntry(name, "is a symlink whose target is not valid UTF-8") from None
    if size > PATH_MAX:
        raise UnsafeEntry(name, f"is a symlink with a target of {size:,} bytes (at most 4,095)")
    if target.startswith("/") and not allow_absolute:
        raise UnsafeEntry(name, f"points to the absolute path {target!r}")


@dataclass
class Node:
    kind: str  # DIR, FILE or SYMLINK (a hard link is a FILE)
    target: str | None = None  # a symlink's target text
    old: bool = False  # already in the target before this list (an overlay's base)
    implicit: bool = False  # a directory only because entries lie below it


_OUTSIDE = None  # a resolution that left through an absolute link (allowed ones only)


class TreeModel:
    """The tree a list of entries makes, checked entry by entry (:meth:`add`) and, once the
    list is complete, link by link (:meth:`check_links`)."""

    def __init__(self, *, allow_absolute_links: bool = False, where: str = "the target") -> None:
        self.nodes: dict[str, Node] = {"": Node(DIR)}
        self.allow_absolute = allow_absolute_links
        self.where = where
        self._resolved: dict[str, Resolved] = {}

    # -- building ------------------------------------------------------------------------------

    def add_existing(self, name: str, kind: str, target: str | None = None) -> None:
        """Something already on disk under the target (walked top-down, parents first)."""
        self.nodes[name] = Node(kind, target, old=True)

    def add(self, name: str, kind: str, target: str | None = None) -> None:
        """The next entry of the list; ``name`` already cleaned (:func:`clean_name`), and for
        a hard link ``target`` is the cleaned name it points to."""
        if name == "":
            if kind != DIR:
                raise UnsafeEntry(".", f"is a {_KINDS[kind]} in place of the root directory")
            return
        self._parents(name)
        if kind == SYMLINK:
            assert target is not None
            check_link_text(name, target, allow_absolute=self.allow_absolute)
        elif kind == HARDLINK:
            target = self._hardlink_source(name, target or "")
            kind = FILE
        earlier = self.nodes.get(name)
        if earlier is not None and (earlier.kind == DIR) != (kind == DIR):
            if earlier.implicit:
                raise UnsafeEntry(name, f"is a {_KINDS[kind]}, but earlier entries lie below it")
            if not earlier.old:
                raise UnsafeEntry(
                    name,
                    f"appears twice, as a {_KINDS[earlier.kind]} and then as a {_KINDS[kind]}",
                )
            if earlier.kind == DIR:  # an overlay's file hides the base's directory
                self._drop_below(name)
        if kind == DIR and earlier is not None and earlier.kind == DIR:
            earlier.old = earlier.implicit = False
            return
        self.nodes[name] = Node(kind, target if kind == SYMLINK else None)

    def _parents(self, name: str) -> None:
        """Every proper prefix of ``name`` must be a directory (made one if absent)."""
        parent = name.rpartition("/")[0]
        missing = []
        while parent:
            node = self.nodes.get(parent)
            if node is not None:
                if node.kind != DIR:
                    what = "a symlink" if node.kind == SYMLINK else "a file"
                    already = f" already in {self.where}" if node.old else ""
                    raise UnsafeEntry(name, f"lies below {parent!r}, which is {what}{already}")
                break
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        for path in missing:
            self.nodes[path] = Node(DIR, implicit=True)

    def _hardlink_source(self, name: str, source: str) -> str:
        node = self.nodes.get(source)
        if source == name:
            if node is not None and node.kind == FILE and not node.old:
                return source
            raise UnsafeEntry(name, "is a hard link to itself")
        if node is None or node.old:
            raise UnsafeEntry(
                name, f"is a hard link to {source!r}, which is not an earlier file of the list"
            )
        if node.kind != FILE:
            raise UnsafeEntry(name, f"is a hard link to {source!r}, which is a {_KINDS[node.kind]}")
        return source

    def _drop_below(self, name: str) -> None:
        prefix = name + "/"
        for path in [p for p in self.nodes if p.startswith(prefix)]:
            del self.nodes[path]

    # -- links ---------------------------------------------------------------------------------

    def check_links(self, only: Callable[[str, Node], bool] | None = None) -> None:
        """Resolve every symlink of the model (or those ``only`` selects); refuse the first
        whose resolution climbs above the root at any step."""
        self._resolved.clear()
        for name, node in list(self.nodes.items()):
            if node.kind == SYMLINK and (only is None or only(name, node)):
                self._resolve(name, 0, name)

    def escaping_links(self) -> set[str]:
        """The symlinks of the model that leave the root (for tolerating what an overlay's
        base already had)."""
        self._resolved.clear()
        bad = set()
        for name, node in self.nodes.items():
            if node.kind == SYMLINK:
                try:
                    self._resolve(name, 0, name)
                except UnsafeEntry:
                    bad.add(name)
        return bad

    def _resolve(self, name: str, depth: int, origin: str) -> Resolved:
        """Where the symlink ``name`` leads, as path components below the root, or
        ``_OUTSIDE`` for an (allowed) absolute link."""
        if name in self._resolved:
            return self._resolved[name]
        if depth > MAX_LINK_DEPTH:
            raise UnsafeEntry(
                origin, f"does not resolve: a loop, or more than {MAX_LINK_DEPTH} links deep"
            )
        target = self.nodes[name].target or ""
        if target.startswith("/"):
            if not self.allow_absolute:
                how = "" if name == origin else f" through {name!r}"
                raise UnsafeEntry(origin, f"leads{how} to the absolute path {target!r}")
            self._resolved[name] = _OUTSIDE
            return _OUTSIDE
        base = tuple(name.split("/")[:-1])
        result = self._walk(name, base, target, depth, origin)
        self._resolved[name] = result
        return result

    def _walk(
        self, link: str, base: tuple[str, ...], text: str, depth: int, origin: str
    ) -> Resolved:
        """Follow ``text`` from the directory ``base``; the link whose text it is is named
        when a ``..`` climbs above the root."""
        stack = list(base)
        for part in text.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    how = "" if link == origin else f" through {link!r}"
                    raise UnsafeEntry(origin, f"points outside {self.where}{how} ({text!r})")
                stack.pop()
                continue
            stack.append(part)
            node = self.nodes.get("/".join(stack))
            if node is None or node.kind != SYMLINK:
                continue  # a directory, or missing/file: taken as a directory (lexically)
            stack.pop()
            resolved = self._resolve("/".join([*stack, part]), depth + 1, origin)
            if resolved is _OUTSIDE:
                return _OUTSIDE
            stack = list(resolved)
        return tuple(stack)


def check_tree(
    entries: Iterable[tuple[str, str, str | None]],
    *,
    allow_absolute_links: bool = True,
    where: str = "the tree",
) -> None:
    """Check a complete tree of (path, kind, symlink target): paths must be normalised
    already (a stored tree's are), and each may appear once."""
    model = TreeModel(allow_absolute_links=allow_absolute_links, where=where)
    for path, kind, target in entries:
        if not _plain(path) and (not path or clean_name(path) != path):
            raise UnsafeEntry(path, "is not a normalised relative path")
        if path in model.nodes and not model.nodes[path].implicit:
            raise UnsafeEntry(path, "appears twice")
        model.add(path, kind, target)
    model.check_links()
