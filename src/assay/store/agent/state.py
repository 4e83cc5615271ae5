"""The store one agent serves: its layout, lock, lease and version records."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .trees import Entry

from .layout import AgentError, Layout, ObjectId, StoreLock, describe
from .leases import Lease, object_pin, tree_pin
from .refs import Refs
from .trees import lacking, load
from .trees import objects as tree_objects

_TREES_KEPT = 4  # parsed trees kept (a push reads its tree twice: what lacks, then complete?)


class AgentStore:
    """The store at ``root`` (an absolute path), with a lease this agent holds on it."""

    def __init__(self, root: str, purpose: str, create: bool) -> None:
        self.root = root
        self.layout = Layout(root)
        if not create and not os.path.isdir(self.layout.objects):
            raise AgentError(
                f"there is no store at {root} on this host; push something there first"
            )
        try:
            self.layout.ensure()
            self.lock = StoreLock(self.layout.lock_file)
            self.lease = Lease(self.layout.leases, purpose, self.lock)
        except OSError as exc:
            raise describe(exc, root) from None
        self.refs = Refs(self.layout)
        # Objects reachable from trees this lease pins: pinned already, as long as the tree is.
        self.covered: set[ObjectId] = set()
        self._entries: dict[str, list[Entry]] = {}
        # What each tree lacked when this agent looked (all else it names was there, and is
        # pinned since): whether it is complete now is a question about those objects only.
        self._lacked: dict[str, list[ObjectId]] = {}

    def pin_objects(self, ids: Iterable[ObjectId]) -> None:
        """Pin objects (caller holds the store lock shared); those under a pinned tree are."""
        self.lease.pin([object_pin(k, d) for k, d in ids if (k, d) not in self.covered])

    def pin_trees(self, trees: Iterable[str], reached: Iterable[ObjectId] = ()) -> None:
        """Pin stored trees and with them ``reached``, the objects they name."""
        self.lease.pin([tree_pin(t) for t in trees])
        self.covered.update(reached)

    def entries(self, tree: str) -> list[Entry]:
        """The parsed entries of the stored tree ``tree`` (parsed once per agent)."""
        found = self._entries.get(tree)
        if found is None:
            found = load(self.layout, tree)
            if len(self._entries) >= _TREES_KEPT:
                del self._entries[next(iter(self._entries))]
            self._entries[tree] = found
        return found

    def lacking_in_tree(self, tree: str) -> list[str]:
        """The objects the stored tree ``tree`` needs that are not here ("kind/digest"); the
        tree is pinned, and with it all it names (caller holds the store lock shared)."""
        entries = self.entries(tree)
        reached = tree_objects(tree, entries)
        self.pin_trees([tree], reached)
        missing = lacking(self.layout, tree, entries)
        self._lacked[tree] = [(k, d) for k, d in (item.split("/") for item in missing)]
        return missing

    def still_lacking(self, tree: str) -> list[str]:
        """What the stored tree ``tree`` lacks now. After :meth:`lacking_in_tree` only what it
        lacked then is looked at again: the rest was here and this agent's lease pins it
        (a push records its version without a second pass over every object)."""
        lacked = self._lacked.get(tree)
        if lacked is None:
            return lacking(self.layout, tree, self.entries(tree))
        if not self.layout.has("trees", tree):
            return [f"trees/{tree}"]
        has = self.layout.has
        return [f"{k}/{d}" for k, d in lacked if not has(k, d)]

    def close(self) -> None:
        try:
            self.lease.release()
        finally:
            self.lock.close()
            self.layout.close()
