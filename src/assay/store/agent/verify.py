"""``verify``: re-hash every object the agent has a SHA-256 for, check every version and
checkout, as :mod:`assay.store.verify` does with BLAKE3.

An object published by the agent has the SHA-256 it was checked against on arrival
(``sha256/``); one put there by assay itself has none, and is checked for its modification
time only (``unchecked`` counts them): the standard library cannot compute BLAKE3. With
``repair`` (under the exclusive lock), damaged objects and checkouts are removed, so that the
next push sends them again.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .layout import Layout, ObjectId
    from .state import AgentStore

from .layout import EPOCH, KINDS, AgentError
from .stage import PARTIAL, TRASH, drop, problems
from .trees import load as load_tree
from .treewrite import remove_path

_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
_BUF = 1 << 20


def _sha256(path: str) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            data = fh.read(_BUF)
            if not data:
                return hasher.hexdigest()
            hasher.update(data)


def verify(store: AgentStore, repair: bool) -> dict[str, Any]:
    lock = store.lock.exclusive() if repair else store.lock.shared()
    with lock:
        return _verify(store, repair)


def _verify(store: AgentStore, repair: bool) -> dict[str, Any]:
    layout = store.layout
    report: dict[str, Any] = {
        "checked": 0,
        "unchecked": 0,
        "corrupt": [],
        "missing": [],
        "versions": {},
        "records": [],
        "checkouts": {},
        "checked_checkouts": 0,
    }
    bad_ids: set[ObjectId] = set()
    bad_files: list[str] = []
    sums: dict[ObjectId, str] = {}
    loaded: set[str] = set()
    for kind in KINDS:
        for digest, path in layout.digests(kind):
            if digest[:2] not in loaded:
                sums.update(layout.load_sums(digest[:2]))
                loaded.add(digest[:2])
            report["checked"] += 1
            expected = sums.get((kind, digest))
            try:
                damaged = os.stat(path).st_mtime_ns != EPOCH or (
                    expected is not None and _sha256(path) != expected
                )
            except FileNotFoundError:
                continue
            except OSError:
                damaged = True
            if expected is None:
                report["unchecked"] += 1
            if damaged:
                bad_ids.add((kind, digest))
                bad_files.append(path)
                report["corrupt"].append(f"{kind}/{digest}")
    _versions(store, bad_ids, report)
    damaged_checkouts = _checkouts(store, report)
    if repair:
        for path in bad_files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        for folder in damaged_checkouts:
            drop(folder)
        if os.path.isdir(layout.checkouts):
            for name in os.listdir(layout.checkouts):
                if PARTIAL in name or name.startswith(TRASH):
                    remove_path(os.path.join(layout.checkouts, name))
    return report


def _versions(store: AgentStore, bad: set[ObjectId], report: dict[str, Any]) -> None:
    layout = store.layout
    missing: dict[str, None] = {}
    by_tree: dict[str, list[str]] = {}
    for name in store.refs.names():
        versions, problems_ = store.refs.scan(name)
        report["records"].extend(problems_)
        try:
            store.refs.tags(name)
        except AgentError as exc:
            report["records"].append(exc.message)
        for version in versions:
            tree = version["tree"]
            if tree not in by_tree:
                by_tree[tree] = _tree_damage(layout, tree, bad, missing)
            if by_tree[tree]:
                report["versions"]["{}@{}".format(name, version["version"])] = by_tree[tree]
    report["missing"] = list(missing)


def _tree_damage(
    layout: Layout, tree: str, bad: set[ObjectId], missing: dict[str, None]
) -> list[str]:
    if ("trees", tree) in bad:
        return [f"(tree {tree[:16]} is damaged: every file)"]
    if not layout.has("trees", tree):
        missing["trees/" + tree] = None
        return [f"(tree {tree[:16]} is missing: every file)"]
    try:
        entries = load_tree(layout, tree)
    except AgentError as exc:
        return [f"({exc.message})"]
    paths = []
    for entry in entries:
        broken = False
        for kind, digest in entry.objects():
            if (kind, digest) in bad:
                broken = True
            elif not layout.has(kind, digest):
                missing[f"{kind}/{digest}"] = None
                broken = True
        if broken:
            paths.append(entry.path)
    return paths


def _checkouts(store: AgentStore, report: dict[str, Any]) -> list[str]:
    folder = store.layout.checkouts
    if not os.path.isdir(folder):
        return []
    damaged = []
    for name in sorted(os.listdir(folder)):
        if PARTIAL in name or name.startswith(TRASH) or not _DIGEST.match(name):
            continue
        report["checked_checkouts"] += 1
        path = os.path.join(folder, name)
        try:
            found = problems(store.layout, load_tree(store.layout, name), path)
        except AgentError as exc:
            found = ["its tree cannot be used: " + exc.message]
        except OSError as exc:
            found = [f"cannot be read: {exc.filename}: {exc.strerror}"]
        if found and os.path.isdir(path):
            report["checkouts"][name] = found
            damaged.append(path)
    return damaged
