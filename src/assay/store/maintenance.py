"""Garbage collection (under the exclusive lock).

gc keeps the newest ``keep`` versions of every name, every tagged version, and everything a
live lease pins; it removes every other version, then every object, assembled file and
checkout that nothing kept reaches. It refuses to remove anything while it cannot tell what
a kept version or a lease uses (an unreadable record, tag file, lease or tree): a damaged
store is repaired first (``assay store verify --repair``), never collected blind.

Objects set aside as damaged (``quarantine/``: a test wrote through its read-only link) are
kept ``QUARANTINE_KEPT`` (a week) for whoever looks into the failure, then gc removes them.

The order makes an interrupted gc harmless: version records go first (the decision), then
the objects only they used; a checkout is renamed aside before it is deleted.
"""

from __future__ import annotations

import shutil
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assay.store import checkouts
from assay.store.leases import read_pins
from assay.store.names import Version
from assay.store.objects import KINDS, StoreError, blob_kind
from assay.store.trees import walk_stored

if TYPE_CHECKING:
    from assay.store.store import Store

ABANDONED_AFTER = 24 * 3600.0
QUARANTINE_KEPT = 7 * 24 * 3600.0  # from the moment an object was set aside


@dataclass
class GcReport:
    """What ``gc`` removed (or, with ``dry_run``, would remove) and what leases kept."""

    versions: list[Version] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    checkouts: int = 0
    leases: int = 0  # live leases honoured
    leased_trees: int = 0  # trees kept only because a live lease pins them
    expired_leases: int = 0  # leases whose process is gone, removed
    quarantined: int = 0  # damaged objects set aside more than QUARANTINE_KEPT ago


def _reachable(store: Store, trees: set[str], why: dict[str, str]) -> dict[str, set[str]]:
    """Every object the given trees reach, by kind (assembled files as ``assembled-KIND``)."""
    live: dict[str, set[str]] = {kind: set() for kind in (*KINDS, "assembled-blobs")}
    live["assembled-xblobs"] = set()
    live["trees"] |= trees
    seen: set[str] = set()  # tree objects entered: a subtree many versions share, once
    for digest in sorted(trees):
        if digest in seen or not store.objects.has("trees", digest):
            continue  # already walked, or already lost: it names nothing gc could keep
        try:
            # re-hashed object by object: a damaged tree names the wrong objects
            for entry, _ in walk_stored(store.objects, digest, seen):
                if entry.type != "file" or entry.hash is None:
                    continue
                kind = blob_kind(entry.executable)
                if entry.chunks is None:
                    live[kind].add(entry.hash)
                else:
                    live["chunks"].update(h for h, _ in entry.chunks)
                    live["assembled-" + kind].add(entry.hash)
        except StoreError as exc:
            raise StoreError(
                f"gc removed nothing: it cannot tell which objects {why[digest]} uses: {exc}"
            ) from None
    live["trees"] |= seen
    return live


def collect(store: Store, keep: int, dry_run: bool) -> GcReport:
    report = GcReport()
    pins = read_pins(store.root)
    kept: set[str] = set()
    why: dict[str, str] = {}
    for name in store.refs.names():
        versions, problems = store.refs.scan(name)
        if problems:
            raise StoreError(f"gc removed nothing: {problems[0]}")
        tagged = set(store.refs.tags(name).values())
        newest = {v.version for v in versions[-keep:]} if keep > 0 else set()
        for version in versions:
            if version.version in newest or version.version in tagged:
                for tree in [version.tree, *(version.layers or [])]:
                    kept.add(tree)
                    why.setdefault(tree, version.ref)
            else:
                report.versions.append(version)
    leased = pins.trees - kept
    for tree in leased:
        why[tree] = f"the tree {tree[:16]} a running session uses"
    live = _reachable(store, kept | leased, why)
    for kind, digest in pins.objects:
        if kind in KINDS:
            live[kind].add(digest)
    report.leases, report.leased_trees = pins.live, len(leased)
    report.expired_leases = len(pins.expired)
    if not dry_run:
        for version in report.versions:  # the decision first: a killed gc leaves garbage only
            store.refs.remove(version)
    for kind in KINDS:
        for digest in list(store.objects.iter_digests(kind)):
            if digest in live[kind]:
                continue
            path = store.objects.path(kind, digest)
            report.objects += 1
            report.bytes += path.stat().st_size
            if not dry_run:
                path.unlink()
    _collect_assembled(store, live, report, dry_run)
    _collect_checkouts(store, kept | pins.trees, report, dry_run)
    _collect_quarantine(store, report, dry_run)
    if not dry_run:
        for leftover in store.objects.tmp.iterdir():  # from interrupted puts
            leftover.unlink(missing_ok=True)
        _drop_abandoned_transfers(store, pins.objects)
        for lease in pins.expired:
            lease.unlink(missing_ok=True)
    return report


def _collect_assembled(
    store: Store, live: dict[str, set[str]], report: GcReport, dry_run: bool
) -> None:
    for kind in ("blobs", "xblobs"):
        folder = store.objects.assembled_root / kind
        if not folder.is_dir():
            continue
        for sub in folder.iterdir():
            for path in sub.iterdir():
                if sub.name + path.name not in live[f"assembled-{kind}"]:
                    report.bytes += path.stat().st_size
                    if not dry_run:
                        path.unlink()


def _collect_checkouts(store: Store, used: set[str], report: GcReport, dry_run: bool) -> None:
    folder = store.root / "checkouts"
    if not folder.is_dir():
        return
    for checkout in folder.iterdir():
        if checkouts.is_leftover(checkout.name):  # no one builds or drops under our lock
            if not dry_run:
                shutil.rmtree(checkout, ignore_errors=True)
        elif checkout.name not in used:
            report.checkouts += 1
            if not dry_run:
                checkouts.drop(checkout)


def _collect_quarantine(store: Store, report: GcReport, dry_run: bool) -> None:
    folder = store.root / "quarantine"
    if not folder.is_dir():
        return
    cutoff = time.time() - QUARANTINE_KEPT
    for aside in folder.iterdir():
        try:
            info = aside.lstat()
        except FileNotFoundError:
            continue
        if info.st_mtime >= cutoff or stat.S_ISDIR(info.st_mode):
            continue  # recent, or not something quarantine() put there
        report.quarantined += 1
        report.bytes += info.st_size
        if not dry_run:
            aside.unlink(missing_ok=True)


def _drop_abandoned_transfers(store: Store, pinned: set[tuple[str, str]]) -> None:
    """Partial uploads untouched for a day belong to transfers that will not resume (unless
    a live transfer's lease names their object)."""
    incoming = store.root / "incoming"
    if not incoming.is_dir():
        return
    cutoff = time.time() - ABANDONED_AFTER
    for partial in incoming.iterdir():
        kind, _, digest = partial.name.partition("-")
        if (kind, digest) in pinned:
            continue
        if partial.is_file() and partial.stat().st_mtime < cutoff:
            partial.unlink(missing_ok=True)
