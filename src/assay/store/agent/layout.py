"""The store on disk as :mod:`assay.store` lays it out, and the errors the agent reports.

Objects live at ``objects/KIND/XX/REST`` (``XX`` the first two hex digits of the BLAKE3 name),
read-only, with their modification time at the epoch; unfinished uploads at
``incoming/KIND-DIGEST``; version records at ``names/NAME/vN.json``; leases in ``leases/``.
The store lock is a ``flock`` on ``lock`` (shared for work, exclusive for repair), and
uploads of objects whose names share two hex digits serialise on ``incoming/.locks/XX``: the
same files the assay on that host would use, so both may work on one store at once.

Besides the layout of :mod:`assay.store`, the agent keeps ``sha256/XX``: one line
``KIND DIGEST SHA256`` for every object it published, the SHA-256 of the object's bytes it
checked on arrival. The standard library cannot compute BLAKE3, so this is what the agent's
``verify`` re-hashes against later.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Tuple

if TYPE_CHECKING:
    from collections.abc import Iterator

ObjectId = Tuple[str, str]  # (kind, digest); typing: this module runs on Python 3.7

KINDS = ("blobs", "xblobs", "chunks", "trees")
DIGEST = re.compile(r"[0-9a-f]{64}\Z")
SHA256 = DIGEST  # also 64 lowercase hex digits
EPOCH = 0
READ_ONLY, READ_EXEC = 0o444, 0o555
_FULL = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


class AgentError(Exception):
    """A request that failed for a reason the client is told (its ``kind`` names the client's
    exception type, ``extra`` adds fields to the error it is sent)."""

    kind = "StoreError"

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class Refused(AgentError):
    """A request the agent will not do as asked (a bad argument, an incomplete tree)."""

    kind = "TransferError"


class Incomplete(Refused):
    """A version was to be recorded for a tree that lacks objects here (send them first)."""

    kind = "Incomplete"


class OffsetMismatch(AgentError):
    kind = "OffsetMismatch"


class CorruptInTransit(AgentError):
    kind = "CorruptInTransit"


class Corrupt(AgentError):
    """A stored object no longer holds what it held when it was stored."""

    kind = "Corrupt"


def check_object(kind: object, digest: object) -> None:
    """Refuse an object id that is not a kind and a digest (it names a path)."""
    if kind not in KINDS:
        raise Refused("{!r} is not an object kind ({})".format(kind, ", ".join(KINDS)))
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise Refused(f"{digest!r} is not an object name (64 lowercase hex digits)")


def blob_kind(executable: bool) -> str:
    return "xblobs" if executable else "blobs"


def free_bytes(path: str) -> int:
    try:
        info = os.statvfs(path)
    except OSError:
        return -1
    return info.f_bavail * info.f_frsize


def describe(exc: OSError, root: str) -> AgentError:
    """An operating-system failure inside the store, as one message naming the store, the
    path, the cause and what to do."""
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    where = " -> ".join(names) or root
    cause = exc.strerror or str(exc)
    # (the store's own directory is named once: "the store at S: S: Permission denied" read
    # as a typo)
    message = (
        f"the store at {root}: {cause}"
        if where == root
        else f"the store at {root}: {where}: {cause}"
    )
    if exc.errno in _FULL:
        free = free_bytes(root)
        left = f" ({free:,} bytes free)" if free >= 0 else ""
        message = (
            f"the store at {root} is full{left}: {where}: {cause}; nothing half-written was "
            "kept: free space there (remove old versions) or use another store, then push "
            "again (it resumes)"
        )
        return AgentError(message, full=True)
    if exc.errno in _NOT_WRITABLE:
        message += "; use a store the remote account may write (ssh.store, or the path named)"
    return AgentError(message)


class Layout:
    """Paths of a store rooted at ``root`` (an absolute path)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.objects = os.path.join(root, "objects")
        self.incoming = os.path.join(root, "incoming")
        self.upload_locks = os.path.join(self.incoming, ".locks")
        self.tmp = os.path.join(root, "tmp")
        self.names = os.path.join(root, "names")
        self.sums = os.path.join(root, "sha256")
        self.assembled = os.path.join(root, "assembled")
        self.checkouts = os.path.join(root, "checkouts")
        self.leases = os.path.join(root, "leases")
        self.lock_file = os.path.join(root, "lock")
        self._lock_fds: dict[str, int] = {}
        self._sum_fds: dict[str, int] = {}
        # Stored directory objects decoded already (see trees.items): a push reads each
        # twice, to say which files it lacks and to check the version's tree is complete.
        self.decoded: dict[str, list[Any]] = {}  # digest: its treeobj.Item list
        self.decoded_items = 0

    def ensure(self) -> None:
        for kind in KINDS:
            os.makedirs(os.path.join(self.objects, kind), exist_ok=True)
        for folder in (self.upload_locks, self.tmp, self.names, self.sums, self.assembled):
            os.makedirs(folder, exist_ok=True)

    def path(self, kind: str, digest: str) -> str:
        return f"{self.objects}/{kind}/{digest[:2]}/{digest[2:]}"

    def has(self, kind: str, digest: str) -> bool:
        return os.path.exists(self.path(kind, digest))

    @contextlib.contextmanager
    def upload_lock(self, digest: str) -> Iterator[None]:
        """The exclusive lock of uploads of objects whose names start as ``digest`` does:
        ``incoming/.locks/XX``, one of 256 files that are never deleted (locking a file that
        a finish removes would let a waiter hold a lock on a dead inode). Its descriptor
        stays open (one open and close fewer per object); the agent's one thread uses it."""
        path = f"{self.upload_locks}/{digest[:2]}"
        fd = self._lock_fds.get(path)
        if fd is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._lock_fds[path] = fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the descriptors of lock and checksum files kept open."""
        fds = [*self._lock_fds.values(), *self._sum_fds.values()]
        self._lock_fds, self._sum_fds = {}, {}
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def partial(self, kind: str, digest: str) -> str:
        return f"{self.incoming}/{kind}-{digest}"

    def assembled_path(self, kind: str, digest: str) -> str:
        return f"{self.assembled}/{kind}/{digest[:2]}/{digest[2:]}"

    def digests(self, kind: str) -> Iterator[tuple[str, str]]:
        """(digest, path) of every stored object of a kind, in order."""
        base = os.path.join(self.objects, kind)
        if not os.path.isdir(base):
            return
        for sub in sorted(os.listdir(base)):
            folder = os.path.join(base, sub)
            if len(sub) == 2 and os.path.isdir(folder):
                for name in sorted(os.listdir(folder)):
                    yield sub + name, os.path.join(folder, name)

    # -- checksums of arrival ------------------------------------------------------------------

    def record_sum(self, kind: str, digest: str, sha256: str) -> None:
        """Note an object's SHA-256 (before it is published: a published object always has
        one; a line whose object was never published, or was collected, is ignored)."""
        line = f"{kind} {digest} {sha256}\n".encode("ascii")
        # The descriptor stays open (an open and a close fewer per object: the files are
        # only ever appended to, never replaced or removed).
        path = f"{self.sums}/{digest[:2]}"
        fd = self._sum_fds.get(path)
        if fd is None:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._sum_fds[path] = fd
        written = os.write(fd, line)
        if written != len(line):  # a full disk mid-line: take the torn line back
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.sums)

    def load_sums(self, prefix: str) -> dict[ObjectId, str]:
        """{(kind, digest): sha256} for the objects whose names start with ``prefix``."""
        sums: dict[ObjectId, str] = {}
        try:
            with open(os.path.join(self.sums, prefix), "rb") as fh:
                for raw in fh:
                    parts = raw.decode("ascii", "replace").split()
                    if len(parts) == 3 and parts[0] in KINDS and SHA256.match(parts[2]):
                        sums[(parts[0], parts[1])] = parts[2]
        except FileNotFoundError:
            pass
        return sums


# --- locks ------------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: str, exclusive: bool) -> Iterator[None]:
    """An advisory ``flock`` on ``path`` (created if need be)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class StoreLock:
    """The store's lock, held by this process: shared (re-entrant, for every thread) while
    it works, exclusive while it repairs. One descriptor, as assay.store.locking holds it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._fd = -1

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            if self._shared == 0:
                self._take(fcntl.LOCK_SH)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if self._shared == 0:
                    self._drop()
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._shared:
                self._cond.wait()
            self._take(fcntl.LOCK_EX)
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._drop()
                self._cond.notify_all()

    def _take(self, mode: int) -> None:
        # The descriptor stays open between uses (the lock file is never deleted): each
        # request takes and drops the lock, and the open and close cost as much as that.
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, mode)

    def _drop(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (after the last use)."""
        with self._cond:
            if self._fd >= 0 and not (self._shared or self._exclusive):
                os.close(self._fd)
                self._fd = -1


# --- files ------------------------------------------------------------------------------------


def write_durable(path: str, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the new one, never half, and it is
    on disk when this returns: every file written before on the same file system first (the
    objects a version record names), then the file, then its directory entry; a power cut
    leaves the old file or the new one with all it names. A failure leaves no temp file.
    Shared by assay's store and the agent for version records and tags."""
    import tempfile  # lazy: once per version record, not part of the agent's start

    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    sync_filesystem(folder)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def fsync_dir(folder: str) -> None:
    """Flush a directory's entries (a rename or a new name in it) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_filesystem(folder: str) -> None:
    """Flush every file written on the file system of ``folder`` (``syncfs``; ``sync``
    where the C library lacks it): one call, rather than one ``fsync`` per object."""
    try:
        import ctypes  # lazy: only writers of version records need it

        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, AttributeError, OSError):  # a Python without ctypes, or no syncfs
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


_TOKEN = os.urandom(6).hex()  # this process's temp names: unique across hosts and restarts
_SEQ = [0]


def new_temp(folder: str, prefix: str) -> tuple[int, str]:
    """A new file in ``folder`` (created exclusively, mode 0600): its descriptor and path.
    ``tempfile.mkstemp`` without its imports and its random name per file."""
    while True:
        _SEQ[0] += 1
        path = f"{folder}/{prefix}{_TOKEN}-{_SEQ[0]}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:  # a name taken already (nothing is ever overwritten): next
            continue


def seal(target: int | str, kind: str) -> None:
    """Make a file (a descriptor, or a path) what an object file is: read-only (and
    executable for ``xblobs``), its modification time at the epoch."""
    os.chmod(target, READ_EXEC if kind == "xblobs" else READ_ONLY)
    os.utime(target, ns=(EPOCH, EPOCH))


def publish(layout: Layout, path: str, kind: str, digest: str, sealed: bool = False) -> bool:
    """Make a finished, checked file the object ``kind/digest`` (it is consumed): read-only,
    mtime at the epoch (``sealed``: it is already), linked into place; False if the object
    was already there."""
    if not sealed:
        seal(path, kind)
    final = layout.path(kind, digest)
    try:
        try:
            os.link(path, final)  # atomic "create if absent": a concurrent writer may win
        except FileNotFoundError:  # the first object of its two-digit folder
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.link(path, final)
        created = True
    except FileExistsError:
        created = False
    except OSError:  # a full disk: the upload stays, writable again, to be finished later
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
        raise
    os.unlink(path)
    return created
