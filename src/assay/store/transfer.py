"""Sending a tree's objects from a source store to a destination, pipelined and resumable.

One algorithm for every direction: a :class:`Source` gives tree objects and bytes of objects
(this machine's store, or a remote one through its agent), a :class:`Sink` takes them (a
local store through :class:`assay.store.sync.LocalEndpoint`, or a remote agent). Trees are
one object per directory: the transfer asks the destination which tree objects it lacks a
level at a time, from the root down, and enters only those (a directory the destination
holds is not read, listed or sent); of the files those directories name, it asks which the
destination lacks. It sends those, then the lacking tree objects, deepest first. Last, the
destination walks the whole tree on its own disk (``missing_in_tree``: nothing of it crosses
the wire) and names anything still lacking (a subtree it held incompletely, after a repair),
which is sent too. Each object is sent in pieces from where an unfinished upload there stops,
the last piece saying "finish" (check and publish). Many pieces are in flight at once: a sink
over a pipe answers them in order while more are sent, so the transfer is not bound by the
round trip.

A piece refused because another upload of the same object moved on (``OffsetMismatch``) or
an object published meanwhile by another push ends that object's round; it is asked about
again afterwards, and sent on from where it then stands. Anything else stops the transfer;
sending again resumes it.
"""

from __future__ import annotations

from assay.store.agent import treeobj
from assay.store.objects import Corrupt
from assay.store.transfer_send import Sender, done
from assay.store.transfer_trees import tree_level, tree_objects
from assay.store.transfer_types import (
    PIECE,
    Appended,
    CorruptInTransit,
    Finish,
    Incomplete,
    ObjectId,
    OffsetMismatch,
    ProgressCallback,
    Sink,
    Source,
    TransferError,
    TransferProgress,
    TransferReport,
)
from assay.store.trees import file_objects

__all__ = [
    "PIECE",
    "Appended",
    "CorruptInTransit",
    "Finish",
    "Incomplete",
    "ObjectId",
    "OffsetMismatch",
    "ProgressCallback",
    "Sink",
    "Source",
    "Transfer",
    "TransferError",
    "TransferProgress",
    "TransferReport",
    "done",
    "tree_level",
    "tree_objects",
]


class Transfer(Sender):
    """One transfer of a tree from ``source`` to ``sink`` (see the module's docstring)."""

    async def send_tree(self, tree: str, complete: bool = True) -> TransferReport:
        """Send every object of ``tree`` the sink lacks (no version is recorded); without
        ``complete``, what the sink holds of subtrees it held before is taken on trust (a
        sink that ``checks_versions`` says when it is not: see :meth:`complete`)."""
        report = self.report = TransferReport(tree=tree)
        self._tell()
        trees, files = await self._lacking_trees(tree, ask=True)
        counted = {("trees", t) for t in trees} | set(files)
        report.objects_needed = len(counted) or 1
        report.bytes_needed = sum(self.sizes.get(o, 0) for o in counted)
        if not trees:  # the sink holds the root: its own walk below says what is lacking
            report.bytes_needed = report.bytes_skipped = self.sizes.get(("trees", tree), 0)
        if self.sink.walks_trees:  # the trees first: the sink reads them and says (few bytes)
            await self._send([("trees", t) for t in reversed(trees)])
            lacking = await self.sink.missing_below(trees) if trees else set()
        else:  # a bucket: ask about each file; a tree goes only after all it names
            lacking = await self.sink.missing(files) if files else set()
        report.bytes_skipped += sum(self.sizes[o] for o in files if o not in lacking)
        await self._send([o for o in files if o in lacking])
        if not self.sink.walks_trees:
            # Children before parents, a whole height at a time (a sink may have many uploads
            # in flight at once, and a subtree may be named at two depths): a tree object in
            # the bucket then always means all it reaches is there.
            heights = self._heights(trees)
            for height in sorted(set(heights.values())):
                await self._send([("trees", t) for t in trees if heights[t] == height])
        self._lacking_root = trees
        if complete:
            await self.complete(tree)
        return report

    async def complete(self, tree: str) -> None:
        """Send what the sink's own walk of ``tree`` finds lacking (after :meth:`send_tree`),
        until it finds nothing."""
        report, trees = self.report, self._lacking_root
        for _ in range(treeobj.MAX_DEPTH + 2):  # each round completes at least one level
            rest = await self.sink.missing_in_tree(tree)
            if not rest:
                return
            unknown = [o for o in rest if o not in self.sizes]
            if unknown:  # under a subtree the sink held: learn sizes from the whole tree
                every_tree, every_file = await self._lacking_trees(tree, ask=False)
                if not trees:  # the sink held the root (a resumed push): count it all
                    every = [("trees", t) for t in every_tree] + every_file
                    report.objects_needed = len(every)
                    report.bytes_needed = sum(self.sizes[o] for o in every)
                    report.bytes_skipped = report.bytes_needed - sum(
                        self.sizes.get(o, 0) for o in rest
                    )
                    report.objects_needed -= len(rest)
                    report.bytes_needed -= sum(self.sizes.get(o, 0) for o in rest)
            if any(o not in self.sizes for o in unknown):
                raise TransferError(
                    f"{self.sink.where} says tree {tree[:16]} needs objects it does not name "
                    f"({sorted(o for o in unknown if o not in self.sizes)[0]})"
                )
            report.objects_needed += len(rest)
            report.bytes_needed += sum(self.sizes[o] for o in rest)
            await self._send(sorted(rest, key=lambda o: o[0] == "trees"))
        raise TransferError(f"{self.sink.where} still lacks objects of tree {tree[:16]}")

    def _heights(self, trees: list[str]) -> dict[str, int]:
        """Of each tree, the longest path down to a tree below it that is not a parent."""
        heights: dict[str, int] = {}

        def height(tree: str) -> int:
            if tree not in heights:
                below = [height(c) for c in self._children.get(tree, ()) if c in wanted]
                heights[tree] = 1 + max(below) if below else 0
            return heights[tree]

        wanted = set(trees)
        for tree in trees:
            height(tree)
        return heights

    async def _lacking_trees(self, root: str, ask: bool) -> tuple[list[str], list[ObjectId]]:
        """The tree objects of ``root`` the sink lacks (``ask``; else all of them), a level at
        a time from the root (parents before children), and the objects of the files they
        name; their sizes and paths go into ``sizes`` and ``where``."""
        if ask and not await self.sink.missing([("trees", root)]):
            data = await self.source.tree_object(root)
            self.sizes[("trees", root)] = len(data)
            self.where[("trees", root)] = f"tree {root[:16]}"
            return [], []
        order: list[str] = []
        files: dict[ObjectId, None] = {}
        seen = {root}
        level = [(root, "")]
        entries = 0
        for _ in range(treeobj.MAX_DEPTH + 1):
            if not level:
                return order, list(files)
            below: list[tuple[str, str]] = []
            for digest, path in level:
                data = await self.source.tree_object(digest)
                self.sizes[("trees", digest)] = len(data)
                self.where[("trees", digest)] = f"directory {path or '.'} (tree {digest[:16]})"
                order.append(digest)
                for entry, subtree in tree_level(data, digest, path):
                    entries += 1
                    if entries > treeobj.MAX_ENTRIES:
                        raise Corrupt(
                            f"tree {root[:16]} has more than {treeobj.MAX_ENTRIES} entries"
                        )
                    if subtree is not None:
                        self._children.setdefault(digest, []).append(subtree)
                    if subtree is not None and subtree not in seen:
                        seen.add(subtree)
                        below.append((subtree, entry.path))
                    for kind, digest_, size in file_objects(entry):
                        self.sizes.setdefault((kind, digest_), size)
                        self.where.setdefault((kind, digest_), f"file {entry.path}")
                        files[(kind, digest_)] = None
            if ask and below:
                lacking = await self.sink.missing([("trees", d) for d, _ in below])
                below = [(d, p) for d, p in below if ("trees", d) in lacking]
            level = below
        raise Corrupt(f"tree {root[:16]} nests directories deeper than {treeobj.MAX_DEPTH}")
