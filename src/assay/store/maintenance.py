"""Garbage collection and verification of a store (both run under the exclusive lock)."""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from assay.store.objects import KINDS, StoreError, blob_kind, hash_file
from assay.store.trees import load_tree

if TYPE_CHECKING:
    from assay.store import GcReport, Store, VerifyReport


def _reachable(store: Store, trees: set[str]) -> dict[str, set[str]]:
    """Every object the given trees reach, by kind."""
    live: dict[str, set[str]] = {kind: set() for kind in KINDS}
    live["trees"] |= trees
    for digest in trees:
        try:
            tree = load_tree(store.objects, digest)
        except StoreError:
            continue
        for entry in tree.entries:
            if entry.type != "file" or entry.hash is None:
                continue
            if entry.chunks is None:
                live[blob_kind(entry.executable)].add(entry.hash)
            else:
                live["chunks"].update(h for h, _ in entry.chunks)
                live["assembled-" + blob_kind(entry.executable)] = live.get(
                    "assembled-" + blob_kind(entry.executable), set()
                ) | {entry.hash}
    return live


def collect(store: Store, keep: int, dry_run: bool) -> GcReport:
    from assay.store import GcReport

    report = GcReport()
    kept_trees: set[str] = set()
    for name in store.refs.names():
        versions = store.refs.versions(name)
        tagged = set(store.refs.tags(name).values())
        keep_numbers = {v.version for v in versions[-keep:]} if keep > 0 else set()
        for version in versions:
            if version.version in keep_numbers or version.version in tagged:
                kept_trees.add(version.tree)
                if version.layers:
                    kept_trees.update(version.layers)
            else:
                report.versions.append(version)
    live = _reachable(store, kept_trees)
    for kind in KINDS:
        for digest in list(store.objects.iter_digests(kind)):
            if digest in live[kind]:
                continue
            path = store.objects.path(kind, digest)
            report.objects += 1
            report.bytes += path.stat().st_size
            if not dry_run:
                path.unlink()
    for kind in ("blobs", "xblobs"):
        folder = store.objects.assembled_root / kind
        if not folder.is_dir():
            continue
        for sub in folder.iterdir():
            for path in sub.iterdir():
                if sub.name + path.name not in live.get(f"assembled-{kind}", set()):
                    report.bytes += path.stat().st_size
                    if not dry_run:
                        path.unlink()
    checkouts = store.root / "checkouts"
    if checkouts.is_dir():
        for folder in checkouts.iterdir():
            if folder.name not in kept_trees:
                report.checkouts += 1
                if not dry_run:
                    shutil.rmtree(folder, ignore_errors=True)
    if not dry_run:
        for version in report.versions:
            store.refs.remove(version)
        for leftover in store.objects.tmp.iterdir():  # from interrupted puts
            leftover.unlink(missing_ok=True)
        _drop_abandoned_transfers(store)
    return report


ABANDONED_AFTER = 24 * 3600.0


def _drop_abandoned_transfers(store: Store) -> None:
    """Partial uploads untouched for a day belong to transfers that will not resume."""
    incoming = store.root / "incoming"
    if not incoming.is_dir():
        return
    cutoff = time.time() - ABANDONED_AFTER
    for partial in incoming.iterdir():
        if partial.is_file() and partial.stat().st_mtime < cutoff:
            partial.unlink(missing_ok=True)


def verify(store: Store, repair: bool) -> VerifyReport:
    from assay.store import VerifyReport

    report = VerifyReport()
    bad: set[str] = set()
    for kind in KINDS:
        for digest in store.objects.iter_digests(kind):
            path = store.objects.path(kind, digest)
            report.checked += 1
            info = path.stat()
            if hash_file(path) != digest or info.st_mtime_ns != 0:
                report.corrupt.append(f"{kind}/{digest}")
                bad.add(digest)
                if repair:
                    path.unlink()
    for name in store.refs.names():
        for version in store.refs.versions(name):
            try:
                tree = load_tree(store.objects, version.tree)
            except StoreError:
                report.missing.append(f"tree {version.tree}")
                report.damaged_versions.append(version.ref)
                continue
            for entry in tree.entries:
                if entry.type != "file" or entry.hash is None:
                    continue
                needed = (
                    [(blob_kind(entry.executable), entry.hash)]
                    if entry.chunks is None
                    else [("chunks", h) for h, _ in entry.chunks]
                )
                broken = [d for k, d in needed if d in bad or not store.objects.has(k, d)]
                if broken:
                    report.damaged_versions.append(f"{version.ref} ({entry.path})")
                    break
    return report
