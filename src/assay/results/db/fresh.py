"""A new SQLite results database, made whole under a private name and linked into place.

Made where it is to be, a new database cost 8 syncs before its first row: 4 to switch the
empty file to WAL mode (through a rollback journal: the journal, its directory, the journal
again, the file), 2 to create the log (its header, its directory) and 2 for the checkpoint
that folded the schema from the log into the file. Made under a name of its own instead,
with no journal and no syncs (nobody else can see it, and a crash meanwhile leaves a stray
temporary file, not a damaged database), it is synced once and then given its name with
``link``, which never replaces a file: of processes that make the database at once, the
first one's is the database and the others' are dropped. A name that appears is a whole
database from the start, so a crash can never leave a half-made one under it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from assay.results.db.backends import Backend, Row, Writer, sqlite_transaction

T = TypeVar("T")

# A private file this old was left by a make that crashed (a make takes milliseconds): the
# next make removes it. By age, not by its maker's pid, which names a process of whichever
# host made it (a prefix on a shared file system is made from several).
STRAY_AFTER = 3600.0


class _Building(Backend):
    """The private file while its schema is written: one connection, no journal, no sync."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.where = str(path)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.db.execute(sql, params).fetchall()

    def write(self, work: Callable[[Writer], T]) -> T:
        return sqlite_transaction(self.db, "BEGIN", work)

    def close(self) -> None:
        self.db.close()


def make(path: Path) -> bool:
    """Make the database ``path`` (which did not exist) with its whole schema, in WAL mode.
    False when this file system cannot (no hard links, say): then the caller makes it in
    place as before. A database another process made meanwhile is left as it is (True)."""
    from assay.results.db.schema import upgrade

    remove_strays(path)
    # (os.urandom: the secrets module would import hashlib and OpenSSL for nothing)
    private = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.new")
    try:
        # (made here, exclusively and not through a link: SQLite then opens this file)
        os.close(os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    except OSError:
        return False
    try:
        building = _Building(private)
        try:
            upgrade(building)
            # The mode is written into the file's header (the switch takes no journal and
            # no sync here); closing removes the empty log it made.
            building.db.execute("PRAGMA journal_mode=WAL")
        finally:
            building.close()
        fd = os.open(private, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fdatasync(fd)  # whole on the disk before it has its name
        finally:
            os.close(fd)
        try:
            os.link(private, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the database
        except OSError:
            return False
        return True
    except Exception:  # (whatever it was, the database is made in place as before)
        return False
    finally:
        for name in (private, Path(f"{private}-wal"), Path(f"{private}-shm")):
            with contextlib.suppress(OSError):
                name.unlink()


def remove_strays(path: Path) -> None:
    """Remove the private files (and their logs) that makes of ``path`` left behind when
    their process died, once they are :data:`STRAY_AFTER` seconds old."""
    import time

    start, now = f".{path.name}.", time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not name.startswith(start) or not name.endswith((".new", ".new-wal", ".new-shm")):
            continue
        with contextlib.suppress(OSError):  # (gone meanwhile, or not ours to remove)
            if now - entry.stat(follow_symlinks=False).st_mtime > STRAY_AFTER:
                os.unlink(entry.path)  # (a link itself, never what it points to)
