"""Content-addressed objects: blobs (whole files), chunks (pieces of large files), trees.

Every object is stored once, under the BLAKE3 hash of its content, written atomically
(a temporary file linked into place, so two writers of the same object never clash) and
made read-only with its modification time set to the epoch: a file changed through a
hard link (possible for root, who ignores permissions) shows a new mtime and is caught
before it is used again.

A hard link shares its inode's mode, so executable files are stored apart (``xblobs``,
mode 0555) from the others (``blobs``, 0444): the same content in both is rare.

Files of ``CHUNK_THRESHOLD`` bytes or more are split into content-defined chunks
(FastCDC), so a new version of a 2 GiB file that changed in one region stores only the
chunks around that region. Staging such a file hard-links a copy assembled once, on
first use, in ``assembled/`` (a cache that garbage collection may drop).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import blake3

from assay.errors import StoreError as StoreError  # (re-exported: its home before)

if TYPE_CHECKING:
    from assay.archives import Readable

CHUNK_THRESHOLD = 8 * 2**20
CHUNK_MIN, CHUNK_AVG, CHUNK_MAX = 256 * 2**10, 1 * 2**20, 4 * 2**20
_BUF = 1 << 20
_WINDOW = 8 * 2**20  # bytes chunked at a time (twice CHUNK_MAX)
READ_ONLY = 0o444
READ_EXEC = 0o555
EPOCH = 0  # mtime of every stored object
VERIFY_SAMPLE = 64  # one object in this many is re-hashed on first use
KINDS = ("blobs", "xblobs", "chunks", "trees")


def blob_kind(executable: bool) -> str:
    return "xblobs" if executable else "blobs"


class Corrupt(StoreError):
    """An object's content no longer matches its hash."""


def changed_while_read(path: Path | str) -> StoreError:
    """A file written to (or replaced) while it was read: what was read may mix old and new
    content, or be another file's."""
    return StoreError(f"{path} changed while it was being read; try again once nothing writes it")


def open_same(path: Path | str, same_as: os.stat_result | None, follow: bool = True) -> BinaryIO:
    """``path`` opened for reading; with ``same_as``, only if it is still that file (device
    and inode): a path that now leads elsewhere is :func:`changed_while_read`."""
    flags = os.O_RDONLY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    if same_as is not None:
        # It was looked at as a regular file: a FIFO put in its place since must not make
        # the open wait for a writer (forever); opened at once, the check below refuses it.
        flags |= os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:  # a link now stands where the file was
            raise changed_while_read(path) from None
        raise
    fh = os.fdopen(fd, "rb")
    if same_as is not None:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (same_as.st_dev, same_as.st_ino):
            fh.close()
            raise changed_while_read(path)
    return fh


def hash_bytes(data: bytes | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def hash_open(fh: BinaryIO) -> str:
    """:func:`hash_file` of a file already open (from its start; left at its start)."""
    fd = fh.fileno()
    fh.seek(0)
    if os.fstat(fd).st_size >= _BUF:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
            hasher.update(mapped)
    else:
        hasher = blake3.blake3(fh.read())
    fh.seek(0)
    return hasher.hexdigest()


def hash_file(path: Path) -> str:
    """The BLAKE3 hash of a file's content: memory-mapped and multi-threaded when big."""
    if path.stat().st_size >= _BUF:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(path)
        return hasher.hexdigest()
    with open(path, "rb") as fh:
        return blake3.blake3(fh.read()).hexdigest()


def _link_new(tmp: Path, final: Path) -> bool:
    """Link ``tmp`` as ``final``: atomic "create if absent" (a concurrent writer may win);
    False if ``final`` existed."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        return False
    return True


@dataclass(frozen=True)
class Chunk:
    """One stored chunk of a large file: its hash and size."""

    hash: str
    size: int


class ObjectStore:
    """The object half of a store: blobs, chunks and trees under ``root/objects``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self._objects_str = str(self.objects)
        self._untouched: set[str] = set()  # objects already checked by this process
        import random  # lazy: a run without a store starts without it

        self._sample = random.randrange(VERIFY_SAMPLE)  # noqa: S311 - a sample, not a secret
        self.tmp = root / "tmp"
        self.assembled_root = root / "assembled"
        self._ensured = False

    def ensure(self) -> None:
        """Make the store's folders, once per object store: every operation calls this, and
        a suite case makes several (six ``mkdir`` that fail with EEXIST each time). If a
        folder is removed later, ``_tmp_file`` makes them again."""
        if self._ensured:
            return
        self._make_folders()
        self._ensured = True

    def _make_folders(self) -> None:
        for kind in KINDS:
            (self.objects / kind).mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.assembled_root.mkdir(parents=True, exist_ok=True)

    # -- paths and presence ------------------------------------------------------------------

    def path(self, kind: str, digest: str) -> Path:
        return self.objects / kind / digest[:2] / digest[2:]

    def has(self, kind: str, digest: str) -> bool:
        return self.path(kind, digest).exists()

    def iter_digests(self, kind: str) -> Iterator[str]:
        base = self.objects / kind
        if not base.is_dir():
            return
        for sub in base.iterdir():
            if len(sub.name) == 2 and sub.is_dir():
                for entry in sub.iterdir():
                    yield sub.name + entry.name

    # -- writing -----------------------------------------------------------------------------

    def _publish(self, tmp: Path, kind: str, digest: str) -> bool:
        """Move a finished temporary file into place; False if the object already existed."""
        os.chmod(tmp, READ_EXEC if kind == "xblobs" else READ_ONLY)
        os.utime(tmp, ns=(EPOCH, EPOCH))
        final = self.path(kind, digest)
        try:
            created = _link_new(tmp, final)
        except FileNotFoundError:  # its folder is made only then (not per object)
            final.parent.mkdir(parents=True, exist_ok=True)  # objects/KIND too, if removed
            created = _link_new(tmp, final)
        tmp.unlink()
        return created

    def adopt(self, path: Path, kind: str, digest: str) -> bool:
        """Publish a finished file the caller has verified to hash to ``digest`` (it must be
        on the store's filesystem; it is consumed). False if the object already existed."""
        if kind not in KINDS:
            raise StoreError(f"{kind!r} is not an object kind ({', '.join(KINDS)})")
        (self.objects / kind).mkdir(parents=True, exist_ok=True)
        return self._publish(path, kind, digest)

    def _tmp_file(self) -> tuple[Path, BinaryIO]:
        import tempfile  # lazy: a run without a store starts without it

        try:
            fd, name = tempfile.mkstemp(dir=self.tmp, prefix="obj-")
        except FileNotFoundError:  # the store's folders were removed under this process
            self._make_folders()
            fd, name = tempfile.mkstemp(dir=self.tmp, prefix="obj-")
        return Path(name), os.fdopen(fd, "wb")

    def put_bytes(self, kind: str, data: bytes | memoryview) -> tuple[str, int]:
        """Store ``data``; return (hash, bytes newly stored)."""
        digest = hash_bytes(data)
        if self.has(kind, digest):
            return digest, 0
        tmp, fh = self._tmp_file()
        with fh:
            fh.write(data)
        return digest, len(data) if self._publish(tmp, kind, digest) else 0

    def put_stream(self, source: Readable, executable: bool = False) -> tuple[str, int, int]:
        """Store a stream as one blob, hashing while copying; (hash, size, newly stored)."""
        hasher = blake3.blake3()
        tmp, fh = self._tmp_file()
        size = 0
        try:
            with fh:
                while chunk := source.read(_BUF):
                    hasher.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        digest = hasher.hexdigest()
        return digest, size, size if self._publish(tmp, blob_kind(executable), digest) else 0

    def put_file(
        self,
        path: Path,
        size: int,
        executable: bool = False,
        same_as: os.stat_result | None = None,
        follow: bool = True,
    ) -> tuple[str, list[Chunk] | None, int]:
        """Store a file: whole below the threshold, else as chunks. With ``same_as``, the
        file opened must be the one that stat describes (a directory swapped for a link on
        the way, or the file for another, is refused, never read); ``follow`` False: a link
        in its place is refused too.

        Returns (content hash, chunks or None, bytes newly stored).
        """
        with open_same(path, same_as, follow) as fh:
            if size < CHUNK_THRESHOLD:
                digest, _, new = self.put_stream(fh, executable)
                return digest, None, new
            return self.put_chunked_stream(fh)

    def put_chunked_stream(self, source: Readable) -> tuple[str, list[Chunk], int]:
        """Store a stream as content-defined chunks, reading it piece by piece (memory stays
        at a few chunks, whatever the size); (content hash, chunks, bytes newly stored).

        The cut points are those FastCDC finds in the whole file: a chunk's end depends only
        on the ``CHUNK_MAX`` bytes from its start, so a window is cut up to the last chunk
        that has that much after its start, and the rest carried into the next window."""
        # lazy: start-up time (fastcdc: 9 ms; only files over CHUNK_THRESHOLD are chunked)
        from fastcdc.fastcdc_cy import fastcdc_cy

        whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
        chunks: list[Chunk] = []
        new = 0
        lookahead = max(64 * 1024, CHUNK_MAX)  # what fastcdc looks at from a chunk's start
        pending = b""
        eof = False
        while not eof or pending:
            parts = [pending]
            have = len(pending)
            while not eof and have < _WINDOW:
                data = source.read(_WINDOW - have)
                if not data:
                    eof = True
                else:
                    parts.append(data)
                    have += len(data)
            window = b"".join(parts)
            if not window:
                break
            done = 0
            for piece in fastcdc_cy(window, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX, fat=True, hf=None):
                if not eof and len(window) - piece.offset < lookahead:
                    break  # this chunk's end may depend on bytes not read yet
                data = piece.data
                whole.update(data)
                digest, added = self.put_bytes("chunks", data)
                chunks.append(Chunk(digest, piece.length))
                new += added
                done = piece.offset + piece.length
            pending = window[done:]
        return whole.hexdigest(), chunks, new

    # -- reading -----------------------------------------------------------------------------

    def blob_path(
        self, digest: str, size: int, chunks: list[Chunk] | None, executable: bool
    ) -> str:
        """A read-only file with this content and executable bit, to hard-link or copy."""
        if chunks is None:
            # Plain strings: this runs once per staged file, thousands of times per case.
            path = f"{self._objects_str}/{blob_kind(executable)}/{digest[:2]}/{digest[2:]}"
        else:
            path = str(self.assemble(digest, chunks, executable))
        self.check_untouched(path, size, digest)
        return path

    def check_untouched(self, path: str, size: int, digest: str) -> None:
        if path in self._untouched:
            return
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise StoreError(
                f"store object {digest[:16]} is missing ({path}); run `assay store verify`"
            ) from None
        if info.st_mtime_ns != EPOCH or info.st_size != size:
            raise Corrupt(
                f"store object {digest[:16]} was modified after it was stored ({path}), "
                "probably written through a hard link by a test (as root, or after chmod "
                "u+w); declare such files writable in the test, then run `assay store "
                "verify --repair`"
            )
        # Bit rot does not change mtime or size: re-hash a sample of objects on first use.
        if int(digest[:4], 16) % VERIFY_SAMPLE == self._sample and hash_file(Path(path)) != digest:
            raise Corrupt(
                f"store object {digest[:16]} no longer matches its hash ({path}); run "
                "`assay store verify --repair` and put its versions again"
            )
        self._untouched.add(path)

    def assemble(self, digest: str, chunks: list[Chunk], executable: bool = False) -> Path:
        """The whole file of a chunked blob, assembled once into the assembly cache."""
        final = self.assembled_root / blob_kind(executable) / digest[:2] / digest[2:]
        if final.exists():
            return final
        hasher = blake3.blake3()
        tmp, fh = self._tmp_file()
        try:
            with fh:
                for chunk in chunks:
                    with open(self.path("chunks", chunk.hash), "rb") as src:
                        data = src.read()
                    hasher.update(data)
                    fh.write(data)
        except FileNotFoundError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"a chunk of {digest[:16]} is missing: {exc.filename}") from None
        if hasher.hexdigest() != digest:
            tmp.unlink(missing_ok=True)
            raise Corrupt(f"the chunks of {digest[:16]} do not add up to its content")
        os.chmod(tmp, READ_EXEC if executable else READ_ONLY)
        os.utime(tmp, ns=(EPOCH, EPOCH))
        final.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, final)
        tmp.unlink()
        return final

    def read_tree_bytes(self, digest: str) -> bytes:
        try:
            return self.path("trees", digest).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"tree {digest[:16]} is not in the store") from None
        except OSError as exc:
            raise StoreError(
                f"tree {digest[:16]} cannot be read ({self.path('trees', digest)}: {exc.strerror})"
            ) from None

    def verify_object(self, kind: str, digest: str) -> bool:
        """Whether a stored object still hashes to its name."""
        path = self.path(kind, digest)
        return path.exists() and hash_file(path) == digest


def quarantine(path: Path) -> None:
    """Move a damaged object aside (under the store's ``quarantine/``), so it is stored again
    from its source the next time it is needed; ``gc`` removes it a week later (its
    modification time is set to now: it says when it was set aside)."""
    objects_dir = next((p for p in path.parents if p.name in ("objects", "assembled")), None)
    if objects_dir is None:
        return
    target = objects_dir.parent / "quarantine" / f"{path.parent.name}{path.name}-{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
        os.utime(target, follow_symlinks=False)


# --- locks ------------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: Path, exclusive: bool) -> Iterator[None]:
    """An advisory lock on ``path``: shared for puts and stagings, exclusive for gc."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
