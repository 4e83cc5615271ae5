"""``assay store why OBJECT|NAME@V``: which recorded sessions, and which of their cases, used
a store version, or the versions that hold an object.

A version is matched by its tree (its content): a case that recorded the same ``name@N``
with another tree used another build (made in another store, say) and is listed apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay import terminal
from assay.errors import UsageError
from assay.results.report import iso

if TYPE_CHECKING:
    from assay.results.db import ResultsDB
    from assay.results.db.types import ArtifactUseRow
    from assay.store import Store

# An object is named by its hash or a unique start of it (at least this many hex digits).
MIN_PREFIX = 8
_HEX = re.compile(r"[0-9a-f]+")


@dataclass
class Target:
    """What was asked about, resolved in the store."""

    label: str  # "solver@3", or "object 1a2b3c4d..."
    versions: list[tuple[str, str]] = field(default_factory=list)  # (name@N, tree)
    trees: list[str] = field(default_factory=list)  # trees a case may have used
    obj: str | None = None  # the object's full hash, when an object was asked about


def resolve(store: Store, db: ResultsDB, text: str) -> Target:
    """``text`` as a version (NAME, NAME@N, NAME#tag, tree:HASH) or an object hash; a clear
    error for an unknown name or version and for an object no version holds."""
    text = text.strip()
    if not text:
        raise UsageError("store why: give an object hash or NAME@VERSION")
    lowered = text.lower()
    is_ref = any(c in text for c in "@#") or text.startswith("tree:")
    if not is_ref and text not in store.refs.names() and _HEX.fullmatch(lowered):
        if len(lowered) < MIN_PREFIX:
            raise UsageError(
                f"store why: {text!r} is too short to name an object (give at least "
                f"{MIN_PREFIX} hex digits of its hash)"
            )
        return _object(store, db, lowered)
    version = store.resolve(text)  # unknown names and versions: the store's own message
    return Target(version.ref, [(version.ref, version.tree)], [version.tree])


def _object(store: Store, db: ResultsDB, prefix: str) -> Target:
    """The versions whose trees hold the object ``prefix`` names (a tree object, a blob or
    a chunk, anywhere in them)."""
    from assay.store.trees import stored_objects

    holders: list[tuple[str, str]] = []
    matched: set[str] = set()
    for name in store.refs.names():
        for version in store.refs.versions(name):
            found = {
                d
                for _, d in stored_objects(store.objects, version.tree)
                if d[: len(prefix)] == prefix
            }
            if found:
                holders.append((version.ref, version.tree))
                matched |= found
    recorded = db.recorded_trees(prefix)  # trees cases used that no name holds (dep: layers)
    matched |= set(recorded)
    if len(matched) > 1:
        shown = ", ".join(sorted(d[:16] for d in matched))
        raise UsageError(
            f"store why: {prefix!r} starts several objects' hashes ({shown})",
            hint="give more digits of the hash",
        )
    if not matched:
        raise UsageError(
            f"store why: no version in the store {store.root} holds an object {prefix!r}, and "
            f"no recorded case used a tree of that hash (results database {db.where})",
            hint="`assay store ls` lists the versions; `assay store show NAME@N --files` "
            "their files (an object `assay store gc` removed is no longer known)",
        )
    (digest,) = matched
    trees = sorted({tree for _, tree in holders} | ({digest} if digest in recorded else set()))
    return Target(f"object {digest}", holders, trees, digest)


@dataclass
class Found:
    """The cases that used a target, by session, and those that recorded one of its names
    with another tree."""

    uses: list[ArtifactUseRow]
    other: list[ArtifactUseRow]


def find(db: ResultsDB, target: Target) -> Found:
    rows = db.artifact_uses([ref for ref, _ in target.versions], target.trees)
    wanted = set(target.trees)
    return Found([r for r in rows if r.tree in wanted], [r for r in rows if r.tree not in wanted])


def to_dict(target: Target, found: Found, where: str) -> dict[str, Any]:
    return {
        "target": target.label,
        "object": target.obj,
        "versions": [{"ref": ref, "tree": tree} for ref, tree in target.versions],
        "database": where,
        "sessions": _sessions(found.uses),
        "other_trees": _sessions(found.other),
    }


def _sessions(rows: list[ArtifactUseRow]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(
            r.session,
            {
                "id": r.session,
                "started": iso(r.started),
                "git_commit": r.git_commit,
                "complete": r.complete,
                "cases": [],
            },
        )
        entry["cases"].append(
            {
                "id": r.case_id,
                "name": r.name,
                "repeat": r.rep,
                "status": r.status,
                "artifact": r.artifact,
                "layer": r.layer,
                "ref": r.ref,
                "tree": r.tree,
            }
        )
    return list(out.values())


def format_text(target: Target, found: Found, where: str) -> str:
    lines = []
    if target.obj is not None:
        held = ", ".join(ref for ref, _ in target.versions) or "no version (a tree cases used)"
        lines.append(f"{target.label} is in: {held}")
    else:
        ((ref, tree),) = target.versions
        lines.append(f"{ref} (tree {tree[:16]})")
    sessions = _sessions(found.uses)
    if not sessions:
        lines.append(f"no recorded session used it (results database {where})")
    else:
        cases = sum(len(s["cases"]) for s in sessions)
        lines.append(
            f"used by {cases} case(s) in {len(sessions)} session(s) (results database {where}):"
        )
        lines += _session_lines(sessions)
    other = _sessions(found.other)
    if other:
        lines.append(
            "recorded under the same name with another tree (another store's build of that "
            "name, not this one):"
        )
        lines += _session_lines(other)
    # Names come from test code and from a (maybe shared) database: shown, never obeyed.
    return "\n".join(terminal.line(text) for text in lines)


def _session_lines(sessions: list[dict[str, Any]]) -> list[str]:
    lines = []
    for s in sessions:
        commit = f"  commit {s['git_commit'][:12]}" if s["git_commit"] else ""
        running = "" if s["complete"] else "  (incomplete)"
        lines.append(f"  {s['id']}  {s['started'] or '?'}{commit}{running}")
        for c in s["cases"]:
            rep = f" (repetition {c['repeat']})" if c["repeat"] > 1 else ""
            lines.append(
                f"    {c['status'] or '?':8} {c['name'] or c['id']}{rep}  [{c['id']}]  "
                f"{c['artifact']} layer {c['layer']}: {c['ref'] or 'no name'} "
                f"(tree {c['tree'][:16]})"
            )
    return lines


def run(
    store: Store,
    text: str,
    as_json: bool,
    config: str | None,
    system: str | None,
    prefix: str | None,
) -> int:
    """``assay store why``."""
    from assay.results.history import open_results

    with open_results(config, system, prefix) as db:
        target = resolve(store, db, text)
        found = find(db, target)
        where = db.where
    if as_json:
        print(json.dumps(to_dict(target, found, where), indent=2))
    else:
        print(format_text(target, found, where))
    return 0
