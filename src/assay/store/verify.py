"""``verify``: re-hash every object and assembled file, check every version and checkout.

It reports every damaged object, every version it breaks (with all the paths that break),
every checkout that differs from its tree, and every unreadable version or tag record, and
raises for none of them. ``repair`` (under the exclusive lock) removes the damaged objects
and assembled files, so that the next put stores them again, and drops every checkout that
is damaged or uses a damaged object, so that the next run checks it out afresh.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assay.store import checkouts, trees
from assay.store.agent import treeobj
from assay.store.agent.treeobj import BadTree
from assay.store.objects import EPOCH, KINDS, StoreError, hash_file
from assay.store.trees import Entry, Tree, decode_legacy, file_objects, to_entry

if TYPE_CHECKING:
    from assay.store.store import Store

_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass
class VerifyReport:
    """What ``verify`` found: every damaged object, every version and checkout it breaks."""

    checked: int = 0
    checked_checkouts: int = 0
    corrupt: list[str] = field(default_factory=list)  # "kind/digest" (or "assembled/...")
    missing: list[str] = field(default_factory=list)  # objects versions need that are gone
    versions: dict[str, list[str]] = field(default_factory=dict)  # ref -> damaged paths
    checkouts: dict[str, list[str]] = field(default_factory=dict)  # tree -> problems
    records: list[str] = field(default_factory=list)  # unreadable version and tag files
    dropped_checkouts: int = 0  # by --repair

    @property
    def damaged_versions(self) -> list[str]:
        return list(self.versions)

    @property
    def clean(self) -> bool:
        return not (self.corrupt or self.missing or self.versions or self.checkouts or self.records)


def _files(base: Path) -> Iterator[tuple[str, Path]]:
    """(digest, path) of every object file under ``base/xx/``."""
    if not base.is_dir():
        return
    try:
        subs = sorted(base.iterdir())
        for sub in subs:
            if len(sub.name) == 2 and sub.is_dir():
                for path in sorted(sub.iterdir()):
                    yield sub.name + path.name, path
    except OSError as exc:
        raise StoreError(
            f"cannot read {exc.filename}: {exc.strerror}; run verify as a user who may read "
            "the whole store"
        ) from None


def _damaged(path: Path, digest: str) -> bool:
    try:
        info = path.stat()
        return info.st_mtime_ns != EPOCH or hash_file(path) != digest
    except FileNotFoundError:
        return False  # set aside meanwhile (a run's quarantine): not here to be damaged
    except OSError:
        return True  # unreadable: no run can use it either


def verify(store: Store, repair: bool) -> VerifyReport:
    report = VerifyReport()
    bad_ids: set[tuple[str, str]] = set()
    bad_files: dict[str, str] = {}  # object file -> what the report calls it
    for kind in KINDS:
        for digest, path in _files(store.objects.objects / kind):
            report.checked += 1
            if _damaged(path, digest):
                bad_ids.add((kind, digest))
                bad_files[str(path)] = f"{kind}/{digest}"
    for kind in ("blobs", "xblobs"):
        for digest, path in _files(store.objects.assembled_root / kind):
            report.checked += 1
            if _damaged(path, digest):
                bad_files[str(path)] = f"assembled/{kind}/{digest}"
    report.corrupt = list(bad_files.values())
    _check_versions(store, bad_ids, report)
    damaged_checkouts = _check_checkouts(store, set(bad_files), report)
    if repair:
        for name in bad_files:
            Path(name).unlink(missing_ok=True)
        for folder in damaged_checkouts:
            checkouts.drop(folder)
            report.dropped_checkouts += 1
        remove_leftovers(store)
    return report


def _check_versions(store: Store, bad: set[tuple[str, str]], report: VerifyReport) -> None:
    missing: dict[str, None] = {}
    damage: dict[str, list[str]] = {}  # of every tree object checked so far, its damage
    for name in store.refs.names():
        versions, problems = store.refs.scan(name)
        report.records.extend(problems)
        try:
            store.refs.tags(name)
        except StoreError as exc:
            report.records.append(str(exc))
        for version in versions:
            found = _tree_damage(store, version.tree, bad, missing, damage)
            if found:
                report.versions[version.ref] = found
    report.missing = list(missing)


def _tree_damage(
    store: Store,
    digest: str,
    bad: set[tuple[str, str]],
    missing: dict[str, None],
    damage: dict[str, list[str]],
) -> list[str]:
    """The paths of a tree that cannot be staged as stored (one line for a tree object that
    is itself damaged or missing). A directory's tree object is checked once per run, however
    many versions (or places of one version) share it: ``damage`` remembers what it found."""
    if digest in damage:
        return damage[digest]
    found: list[str] = []
    if ("trees", digest) in bad:
        found = [f"(tree {digest[:16]} is damaged: every file)"]
    elif not store.objects.has("trees", digest):
        missing[f"trees/{digest}"] = None
        found = [f"(tree {digest[:16]} is missing: every file)"]
    else:
        try:
            data = trees.read_tree_object(store.objects, digest)
            if treeobj.is_dir_object(data):
                items = treeobj.decode(data)
            else:  # a tree of the first format: one flat object
                entries = decode_legacy(data, digest).entries
                found = [e.path for e in entries if _broken(store, e, bad, missing)]
                items = []
        except (StoreError, BadTree) as exc:
            found, items = [f"(tree {digest[:16]}: {exc})"], []
        for item in items:
            if item.kind == "d":
                below = _tree_damage(store, item.digest, bad, missing, damage)
                found += [
                    f"{item.name}/ {p}" if p[:1] == "(" else f"{item.name}/{p}" for p in below
                ]
            elif _broken(store, to_entry(item.name, item), bad, missing):
                found.append(item.name)
    damage[digest] = found
    return found


def _broken(
    store: Store, entry: Entry, bad: set[tuple[str, str]], missing: dict[str, None]
) -> bool:
    """Whether a file's objects are damaged or missing (the missing ones noted)."""
    broken = False
    for kind, digest, _size in file_objects(entry):
        if (kind, digest) in bad:
            broken = True
        elif not store.objects.has(kind, digest):
            missing[f"{kind}/{digest}"] = None
            broken = True
    return broken


def _check_checkouts(store: Store, bad_files: set[str], report: VerifyReport) -> list[Path]:
    """Check every checkout against its tree; the damaged ones."""
    folder = store.root / "checkouts"
    if not folder.is_dir():
        return []
    damaged = []
    trees: dict[str, Tree | str] = {}
    for checkout in sorted(folder.iterdir()):
        if checkouts.is_leftover(checkout.name) or not _DIGEST.fullmatch(checkout.name):
            continue  # being built or dropped by a live process (gc removes leftovers)
        report.checked_checkouts += 1
        digest = checkout.name
        if digest not in trees:
            try:
                trees[digest] = store.tree(digest)
            except StoreError as exc:
                trees[digest] = str(exc)
        tree = trees[digest]
        try:
            problems = (
                [f"its tree cannot be used: {tree}"]
                if isinstance(tree, str)
                else checkouts.problems(store.objects, tree, checkout, bad_files, deep=True)
            )
        except OSError as exc:
            problems = [f"cannot be read: {exc.filename}: {exc.strerror}"]
        if problems and not checkout.is_dir():
            continue  # dropped meanwhile by a run that rebuilt it: not a checkout any more
        if problems:
            report.checkouts[digest] = problems
            damaged.append(checkout)
    return damaged


def remove_leftovers(store: Store) -> None:
    """Checkouts half-built or half-dropped by killed processes (exclusive lock only)."""
    folder = store.root / "checkouts"
    if folder.is_dir():
        for checkout in folder.iterdir():
            if checkouts.is_leftover(checkout.name):
                shutil.rmtree(checkout, ignore_errors=True)
