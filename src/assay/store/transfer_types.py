"""What a transfer between stores is made of: its errors, the two ends it connects (a
:class:`Source` and a :class:`Sink`), what a piece and its answer say, and what a transfer
reports. The sending algorithm itself is :mod:`assay.store.transfer`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from assay.store.objects import StoreError

ObjectId = tuple[str, str]  # (kind, digest)
PIECE = 8 * 2**20  # bytes per piece: every blob (< 8 MiB) and chunk (<= 4 MiB) fits in one


class TransferError(StoreError):
    """A transfer between stores failed; sending again resumes it."""


class OffsetMismatch(TransferError):
    """A piece was sent for an offset other than the unfinished upload's size."""

    def __init__(self, message: str, held: int) -> None:
        super().__init__(message)
        self.held = held


class Incomplete(TransferError):
    """The destination refused to record a version: the tree lacks objects there."""


class CorruptInTransit(TransferError):
    """What arrived does not hash to what was sent; it was discarded, not published."""

    object: ObjectId | None = None  # which one, when the destination names it (a batch)


@dataclass(frozen=True)
class Finish:
    """Finish the object with this piece: its whole size and, for sinks that check it, the
    SHA-256 of its bytes."""

    size: int
    sha256: str | None


@dataclass(frozen=True)
class Appended:
    """What the destination did with a piece."""

    held: int  # bytes of the object it holds now
    published: bool = False  # it published the object with this piece
    present: bool = False  # the object was there already: nothing was written


class Source(Protocol):
    """Where objects come from."""

    where: str  # "the store at /x", "assay-ci:/home/u/store": for messages

    async def tree_object(self, digest: str) -> bytes:
        """The bytes of one tree object (its hash checked)."""
        ...

    def fetch(self, obj: ObjectId, offset: int, size: int) -> Awaitable[bytes]:
        """Bytes ``[offset, offset + size)`` of an object (requested now, awaited later)."""
        ...

    async def sound(self, obj: ObjectId) -> bool:
        """Whether the source's own copy of an object is intact (who is to blame)."""
        ...


class Sink(Protocol):
    """Where objects go."""

    where: str
    needs_sha256: bool  # whether finishing an object takes the SHA-256 of its bytes
    # Whether a whole object sent as one piece at offset 0 is taken whatever an unfinished
    # upload of it there holds (then nobody asks about unfinished uploads of small objects).
    takes_whole: bool
    # whether it reads the tree objects it holds (a store, an agent; not a bucket): then
    # tree objects go first and it says which files they name it lacks (``missing_below``)
    walks_trees: bool
    # whether recording a version walks the tree there and refuses it with ``Incomplete`` if
    # anything is lacking: then the sender records without asking ``missing_in_tree`` first
    # (one walk of the whole tree there instead of two) and asks only if refused
    checks_versions: bool

    async def missing(self, objects: list[ObjectId]) -> set[ObjectId]: ...

    async def missing_in_tree(self, tree: str) -> set[ObjectId]:
        """The objects of a tree the destination holds that it lacks (found by walking the
        tree on its own disk; a tree object it lacks is named too, and not entered)."""
        ...

    async def missing_below(self, trees: list[str]) -> set[ObjectId]:
        """Of the objects the stored tree objects ``trees`` name directly, those it lacks."""
        ...

    async def partials(self, objects: list[ObjectId]) -> dict[ObjectId, int]:
        """Bytes held of each object's unfinished upload."""
        ...

    async def append(
        self, obj: ObjectId, offset: int, data: bytes, finish: Finish | None
    ) -> asyncio.Future[Appended]:
        """Send a piece (waiting only for room in the window); the future says what came of
        it, or raises (``OffsetMismatch``, ``CorruptInTransit``, a lost connection ...)."""
        ...

    async def add_version(self, record: dict[str, object]) -> dict[str, object]: ...


class BatchSink(Sink, Protocol):
    """A sink that also takes many small whole objects in one request (``append_many``):
    per object, one request and one answer fewer on both sides."""

    async def append_many(
        self, objects: list[tuple[ObjectId, Finish]], payload: bytes | bytearray
    ) -> asyncio.Future[list[Appended]]:
        """Send whole objects (``payload`` holds their bytes one after another, in order);
        the future says what came of each, or raises (naming the object that failed)."""
        ...


@dataclass
class TransferProgress:
    """How far a transfer is, for a progress display (called on every acknowledged piece)."""

    phase: Literal["checking", "sending", "recording", "done"]
    bytes_total: int = 0  # bytes this transfer sends (what the destination lacked, not held)
    bytes_done: int = 0  # of those, acknowledged by the destination
    objects_total: int = 0
    objects_done: int = 0


ProgressCallback = Callable[[TransferProgress], None]


@dataclass
class TransferReport:
    """What a transfer needed, sent, and found already there."""

    tree: str
    objects_needed: int = 0
    objects_sent: int = 0  # objects this transfer finished (published, or found published)
    bytes_needed: int = 0
    bytes_sent: int = 0  # every piece sent, including any refused (a concurrent push)
    bytes_skipped: int = 0  # objects the destination had (or another push completed)
    bytes_resumed: int = 0  # parts of unfinished uploads it already held
    version: str | None = None  # the destination's reference, e.g. "solver@4"
    version_created: bool = False
