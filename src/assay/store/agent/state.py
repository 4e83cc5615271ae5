"""The store one agent serves: its layout, lock, lease and version records."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


from .flush import Flusher
from .layout import AgentError, Layout, ObjectId, StoreLock, describe
from .leases import Lease, object_pin, tree_pin
from .refs import Refs


class AgentStore:
    """The store at ``root`` (an absolute path), with a lease this agent holds on it."""

    def __init__(self, root: str, purpose: str, create: bool) -> None:
        self.root = root
        self.layout = Layout(root)
        self.flusher = Flusher(root)
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

    def pin_objects(self, ids: Iterable[ObjectId]) -> None:
        """Pin objects (caller holds the store lock shared); those under a pinned tree are."""
        self.lease.pin([object_pin(k, d) for k, d in ids if (k, d) not in self.covered])

    def pin_trees(self, trees: Iterable[str], reached: Iterable[ObjectId] = ()) -> None:
        """Pin stored trees and with them ``reached``, the objects they name."""
        self.lease.pin([tree_pin(t) for t in trees])
        self.covered.update(reached)

    def close(self) -> None:
        try:
            self.lease.release()
        finally:
            self.lock.close()
            self.layout.close()
