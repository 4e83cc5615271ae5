"""What a session writes into the results database, as its cases finish.

The session holds one :class:`Recorder` and calls it three times: :meth:`~Recorder.start`,
:meth:`~Recorder.case_finished` for each case, :meth:`~Recorder.finish`. Writes happen in a
thread of the recorder's own, many finished cases to a transaction, so the event loop
never waits for the database. A database that fails is reported once and then left alone:
the run goes on, its journal and report are written as always, and the next session that
opens the database imports it from its directory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from assay import digests, terminal
from assay.results.model import CaseResult, GitState, Session

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from assay.config import Config
    from assay.results.db import Expected, ResultsDB

# When a batch of finished cases is written: at least FLUSH_EVERY seconds after the last
# transaction, once FLUSH_CASES cases wait or FLUSH_LATEST seconds passed (and at once at the
# session's end). A transaction costs more than its rows: each rewrites every page of the
# series index and table its cases reach (a page per case for batches smaller than the
# index), and commits; a run slowed down (a loaded machine, slow cases) made many small
# ones. Measured: 2,000 real cases written into a copy of a 16-session database in 3, 8
# and 30 batches: 126, 139 and 150 ms of CPU (medians of 6). 2,000 trivial cases, 8 at
# once, under load 7-9, with FLUSH_EVERY alone (2 runs each): 1 s: 33-34 transactions,
# 282-288 ms of the recorder's CPU, finish() waited 0.3-1 ms; 3 s: 9-12, 202-231 ms, 2-47
# ms; 5 s: 7-8, 197-210 ms, 45-86 ms (the last batch and the checkpoint after it outlast
# the report's writing, and the user waits). FLUSH_CASES keeps the last batch as small as
# with 1 s alone whenever 200 cases finish in a second (the bench on an idle machine: ~700
# a second), while a slow run writes a few large batches. A reader sees a case at most
# FLUSH_LATEST late.
FLUSH_EVERY = 1.0
FLUSH_CASES = 200
FLUSH_LATEST = 5.0
# The recorder's connection keeps this much of the database in memory (SQLite's default is
# 2 MB, for readers): a batch rewrites leaves of the series table (one per ~16 series) and of
# this session's key index in random order, and with 256 KiB they fell out of the cache
# mid-transaction (spilled to the log, then written again, read back in the next batch).
# 2,000 cases, 14-28 batches onto a database of ~20 sessions (2 runs each): 256 KiB:
# 251-256 ms of the recorder's CPU, 39-41 k write and 47-49 k read syscalls of the process;
# 1 MiB: 217-229 ms, 33 k and 42-43 k; 2 MiB: 198-221 ms, 30-32 k and 40 k, +2 MiB of
# peak RSS (the bench's line is 60 MiB). A page evicted is read again from the OS's cache,
# in the recorder's thread with the GIL released.
RECORDING_CACHE_KIB = 1024
# A session's writes reach every leaf of the series index (each case's series sorts to its
# own place), so each transaction logs about as many pages as the index has, and SQLite's
# default checkpoint at 1,000 pages of log ran in nearly every one: copying them into the
# database and two syncs, while the cases ran. The recorder checkpoints once, unless its
# log grows past this (32 MiB of 4 KiB pages): at its end within the API; in the ``assay``
# program, at the start of the next recording session, in its thread (see
# SqliteBackend.close: the end of a 2,000-case run waited 30-130 ms for the fold's syncs).
CHECKPOINT_PAGES = 8192


def warn_on_stderr(message: str) -> None:
    try:
        sys.stderr.write(f"assay: warning: {terminal.lines(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def database_target(config: Config, system: str, prefix: Path) -> str | None:
    """Where a system's results go: its ``results`` setting (``"none"``: nowhere), else
    ``PREFIX/results.sqlite``."""
    configured = config.systems[system].results
    if configured == "none":
        return None
    if configured:
        return configured
    return str(prefix / "results.sqlite")


def nothing_recorded(target: str | None, prefix: Path) -> bool:
    """Whether results go to an SQLite file that is not there yet, under a prefix that
    holds no session directory: nothing was recorded there. A session about to start
    (ask before its directory is made) then has no history, and no session for the new
    database to import; a reader has nothing to read. False where it cannot tell (the
    usual open then says what is wrong)."""
    if target is None or target.startswith(("postgresql://", "postgres://")):
        return False
    if os.path.lexists(target):
        return False
    try:
        with os.scandir(prefix / "runs") as entries:
            return not any(e.is_dir(follow_symlinks=False) for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False


def open_database(target: str, prefix: Path, import_runs: bool = True) -> ResultsDB:
    """Open the database and import the session directories under ``prefix`` it lacks
    (``import_runs=False``: the caller knows there are none)."""
    from assay.results.db import ResultsDB

    db = ResultsDB.open(target)
    try:
        if import_runs:  # (a first session's database has nothing to import: not imported)
            from assay.results.db.importer import import_sessions

            import_sessions(db, prefix)
    except BaseException:
        db.close()
        raise
    return db


def config_hash(config: Config) -> str:
    """The configuration's content (not where it was read from) as a short hash."""
    from assay.config import describe

    data = describe(config)
    data.pop("source", None)
    import json  # (here: no run needs it before its first case)

    text = json.dumps(data, sort_keys=True, default=str)
    return digests.sha256(text.encode()).hexdigest()[:16]


def git_state(path: Path) -> tuple[str | None, bool | None]:
    """The commit checked out where ``path`` lies, and whether tracked files differ from it
    (None, None outside a git repository or without git)."""
    where = path if path.is_dir() else path.parent
    # The repository is the one the tests are in: variables that point git elsewhere (set
    # when assay runs from a git hook, say) are left out.
    redirect = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if k not in redirect}
    env |= {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", "-c", "core.fsmonitor=false", "-C", str(where), *args],
                capture_output=True,
                text=True,
                timeout=20,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "--verify", "-q", "HEAD")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    dirty = None if status is None or status.returncode != 0 else bool(status.stdout.strip())
    return head.stdout.strip(), dirty


class Recorder:
    """A session's writer into the results database (or nothing, when there is none)."""

    def __init__(self, db: ResultsDB | None, warn: Callable[[str], None] = warn_on_stderr) -> None:
        self.db = db
        self.opened = db is not None  # False: no database, or it could not be opened (said)
        self._warn = warn
        self._failed = db is None
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # a batch is full, or the end came
        self._pending: list[CaseResult] = []
        self._queued = False
        # (-inf: the first batch is written at once; 0.0 made it wait until FLUSH_EVERY /
        # FLUSH_LATEST seconds after the machine's boot, which time.monotonic counts from)
        self._last_flush = float("-inf")
        self._closing = threading.Event()
        self._hurry = False  # the batch that waits is written now (see last_running)
        self._hurried = False
        self._executor: ThreadPoolExecutor | None = None
        self._session_id = ""
        self._at = 0.0
        self._resumed = False  # cases may be recorded already: replace, never duplicate
        self._written: set[tuple[str, int]] = set()
        self._ending = False  # end() handed the session's end to the thread

    @classmethod
    def open(
        cls,
        target: str | None,
        prefix: Path,
        warn: Callable[[str], None] = warn_on_stderr,
        import_runs: bool = True,
    ) -> Recorder:
        """A recorder for ``target`` (None: recording is off). A database that cannot be
        opened is reported with ``warn`` and the session runs without it. ``import_runs``:
        see :func:`open_database`."""
        if target is None:
            return cls(None, warn)
        from assay.results.db import DatabaseError

        try:
            db = open_database(target, prefix, import_runs)
            try:
                db.backend.limit_cache(RECORDING_CACHE_KIB)
                db.backend.defer_checkpoints(CHECKPOINT_PAGES)
                db.backend.journal_in_memory()
            except BaseException:
                _close(db)
                raise
            return cls(db, warn)
        except DatabaseError as exc:
            warn(
                f"{exc.message}; this session is not recorded there (its journal and report "
                "are written as always)"
            )
            return cls(None, warn)

    @property
    def active(self) -> bool:
        return not self._failed

    def expected(self, series: Sequence[str]) -> dict[str, Expected]:
        """Recorded durations of these series (none if the database cannot say)."""
        if self.db is None or self._failed:
            return {}
        try:
            return self.db.expected(series)
        except Exception as exc:  # never the run's end: it is planned without history
            self._fail(exc)
            return {}

    def start(
        self,
        session: Session,
        config_digest: str | None,
        git: Future[GitState | None] | None = None,
    ) -> None:
        """Record the session (in the background; ``git``: the tests' commit, when known,
        else ``session.git``)."""
        if self.db is None or self._failed:
            return
        self._session_id = session.id
        self._at = session.started
        # (imported here: its module, with queue, is for a recording session only, not part
        # of the path to a run's first case; this runs once the database is open)
        from concurrent.futures import ThreadPoolExecutor

        self._executor = ThreadPoolExecutor(1, thread_name_prefix="assay-results")
        # What earlier sessions left in the log (the program leaves it: see
        # SqliteBackend.close) goes into the database while the cases run, before this
        # session's first write: that write then starts the log anew, so the log never
        # holds more than about a session (or CHECKPOINT_PAGES).
        self._submit(self.db.backend.checkpoint)
        self._submit(lambda: self._begin(session, config_digest, git))

    def _begin(
        self, session: Session, config_digest: str | None, git: Future[GitState | None] | None
    ) -> None:
        from assay.results.db import SessionRecord

        assert self.db is not None
        state = git.result() if git is not None else session.git
        earlier = self.db.session(session.id)  # --resume: the session keeps its first start
        if earlier is not None:
            self._at = earlier.started
            self._resumed = True
        self.db.begin_session(
            SessionRecord(
                id=session.id,
                started=self._at,
                user=session.user,
                host=session.hostname,
                command=session.command,
                cwd=session.cwd,
                system=session.system,
                config=session.config,
                config_hash=config_digest,
                git_commit=state.commit if state else None,
                git_dirty=state.dirty if state else None,
                version=session.version,
                directory=session.directory,
            )
        )

    def case_finished(self, result: CaseResult) -> None:
        """A case finished: it is written with the next batch."""
        if self._failed or self._executor is None or self._ending:
            return
        with self._lock:
            self._pending.append(result)
            if len(self._pending) == FLUSH_CASES:
                self._ready.notify()
            if self._queued:
                return
            self._queued = True
        self._submit(self._flush)

    def _flush(self) -> None:
        soonest = self._last_flush + FLUSH_EVERY
        latest = self._last_flush + FLUSH_LATEST
        with self._ready:
            # Let more cases finish into this transaction (see FLUSH_CASES).
            while not self._closing.is_set() and not self._hurry:
                now = time.monotonic()
                if now >= latest or (now >= soonest and len(self._pending) >= FLUSH_CASES):
                    break
                self._ready.wait((soonest if now < soonest else latest) - now)
            batch, self._pending = self._pending, []
            self._queued = False
            self._hurry = False  # (once: the batches after it keep their times)
        self._last_flush = time.monotonic()
        if batch and not self._failed:
            assert self.db is not None
            keys = [(r.id, r.repeat) for r in batch]
            if self._resumed or not self._written.isdisjoint(keys) or len(set(keys)) < len(keys):
                self.db.record(self._session_id, self._at, batch)
            else:
                self.db.record_new(self._session_id, self._at, batch)
            self._written.update(keys)

    def last_running(self) -> None:
        """No case waits to start any more: those still running are the session's last.
        What waits for its batch is written now, while they run, not at the batch's time:
        the batch :meth:`drain` and the session's end wait for then holds only them.
        (Measured, 2,000 trivial cases, 8 at once: the batch at drain() held 105-666 cases,
        up to 42 ms of the recorder's CPU, and finish() waited 0.1-72 ms for it.) Once per
        session; nothing to do when no batch waits."""
        if self._executor is None or self._hurried:
            return
        self._hurried = True
        with self._ready:
            if self._queued:
                self._hurry = True
                self._ready.notify_all()

    def drain(self) -> None:
        """Every case has finished: what waits for its batch is written now, not at the
        batch's time, while the runner closes its hosts and journal (the session's end
        then waits for less; see :meth:`end`)."""
        if self._executor is not None:
            self._wake()

    def end(
        self, session: Session, eta_first: float | None = None, eta_made: float | None = None
    ) -> None:
        """Hand what is left, the session's end (complete) and the close of the database to
        the recorder's thread, and return: the runner writes its report meanwhile (the
        last transaction and the checkpoint's sync cost it nothing). :meth:`finish` waits."""
        if self.db is None or self._ending or self._executor is None:
            return  # (no thread: finish closes the database itself)
        self._ending = True
        db = self.db
        self._wake()
        if not self._failed:
            self._submit(self._flush)
            self._submit(
                lambda: db.end_session(
                    self._session_id,
                    session.finished,
                    session.interrupted,
                    eta_first,
                    eta_made,
                )
            )
            if not db.backend.leaves_log:
                # The session's log into the database (deferred until now, see
                # CHECKPOINT_PAGES) even when another connection keeps the close below
                # from doing it. The program leaves it to the next recorder (see start).
                self._submit(db.backend.checkpoint)
        # Closed in the thread too, failed or not (a close checkpoints the WAL: a sync).
        self._executor.submit(_close, db)

    def finish(
        self, session: Session, eta_first: float | None = None, eta_made: float | None = None
    ) -> None:
        """Write what is left and mark the session complete (unless :meth:`end` did); then
        wait until the database is closed."""
        if self.db is None:
            return
        self.end(session, eta_first, eta_made)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        else:
            _close(self.db)
        self.db = None

    def close(self) -> None:
        """Give up without writing more (a session that never started)."""
        if self._executor is not None:
            self._wake()
            self._executor.shutdown(wait=True)
            self._executor = None
        if self.db is not None:
            if not self._ending:  # else the thread closed it
                _close(self.db)
            self.db = None

    def _wake(self) -> None:
        """End the wait of a batch: what is there is written now."""
        with self._ready:
            self._closing.set()
            self._ready.notify_all()

    def _submit(self, work: Callable[[], None]) -> None:
        assert self._executor is not None

        def guarded() -> None:
            if self._failed:
                return
            try:
                work()
            except Exception as exc:
                self._fail(exc)

        self._executor.submit(guarded)

    def _fail(self, exc: Exception) -> None:
        if self._failed:
            return
        self._failed = True
        from assay.results.db import DatabaseError

        where = self.db.where if self.db is not None else "?"
        text = (
            exc.message if isinstance(exc, DatabaseError) else f"results database {where}: {exc!r}"
        )
        self._warn(
            f"{text}; the rest of this session is not recorded there (its journal and report "
            "are written as always, and the next session imports it)"
        )


def _close(db: ResultsDB) -> None:
    with contextlib.suppress(Exception):  # closing after a failure: nothing more to say
        db.close()
