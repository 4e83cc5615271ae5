"""Bringing directories and archives into the store as trees.

A directory is walked once; a file whose (device, inode, size, mtime, ctime) the stat cache
has seen is not read again, so putting a new version of a 10,000-file build where 1% of
the files changed reads 1% of the bytes. An archive is streamed member by member into the
store (checked like any unpacking), and an archive already imported is recognised by its
stat and not read at all. Either way every unchanged file is shared with earlier versions:
the incremental delta is computed, not hand-made.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import stat
import threading
import time
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import msgspec

from assay.store.dirwalk import check_links, file_entry_mode, other_entry, walk_directory
from assay.store.objects import (
    CHUNK_THRESHOLD,
    ObjectStore,
    StoreError,
    blob_kind,
    changed_while_read,
    hash_open,
    open_same,
)
from assay.store.trees import Entry, Tree, load_tree, make_tree, put_tree

if TYPE_CHECKING:
    from assay.archives import Limits, Member, Readable


@dataclass
class Imported:
    """A tree brought into the store, and what it cost."""

    tree: str
    files: int = 0
    bytes: int = 0
    new_bytes: int = 0
    new_files: int = 0  # files whose content the store did not have
    read_bytes: int = 0  # bytes actually read (the stat cache saves the rest)
    archive_hash: str | None = None
    cached: bool = False  # an unchanged archive: nothing was read
    # The tree as just written (directory imports): a caller that needs it does not read
    # its objects back (one read and decode of every tree object per suite case).
    loaded: Tree | None = field(default=None, compare=False, repr=False)


class StatCache:
    """(device, inode, size, mtime, ctime) -> content hash, for files and whole archives."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by a session's worker threads, used under a lock.
        self.lock = threading.Lock()
        try:
            self._open(path)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # cannot open, locked: not damage
                raise
            # A damaged cache is only a cache: start a new one (the next put reads files).
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self._open(path)

    def _open(self, path: Path) -> None:
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        # Several processes opening a new cache at once race to switch it to WAL, and SQLite
        # answers "database is locked" at once (without waiting for the busy timeout) to the
        # losers: try again for a while. WAL mode persists, so a cache switched once is not
        # switched again.
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS files (dev INT, ino INT, size INT, mtime INT,"
                    " ctime INT, hash TEXT, chunks TEXT, PRIMARY KEY (dev, ino))"
                )
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS archives (dev INT, ino INT, size INT, mtime INT,"
                    " ctime INT, tree TEXT, hash TEXT, files INT, bytes INT,"
                    " PRIMARY KEY (dev, ino))"
                )
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01 + random.random() * 0.05)  # noqa: S311 - jitter, no secret

    def close(self) -> None:
        """Close, folding the write-ahead log back into the cache (it would otherwise keep
        up to 4 MB on disk); a busy log (another process) is left to its last user."""
        with self.lock:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()

    @staticmethod
    def _key(info: os.stat_result) -> tuple[int, int, int, int, int]:
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    def file(self, info: os.stat_result) -> tuple[str, list[tuple[str, int]] | None] | None:
        dev, ino, size, mtime, ctime = self._key(info)
        with self.lock:
            row = self.db.execute(
                "SELECT hash, chunks FROM files WHERE dev=? AND ino=? AND size=? AND mtime=?"
                " AND ctime=?",
                (dev, ino, size, mtime, ctime),
            ).fetchone()
        if row is None:
            return None
        chunks = None if row[1] is None else msgspec.json.decode(row[1], type=list[tuple[str, int]])
        return row[0], chunks

    def remember_files(
        self, rows: list[tuple[os.stat_result, str, list[tuple[str, int]] | None]]
    ) -> None:
        if not rows:
            return
        values = [
            (*self._key(info), digest, None if chunks is None else msgspec.json.encode(chunks))
            for info, digest, chunks in rows
        ]
        with self.lock:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", values)
            self.db.execute("COMMIT")

    def archive(self, info: os.stat_result) -> tuple[str, str, int, int] | None:
        dev, ino, size, mtime, ctime = self._key(info)
        with self.lock:
            row = self.db.execute(
                "SELECT tree, hash, files, bytes FROM archives WHERE dev=? AND ino=? AND size=?"
                " AND mtime=? AND ctime=?",
                (dev, ino, size, mtime, ctime),
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def remember_archive(self, info: os.stat_result, result: Imported) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO archives VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*self._key(info), result.tree, result.archive_hash, result.files, result.bytes),
            )


def import_directory(
    objects: ObjectStore, cache: StatCache, root: Path, skip: Container[tuple[int, int]] = ()
) -> Imported:
    """Bring the directory ``root`` into the store (symlinks are kept as links), without the
    directories whose (device, inode) ``skip`` holds."""
    if not root.is_dir():
        raise StoreError(f"{root}: not a directory")
    entries: list[Entry] = []
    result = Imported(tree="")
    learned: list[tuple[os.stat_result, str, list[tuple[str, int]] | None]] = []
    for rel, entry, info in walk_directory(root, skip):
        other = other_entry(rel, entry, info)
        if other is not None:
            entries.append(other)
        else:
            entries.append(_file_entry(objects, cache, rel, Path(entry), info, result, learned))
    cache.remember_files(learned)
    tree = make_tree(entries)
    check_links(tree, root)
    result.tree = put_tree(objects, tree)
    result.loaded = tree
    return result


def _file_entry(
    objects: ObjectStore,
    cache: StatCache,
    rel: str,
    path: Path,
    info: os.stat_result,
    result: Imported,
    learned: list[tuple[os.stat_result, str, list[tuple[str, int]] | None]],
) -> Entry:
    mode = file_entry_mode(info)
    executable = bool(mode & 0o111)
    size = info.st_size
    result.files += 1
    result.bytes += size
    known = cache.file(info)
    if known is not None and _present(objects, known[0], known[1], executable):
        digest, chunks = known
    else:
        # The file looked at, never one a link swapped in on the way since.
        digest, chunk_list, new = objects.put_file(path, size, executable, info, follow=False)
        _unchanged_since(path, info)
        chunks = None if chunk_list is None else [(c.hash, c.size) for c in chunk_list]
        result.new_bytes += new
        result.new_files += new > 0
        result.read_bytes += size
        learned.append((info, digest, chunks))
    return Entry(rel, "file", mode=mode, size=size, hash=digest, chunks=chunks)


def _unchanged_since(path: Path, before: os.stat_result) -> None:
    """Refuse a file written to while it was read: what was stored may be a mix of old and
    new content, and the stat cache would tie it to the old stat. (Size and modification
    time only: the change time also moves when another link to the file comes or goes.)"""
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise changed_while_read(path)


def _present(
    objects: ObjectStore, digest: str, chunks: list[tuple[str, int]] | None, executable: bool
) -> bool:
    if chunks is None:
        return objects.has(blob_kind(executable), digest)
    return all(objects.has("chunks", c) for c, _ in chunks)


def _complete(objects: ObjectStore, digest: str) -> bool:
    """Whether a tree and every object it needs are stored (one ``stat`` per file): an
    archive known to the stat cache is not read again only then, so that a put restores
    what ``verify --repair`` removed."""
    try:
        tree = load_tree(objects, digest)
    except StoreError:
        return False
    return all(
        _present(objects, e.hash, e.chunks, e.executable)
        for e in tree.entries
        if e.type == "file" and e.hash is not None
    )


def import_archive(
    objects: ObjectStore, cache: StatCache, archive: Path, limits: Limits | None = None
) -> Imported:
    """Bring an archive's content into the store, streaming it once (or not at all when the
    same archive file was imported before). Its members are checked as unpacking checks
    them; the tree is stored only once the last member has passed."""
    # One open file for the stat (the cache's key), the hash and the members: another
    # archive moved in under the name meanwhile is not mixed in.
    with open_same(archive, None) as opened:
        info = os.fstat(opened.fileno())
        known = cache.archive(info)
        if known is not None and _complete(objects, known[0]):
            tree, digest, files, size = known
            return Imported(tree, files, size, archive_hash=digest, cached=True)
        result = Imported(tree="", archive_hash=hash_open(opened), read_bytes=info.st_size)
        if limits is None:
            from assay.archives import Limits

            limits = Limits()
        entries = _archive_entries(objects, archive, opened, limits, result)
        now = os.fstat(opened.fileno())
        if (now.st_size, now.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
            raise changed_while_read(archive)  # written in place: hash and tree may differ
    made = make_tree(entries.values())
    result.files, result.bytes = made.files, made.size
    result.tree = put_tree(objects, made)
    cache.remember_archive(info, result)
    return result


def _archive_entries(
    objects: ObjectStore, archive: Path, opened: BinaryIO, limits: Limits, result: Imported
) -> dict[str, Entry]:
    """The tree entries of an archive's members (streamed into the store), with the
    parents the archive did not list."""
    # Imported here: the archive code is for archives (a push or a checkout reads none).
    from assay.archives import iter_members

    entries: dict[str, Entry] = {}
    for member in iter_members(archive, limits, opened):
        if member.type == "dir":
            entries[member.name] = Entry(member.name, "dir", mode=member.mode)
        elif member.type == "symlink":
            entries[member.name] = Entry(member.name, "symlink", mode=0o777, target=member.link)
        elif member.type == "hardlink":
            # iter_members let it through: an earlier file of the archive, by its name.
            source = entries[member.link or ""]
            entries[member.name] = Entry(
                member.name,
                "file",
                mode=source.mode,
                size=source.size,
                hash=source.hash,
                chunks=source.chunks,
            )
        else:
            entries[member.name] = _archive_file(objects, member, result)
    for name in list(entries):  # parents that the archive did not list
        parent = os.path.dirname(name)
        while parent and parent not in entries:
            entries[parent] = Entry(parent, "dir", mode=0o755)
            parent = os.path.dirname(parent)
    return entries


def _archive_file(objects: ObjectStore, member: Member, result: Imported) -> Entry:
    """A file member, streamed into the store: one blob, or chunks as they come (never the
    whole file in memory or in a spool file)."""
    assert member.stream is not None
    executable = bool(member.mode & 0o111)
    chunks = None
    if member.size < CHUNK_THRESHOLD:
        digest, size, new = objects.put_stream(member.stream, executable)
    else:
        counted = _Counted(member.stream)
        digest, chunk_list, new = objects.put_chunked_stream(counted)
        size = counted.bytes
        chunks = [(c.hash, c.size) for c in chunk_list]
    result.new_bytes += new
    result.new_files += new > 0
    return Entry(member.name, "file", mode=member.mode, size=size, hash=digest, chunks=chunks)


class _Counted:
    def __init__(self, stream: Readable) -> None:
        self.stream, self.bytes = stream, 0

    def read(self, n: int = -1, /) -> bytes:
        data = self.stream.read(n)
        self.bytes += len(data)
        return data


def single_file_tree(objects: ObjectStore, path: Path) -> tuple[Tree, Imported]:
    """A one-entry tree for a single file (a test's ``sources = "input.dat"``)."""
    info = path.stat()
    executable = bool(info.st_mode & 0o111)
    digest, chunk_list, new = objects.put_file(path, info.st_size, executable, info)
    _unchanged_since(path, info)
    chunks = None if chunk_list is None else [(c.hash, c.size) for c in chunk_list]
    entry = Entry(
        path.name,
        "file",
        mode=stat.S_IMODE(info.st_mode),
        size=info.st_size,
        hash=digest,
        chunks=chunks,
    )
    tree = make_tree([entry])
    return tree, Imported(put_tree(objects, tree), 1, info.st_size, new, int(new > 0), info.st_size)
