"""Whether a stored tree is safe to write out: a port of :func:`assay.treecheck.check_tree`
(the same rules, the same messages; tests hold the two to the same verdicts).

The whole list is replayed into a model of the tree it makes and judged there: names must be
normalised relative paths (no ``..``, no NUL, components of at most 255 bytes, at most 4,095
bytes and 256 levels in all), no entry may lie below a symlink or a file, a path may appear
once, and every symlink is resolved against the model (following its other links, at most 40
deep): no step may climb above the root. Absolute targets are allowed (a directory the user
put may hold them), and then resolution stops there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

if TYPE_CHECKING:
    from collections.abc import Iterable

# Where a link leads: path components below the root, or None (out through an absolute link).
Resolved = Optional[Tuple[str, ...]]  # typing: this module runs on Python 3.7
NAME_MAX = 255
PATH_MAX = 4095
MAX_DEPTH = 256
MAX_LINK_DEPTH = 40
DIR, FILE, SYMLINK = "dir", "file", "symlink"
_KINDS = {DIR: "directory", FILE: "file", SYMLINK: "symlink"}
_OUTSIDE = None


class UnsafeEntry(Exception):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name!r} {reason}")
        self.name = name
        self.reason = reason


def clean_name(raw: str) -> str:
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
        size = len(part.encode("utf-8"))
        if size > NAME_MAX:
            raise UnsafeEntry(
                raw,
                f"has a name component of {size} bytes; file systems allow at most {NAME_MAX}",
            )
    if len(encoded) > PATH_MAX:
        raise UnsafeEntry(
            raw,
            f"has a path of {len(encoded):,} bytes; file systems allow at most {PATH_MAX:,}",
        )
    if len(parts) > MAX_DEPTH:
        raise UnsafeEntry(
            raw, f"is {len(parts):,} levels deep; assay unpacks at most {MAX_DEPTH} levels"
        )
    return "/".join(parts)


def _plain(path: str) -> bool:
    try:
        path.encode("ascii")
    except UnicodeEncodeError:
        return False
    if len(path) > PATH_MAX or "\0" in path:
        return False
    parts = path.split("/")
    return (
        not ("" in parts or "." in parts or ".." in parts) and len(max(parts, key=len)) <= NAME_MAX
    )


def check_link_text(name: str, target: str, allow_absolute: bool) -> None:
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


class _Node:
    __slots__ = ("implicit", "kind", "target")

    def __init__(self, kind: str, target: str | None = None, implicit: bool = False) -> None:
        self.kind = kind
        self.target = target
        self.implicit = implicit


class _Model:
    def __init__(self, allow_absolute: bool, where: str) -> None:
        self.nodes = {"": _Node(DIR)}
        self.allow_absolute = allow_absolute
        self.where = where
        self._resolved: dict[str, Resolved] = {}

    def add(self, name: str, kind: str, target: str | None) -> None:
        if name == "":
            if kind != DIR:
                raise UnsafeEntry(".", f"is a {_KINDS[kind]} in place of the root directory")
            return
        self._parents(name)
        if kind == SYMLINK:
            assert target is not None
            check_link_text(name, target, self.allow_absolute)
        earlier = self.nodes.get(name)
        if earlier is not None and (earlier.kind == DIR) != (kind == DIR):
            if earlier.implicit:
                raise UnsafeEntry(name, f"is a {_KINDS[kind]}, but earlier entries lie below it")
            raise UnsafeEntry(
                name,
                f"appears twice, as a {_KINDS[earlier.kind]} and then as a {_KINDS[kind]}",
            )
        if kind == DIR and earlier is not None and earlier.kind == DIR:
            earlier.implicit = False
            return
        self.nodes[name] = _Node(kind, target if kind == SYMLINK else None)

    def _parents(self, name: str) -> None:
        parent = name.rpartition("/")[0]
        missing = []
        while parent:
            node = self.nodes.get(parent)
            if node is not None:
                if node.kind != DIR:
                    what = "a symlink" if node.kind == SYMLINK else "a file"
                    raise UnsafeEntry(name, f"lies below {parent!r}, which is {what}")
                break
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        for path in missing:
            self.nodes[path] = _Node(DIR, implicit=True)

    def check_links(self) -> None:
        self._resolved.clear()
        for name, node in list(self.nodes.items()):
            if node.kind == SYMLINK:
                self._resolve(name, 0, name)

    def _resolve(self, name: str, depth: int, origin: str) -> Resolved:
        if name in self._resolved:
            return self._resolved[name]
        if depth > MAX_LINK_DEPTH:
            raise UnsafeEntry(
                origin,
                f"does not resolve: a loop, or more than {MAX_LINK_DEPTH} links deep",
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
                continue
            stack.pop()
            resolved = self._resolve("/".join([*stack, part]), depth + 1, origin)
            if resolved is _OUTSIDE:
                return _OUTSIDE
            stack = list(resolved)
        return tuple(stack)


def check_tree(
    entries: Iterable[tuple[str, str, str | None]],
    allow_absolute_links: bool = True,
    where: str = "the tree",
) -> None:
    """Refuse (:class:`UnsafeEntry`) a list of (path, kind, symlink target) that cannot be
    written out safely; paths must be normalised already, each appearing once."""
    model = _Model(allow_absolute_links, where)
    for path, kind, target in entries:
        if not _plain(path) and (not path or clean_name(path) != path):
            raise UnsafeEntry(path, "is not a normalised relative path")
        if path in model.nodes and not model.nodes[path].implicit:
            raise UnsafeEntry(path, "appears twice")
        model.add(path, kind, target)
    model.check_links()
