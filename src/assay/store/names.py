"""Names, immutable numbered versions, tags, and how references resolve.

``names/NAME/v3.json`` is version 3 of NAME: its tree hash and provenance. A version file
is written once, atomically, under the name's lock, as the last step of a put: an
interrupted put leaves no half-visible version. Tags live in ``names/NAME/tags.json``.

References: ``NAME`` (newest), ``NAME@3``, ``NAME#release-1.4``, ``tree:HASHPREFIX``.
"""

from __future__ import annotations

import getpass
import os
import re
import time
from pathlib import Path

import msgspec

from assay.errors import did_you_mean
from assay.store.agent.layout import write_durable
from assay.store.objects import StoreError, locked

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
REF = re.compile(r"(?P<name>[^@#]+)(?:@(?P<version>\d+)|#(?P<tag>.+))?")
TREE_PREFIX = "tree:"


class Version(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One immutable version of a name, and where it came from."""

    name: str
    version: int
    tree: str
    created: float
    user: str = ""
    host: str = ""
    source: str | None = None
    source_kind: str | None = None  # directory, archive, layers, transfer
    archive_hash: str | None = None
    git_commit: str | None = None
    message: str | None = None
    files: int = 0
    bytes: int = 0
    new_bytes: int = 0
    layers: list[str] | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise StoreError(
            f"{name!r} is not a valid name: use letters, digits, '.', '_', '+' and '-', "
            "starting with a letter or digit"
        )


class Refs:
    """The names of a store."""

    def __init__(self, root: Path) -> None:
        self.root = root / "names"

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME.fullmatch(p.name))

    def versions(self, name: str) -> list[Version]:
        """Every version of ``name``, oldest first (an unreadable record is an error)."""
        versions, problems = self.scan(name)
        if problems:
            raise StoreError(problems[0])
        return versions

    def scan(self, name: str) -> tuple[list[Version], list[str]]:
        """The readable versions of ``name``, and what is wrong with the others."""
        folder = self.root / name
        if not folder.is_dir():
            return [], []
        out, problems = [], []
        for path in sorted(folder.glob("v*.json")):
            problem = None
            try:
                version = msgspec.json.decode(path.read_bytes(), type=Version)
            except OSError as exc:
                problem = exc.strerror or str(exc)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                problem = str(exc)
            else:
                if path.name != f"v{version.version}.json" or version.name != name:
                    problem = f"it holds the record of {version.ref}"
                else:
                    out.append(version)
            if problem:
                problems.append(
                    f"{path}: unreadable version record ({problem}); restore it from a "
                    "backup, or delete it to drop that version"
                )
        return sorted(out, key=lambda v: v.version), problems

    def tags(self, name: str) -> dict[str, int]:
        path = self.root / name / "tags.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"{path}: unreadable tags ({exc.strerror})") from None
        try:
            return msgspec.json.decode(data, type=dict[str, int])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StoreError(
                f"{path}: unreadable tags ({exc}); restore it from a backup, or delete it "
                "to drop the tags of that name"
            ) from None

    def add(self, name: str, tree: str, provenance: dict[str, object]) -> tuple[Version, bool]:
        """A new version of ``name`` for ``tree``, unless the newest already is that tree.

        Returns (version, created).
        """
        check_name(name)
        folder = self.root / name
        with locked(self.root / f".{name}.lock", exclusive=True):
            existing = self.versions(name)
            if existing and existing[-1].tree == tree:
                return existing[-1], False
            number = existing[-1].version + 1 if existing else 1
            version = msgspec.convert(
                {
                    "name": name,
                    "version": number,
                    "tree": tree,
                    "created": time.time(),
                    "user": _user(),
                    "host": os.uname().nodename,
                    **{k: v for k, v in provenance.items() if v is not None},
                },
                Version,
            )
            folder.mkdir(parents=True, exist_ok=True)
            write_durable(str(folder / f"v{number}.json"), msgspec.json.encode(version))
        return version, True

    def _by_tree(self, prefix: str) -> Version:
        """The newest version (of any name) whose tree hash starts with ``prefix``."""
        if len(prefix) < 6 or not re.fullmatch(r"[0-9a-f]+", prefix):
            raise StoreError(f"tree:{prefix}: give at least 6 hex digits of a tree hash")
        found = [
            v for name in self.names() for v in self.versions(name) if v.tree.startswith(prefix)
        ]
        trees = {v.tree for v in found}
        if len(trees) > 1:
            raise StoreError(f"tree:{prefix} is ambiguous: {len(trees)} trees start with it")
        if not found:
            raise StoreError(f"no version has a tree starting with {prefix}")
        return max(found, key=lambda v: v.created)

    def tag(self, name: str, version: int, tag: str) -> None:
        if not TAG.fullmatch(tag):
            raise StoreError(f"{tag!r} is not a valid tag (letters, digits, '.', '_', '+', '-')")
        with locked(self.root / f".{name}.lock", exclusive=True):
            tags = self.tags(name)
            tags[tag] = version
            write_durable(str(self.root / name / "tags.json"), msgspec.json.encode(tags))

    def remove(self, version: Version) -> None:
        """Delete a version record (garbage collection); its tags go with it."""
        with locked(self.root / f".{version.name}.lock", exclusive=True):
            (self.root / version.name / f"v{version.version}.json").unlink(missing_ok=True)
            tags = {t: v for t, v in self.tags(version.name).items() if v != version.version}
            if (self.root / version.name / "tags.json").exists():
                write_durable(
                    str(self.root / version.name / "tags.json"), msgspec.json.encode(tags)
                )

    def resolve(self, ref: str) -> Version:
        """The version a reference names, or an error saying what exists."""
        if ref.startswith(TREE_PREFIX):
            return self._by_tree(ref[len(TREE_PREFIX) :].strip().lower())
        match = REF.fullmatch(ref.strip())
        if not match:
            raise StoreError(f"{ref!r} is not a reference; write NAME, NAME@3 or NAME#tag")
        name = match.group("name")
        versions = self.versions(name)
        if not versions:
            known = self.names()
            if name in known:  # its folder is there, its records are not
                raise StoreError(
                    f"{name!r} has no version left in the store ({self.root / name} holds "
                    "no version record); put it again"
                )
            raise StoreError(
                f"no artifact named {name!r} in the store{did_you_mean(name, known)}"
                + (f"; names: {', '.join(known)}" if known else "; the store is empty")
            )
        if match.group("version"):
            number = int(match.group("version"))
            for v in versions:
                if v.version == number:
                    return v
            have = ", ".join(str(v.version) for v in versions)
            raise StoreError(f"{name} has no version {number}; versions: {have}")
        if match.group("tag"):
            tag = match.group("tag")
            tags = self.tags(name)
            if tag not in tags:
                raise StoreError(
                    f"{name} has no tag {tag!r}{did_you_mean(tag, tags)}; tags: "
                    f"{', '.join(sorted(tags)) or 'none'}"
                )
            return self.resolve(f"{name}@{tags[tag]}")
        return versions[-1]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
