"""The two places a results database lives: an SQLite file (default) and a PostgreSQL server.

Both take the same SQL (written with ``?`` placeholders; PostgreSQL gets ``%s``) and offer
the same three things: :meth:`Backend.query`, :meth:`Backend.write` (a function run in one
write transaction, retried when the database refuses it for a moment) and
:meth:`Backend.close`. Writers are serialised: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by
a transaction-scoped advisory lock, so read-modify-write of derived rows never races.
This module holds the base classes and SQLite's; PostgreSQL's is
:mod:`assay.results.db.postgres`, imported when a URL names it.
"""

from __future__ import annotations

import abc
import contextlib
import os
import shlex
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from assay.errors import AssayError

T = TypeVar("T")
Row = tuple[Any, ...]

# How long a writer or reader waits for another process before it gives up, and after how
# long it says that it waits (SQLite's busy timeout: one attempt).
WAIT = 60.0
NOTICE = 3.0


class DatabaseError(AssayError):
    """The results database cannot be opened, read or written."""


@contextlib.contextmanager
def as_written(where: str) -> Iterator[None]:
    """Reads of the results database at ``where`` (the file, or the server without its
    password): a value of another type or form than assay writes there (a database edited
    by hand or by another program: JSON that is not, text where a number goes) is one
    :class:`DatabaseError` naming the database and the fix, not a traceback."""
    import msgspec  # (the records' decoder: imported by whoever reads already)

    try:
        yield
    except (ValueError, TypeError, KeyError, msgspec.MsgspecError) as exc:
        raise DatabaseError(
            f"the results database {where} holds a value assay does not write there "
            f"({type(exc).__name__}: {exc}); it was changed by other means than assay",
            hint="restore it from a copy, or move it aside: the next run starts a new one, "
            "and `assay history --import` brings back what the session directories hold",
        ) from exc


class Backend(abc.ABC):
    """A connection to one results database."""

    dialect: str
    where: str  # for messages: the file, or the server without its password

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one read."""

    @abc.abstractmethod
    def write(self, work: Callable[[Writer], T]) -> T:
        """Run ``work`` in one write transaction (all of it or nothing)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def limit_cache(self, kib: int) -> None:
        """Keep at most ``kib`` KiB of the database's pages in this process (a writer that
        appends needs few; readers keep the default). Only SQLite has such a cache."""
        del kib  # PostgreSQL: the cache is the server's

    def defer_checkpoints(self, pages: int) -> None:
        """Fold the write-ahead log into the database only once it holds ``pages`` pages
        (or at :meth:`checkpoint`), not at SQLite's default of 1,000. Only SQLite has one."""
        del pages  # PostgreSQL: the server checkpoints

    def journal_in_memory(self) -> None:
        """Keep what a write statement may have to undo in memory, not in a temporary file
        (a writer whose statements are small). Only SQLite writes one."""
        return  # PostgreSQL: the server's business

    def checkpoint(self) -> None:
        """Fold what the write-ahead log holds into the database now, without waiting for
        readers (what they still read stays for a later checkpoint)."""
        return  # PostgreSQL: the server checkpoints

    @property
    def leaves_log(self) -> bool:
        """Whether :meth:`close` leaves the write-ahead log for the next opener to fold in
        (see :meth:`SqliteBackend.close`)."""
        return False


class Writer(abc.ABC):
    """What a write transaction may do."""

    dialect: str

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


# -- SQLite ---------------------------------------------------------------------------------

# Python's sqlite3 binds int, float, str and bytearray as they are but looks any other value
# up as one to adapt, None included: its adapters, then the protocol's __adapt__ and the
# value's __conform__, which on 3.11 raise and drop two AttributeErrors, ~2.5 k instructions
# per NULL bound (a trivial case recorded binds 3, in the recorder's thread, holding the
# GIL). An adapter for None is found first, and dict.get of an empty dict answers None in C:
# still NULL. (The sqlite3 module's adapters are the process's: None stays NULL for all.)
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))


def _transient(exc: sqlite3.OperationalError) -> bool:
    """SQLite answers some contention at once, without waiting for the busy timeout: the race
    to switch a new file to WAL, a reader that meets a WAL being recovered. Those pass."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def sqlite_transaction(db: sqlite3.Connection, begin: str, work: Callable[[Writer], T]) -> T:
    """``work`` in one transaction of ``db`` (begun with ``begin``): committed if it
    returns, rolled back if it raises."""
    db.execute(begin)
    try:
        out = work(_SqliteWriter(db))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return out


class _SqliteWriter(Writer):
    dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.db.execute(sql, params).fetchall()


class SqliteBackend(Backend):
    """An SQLite file in WAL mode: readers never wait for the writer, writers queue."""

    dialect = "sqlite"

    def __init__(self, path: Path, make: bool = False) -> None:
        """``make``: a missing file is made with the whole schema first (see
        :mod:`assay.results.db.fresh`); else SQLite makes it empty."""
        self.path = path
        self.where = str(path)
        self._lock = threading.Lock()  # one connection, used by the recorder's thread too
        self._said = -WAIT - 1.0  # when a wait for the lock was last announced
        _a_file_or_nothing(path)
        _yours(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if make and not os.path.lexists(path):  # made whole elsewhere, then named
                from assay.results.db.fresh import make as make_new

                make_new(path)
            elif make:  # (what a make that crashed left: removed once old)
                from assay.results.db.fresh import remove_strays

                remove_strays(path)
            self.db = sqlite3.connect(
                path, timeout=NOTICE, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"results database {path}: cannot open: {exc}") from None
        self._retry(self._setup)

    def _setup(self) -> None:
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":  # a file system without shared memory (some network mounts)
                raise DatabaseError(
                    f"results database {self.path}: SQLite cannot use WAL mode here "
                    f"(got {mode!r}); put the prefix on a local disk, or use PostgreSQL"
                )
        # WAL with synchronous=NORMAL: a commit is durable once the WAL is checkpointed; a
        # power cut may lose the last commits, never corrupt the file (the journal keeps them).
        self.db.execute("PRAGMA synchronous=NORMAL")

    def _retry(self, work: Callable[[], T]) -> T:
        start = time.monotonic()
        while True:
            try:
                with self._lock:
                    return work()
            except sqlite3.OperationalError as exc:
                if not _transient(exc):
                    raise DatabaseError(f"results database {self.path}: {exc}") from None
                waited = time.monotonic() - start
                if waited > WAIT:
                    raise DatabaseError(
                        f"results database {self.path} stayed locked for {waited:.0f} s by "
                        f"{locker(self.path) or 'another process'}; let it finish (or stop "
                        "it) and try again"
                    ) from None
                if waited >= NOTICE and start - self._said > WAIT:  # once, not per write
                    self._said = start
                    _say(
                        f"results database {self.path} is locked by "
                        f"{locker(self.path) or 'another process'}; waiting up to {WAIT:.0f} s"
                    )
                import random  # (only a wait needs it: ~1 ms to import, before a first case)

                time.sleep(0.005 + random.random() * 0.05)  # noqa: S311 - jitter, no secret
            except sqlite3.DatabaseError as exc:
                raise DatabaseError(_damaged(self.path, exc)) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._retry(lambda: self.db.execute(sql, params).fetchall())

    def write(self, work: Callable[[Writer], T]) -> T:
        # IMMEDIATE takes the write lock now (waiting for the busy timeout): a deferred
        # transaction that upgrades later fails at once when another writer got there first.
        return self._retry(lambda: sqlite_transaction(self.db, "BEGIN IMMEDIATE", work))

    def limit_cache(self, kib: int) -> None:
        self._retry(lambda: self.db.execute(f"PRAGMA cache_size = {-int(kib)}"))

    def defer_checkpoints(self, pages: int) -> None:
        self._retry(lambda: self.db.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}"))

    def journal_in_memory(self) -> None:
        # A statement that may fail after changing some rows (a multi-row INSERT, an upsert)
        # keeps the pages it changes in a statement journal, to undo it alone: SQLite holds
        # 64 KiB of it in memory, then spills to a temporary file (made, written 3 writes a
        # page, deleted); with temp_store = MEMORY it stays in memory. A recording of 2,000
        # trivial cases spilled in most of its statements: ~6,000 writes of a ~21,000 of
        # the database's, and a file made and deleted each time.
        self._retry(lambda: self.db.execute("PRAGMA temp_store = MEMORY"))

    def checkpoint(self) -> None:
        self._retry(lambda: self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    @property
    def leaves_log(self) -> bool:
        return _ends_at_once()

    def close(self) -> None:
        """Close the connection; in the ``assay`` program, leave it open instead until the
        process ends (see :data:`assay.entry.ENDS_AT_ONCE`), which never closes it.

        The last connection to close folds the write-ahead log into the database: a copy
        of each page the log holds and two syncs (the log's, the file's), 30-130 ms at the
        end of a 2,000-case run that the user waited for. Left to the process's end, the
        log stays for the next opener, whose recorder folds it in its own thread while its
        cases run (:meth:`Recorder.start`); what it holds is committed, read by every
        later connection (the first replays it) and kept across a crash of the process. A
        power cut can lose what the log held that the disk did not have yet (the file
        stays whole): the session's journal, synced as each case finishes, holds it for
        the next import. Within a process that is not the program (tests, the API) a close
        closes, as before.
        """
        with self._lock:
            if not _ends_at_once():
                self.db.close()
                return
            _LEFT_OPEN.append(self.db)
            if len(_LEFT_OPEN) > _LEAVE_AT_MOST:  # (a process that opens it again and again)
                _LEFT_OPEN.pop(0).close()


# The connections :meth:`SqliteBackend.close` left open until the process's end; at most
# this many (closing the oldest folds nothing while a newer one to its file is open).
_LEFT_OPEN: list[sqlite3.Connection] = []
_LEAVE_AT_MOST = 8


def _ends_at_once() -> bool:
    """Whether this process is the ``assay`` program, which ends without closing what is
    left open (the module is not imported for the question: the API's processes lack it)."""
    entry = sys.modules.get("assay.entry")
    return bool(getattr(entry, "ENDS_AT_ONCE", False))


def _say(text: str) -> None:
    """A notice on stderr (the user waits: say why)."""
    from assay import terminal  # lazy: only when a lock holds us up

    try:
        sys.stderr.write(f"assay: {terminal.lines(text)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


# SQLite's result codes for a file that is not a database, or one whose pages do not hold
# together (truncated, overwritten).
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


def _damaged(path: Path, exc: sqlite3.DatabaseError) -> str:
    """The message for an SQLite error: for a damaged file, how to move it aside."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return f"results database {path}: {exc}"
    return (
        f"results database {path} is damaged ({exc}); move it aside: {move_aside(path)} "
        "(the next run makes a new one and imports the session directories under the prefix)"
    )


def move_aside(path: Path) -> str:
    """A shell command that moves the database, and its log files if there, to *.damaged."""
    names = [str(path)] + [
        f"{path}{end}" for end in ("-wal", "-shm") if Path(f"{path}{end}").exists()
    ]
    return " && ".join(f"mv -- {shlex.quote(n)} {shlex.quote(n + '.damaged')}" for n in names)


def locker(path: Path) -> str | None:
    """Which process holds the write lock of the SQLite file ``path`` (``process 123
    (assay run ...)``), where Linux tells it (/proc/locks); else None. SQLite's WAL write
    lock is byte 120 of the ``-shm`` file; outside WAL mode, the file's reserved/pending
    bytes."""
    wanted: dict[int, tuple[int, int]] = {}  # inode -> the byte range that means "writing"
    for name, first, last in ((f"{path}-shm", 120, 120), (str(path), 2**30, 2**30 + 511)):
        with contextlib.suppress(OSError):
            wanted[os.stat(name).st_ino] = (first, last)
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # 1: POSIX  ADVISORY  WRITE 1234 08:01:5678 120 120
        if len(fields) < 8 or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue
        try:
            pid, inode = int(fields[4]), int(fields[5].rsplit(":", 1)[1])
            start, end = int(fields[6]), int(fields[7])
        except (ValueError, IndexError):
            continue
        span = wanted.get(inode)
        if span is None or pid == os.getpid() or end < span[0] or start > span[1]:
            continue
        return f"process {pid}{_command_of(pid)}"
    return None


def _command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return ""
    text = " ".join(" ".join(os.fsdecode(a) for a in argv).split())  # one line
    return f" ({text[:77] + '...' if len(text) > 80 else text})" if text else ""


_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "named pipe",
    stat.S_IFSOCK: "socket",
}


def _a_file_or_nothing(path: Path) -> None:
    """Refuse a database path that is not a regular file (through links): SQLite would
    open a device or a /proc file and write its journal beside it (``/dev/null-journal``)."""
    try:
        mode = path.stat().st_mode
    except OSError:  # missing (made on opening), a name too long, no access: SQLite says
        return
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "special file")
        aside = f", or move it aside: {move_aside(path)}" if kind == "directory" else ""
        raise DatabaseError(
            f"results database {path} is a {kind}, not a file; give the path of an SQLite "
            f'file in the system\'s results setting (or results = "none"){aside}'
        )


def _yours(path: Path) -> None:
    """Refuse a database another user could change under this one: its file (through
    links) not this user's, or its directory open to others' writes (a planted link named
    as the database or its ``-wal`` file would make SQLite write a file of this user's,
    any file as root). A missing file is made by this user."""
    from assay.owned import others_may_change  # lazy: only SQLite needs it

    checks: list[tuple[Path, os.stat_result, bool]] = []
    hop = Path(os.path.abspath(path))
    for _ in range(40):  # each link's directory: whoever may write it chooses the target
        folder = Path(os.path.realpath(hop.parent))
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # (made by this user's mkdir -p)
        with contextlib.suppress(OSError):
            checks.append((folder, folder.stat(), True))
        if not hop.is_symlink():
            break
        hop = Path(os.path.abspath(hop.parent / os.readlink(hop)))
    with contextlib.suppress(OSError):
        checks.append((hop, hop.stat(), False))
    for where, info, root_ok in checks:
        problem = others_may_change(info, root_ok=root_ok)
        if problem is not None:
            raise DatabaseError(
                f"results database {path}: {where} {problem}, so another user could "
                "make assay write your files through it; keep the database in a "
                "directory of your own (--prefix, or the system's results setting), or "
                'a shared one in PostgreSQL (results = "postgresql://...")'
            )


def connect(target: str | Path, make: bool = False) -> Backend:
    """The backend for a ``postgresql://`` URL, else for an SQLite file path (``make``: a
    missing file is made with the results database's schema, see SqliteBackend)."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        from assay.results.db.postgres import PostgresBackend  # (psycopg: only then)

        return PostgresBackend(text)
    return SqliteBackend(Path(target), make)
