"""The session journal: what a runner did, written as it happens, so nothing is lost.

``journal.jsonl`` in the session directory gets one line per event, flushed at once (and
made durable before a case's verdict is shown, see :class:`Journal`): a
batch job submitted for a case (job id, packed or not), what the runner's containment tokens
start with (before its first local job starts), a local job process started (pid, start
time, containment token), and a case's final result. If the runner dies (even by
SIGKILL, which it cannot catch) ``assay run --resume`` reads it back: finished cases keep
their results, local processes the dead runner left are ended before anything starts, and
jobs still known to the scheduler are followed again instead of being submitted twice.
"""

from __future__ import annotations

import asyncio
import io
import os
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import msgspec

from assay.results.model import CaseResult, Status

NAME = "journal.jsonl"
SYNC_INTERVAL = 0.05
"""Seconds between the starts of two syncs at least, unless a sync may not wait (a verdict
shows at most this much later; one sync then covers the cases of that time)."""


class _Job(msgspec.Struct):
    t: str
    case: str
    job: str
    packed: bool = False


class _Process(msgspec.Struct):
    t: str
    pid: int  # also its process group: a job process leads its own
    # Field 22 of /proc/PID/stat (clock ticks after boot) is at most this, and not by much:
    # with the pid, it names this one process for good.
    start: int
    token: str  # the ASSAY_CASE_TOKEN everything it started inherited


class _Tokens(msgspec.Struct):
    t: str
    # Every ASSAY_CASE_TOKEN the runner hands out starts with it: 16 hex digits, as
    # Containment.prefix makes it. Any other line is not the runner's and is ignored: a
    # shorter prefix ("0") would have --resume end every process whose token starts so.
    prefix: Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-f]{16}\Z")]


class _Result(msgspec.Struct):
    t: str
    case: str
    result: CaseResult


class Recovered(msgspec.Struct):
    """What an earlier runner of a session left behind."""

    # case id -> final result
    results: dict[str, CaseResult] = msgspec.field(default_factory=dict)
    # case id -> (job, packed)
    jobs: dict[str, tuple[str, bool]] = msgspec.field(default_factory=dict)
    # (pid, latest start time, token) of each local job process
    processes: list[tuple[int, int, str]] = msgspec.field(default_factory=list)
    # what the tokens of each runner of the session start with (its jobs, journaled or not)
    prefixes: list[str] = msgspec.field(default_factory=list)


class Journal:
    """Appends events to a session's journal.

    Each event is written and flushed at once, so a killed runner loses nothing it wrote.
    Against a crash of the machine itself (a power cut), :meth:`sync` makes what was
    written durable: the runner awaits it before it shows a finished case's verdict. Cases
    that finish together share one ``fdatasync`` (group commit), which runs in a thread of
    the journal's own, so the event loop never waits on the disk; and syncs start at most
    once every :data:`SYNC_INTERVAL` unless the caller says none may wait (the session's
    last case): each is a commit of the file system's own journal, which held up the next
    case's directory and files (measured: 210 syncs of 0.35 ms for 200 serial cases, and
    13-17% of the time from one job's exit to the next one's start).
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / NAME
        self._fh: io.FileIO | None = None
        self._encoder = msgspec.json.Encoder()
        self._written = 0  # events written so far
        self._synced = 0  # of which known to be on disk
        self._syncing = False  # a sync is under way in the journal's thread
        self._sync_loop: asyncio.AbstractEventLoop | None = None  # (started from this loop)
        # What each sync() waits for: (events that must be on disk, its own future). Each
        # waiter has its own future: cancelling one (an interrupted case) leaves the sync,
        # and the others, going on.
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._thread: _SyncThread | None = None
        self._dir_synced = False  # (the directory, once the file is in it)
        self._last_start = -SYNC_INTERVAL  # (loop time) when the last sync started
        self._timer: asyncio.TimerHandle | None = None  # the start of a sync that waits
        self._urgent = False  # a waiter may not wait for the interval

    def _write(self, event: object) -> None:
        if self._fh is None:
            # Unbuffered: each event is one write system call, with no flush after it.
            self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for the session
        line = memoryview(self._encoder.encode(event) + b"\n")
        while line:  # a regular file takes it whole; should it not, the rest follows
            line = line[self._fh.write(line) :]
        self._written += 1

    async def sync(self, at_once: bool = False) -> None:
        """Return once every event written so far is on disk. The sync that does it starts
        within :data:`SYNC_INTERVAL` of the one before it, or at once with ``at_once``
        (nothing else will come to share it: the session's last verdict)."""
        target = self._written
        if self._synced >= target or self._fh is None:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append((target, waiter))
        self._urgent = self._urgent or at_once
        # Else the sync under way tells the loop, which starts the next one then (unless
        # it was started from another event loop, which may be gone before it could be
        # told: not waited for).
        if not self._syncing or self._sync_loop is not loop:
            self._next_sync(loop)
        await waiter

    def _next_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a sync now, or once :data:`SYNC_INTERVAL` has passed since the last one
        started (urgent waiters: now)."""
        wait = self._last_start + SYNC_INTERVAL - loop.time()
        if self._urgent or wait <= 0:
            self._start_sync(loop)
        elif self._timer is None:
            self._timer = loop.call_later(wait, self._timed_sync, loop)

    def _timed_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        under_way = self._syncing and self._sync_loop is loop  # (it starts the next)
        if not under_way and self._fh is not None and self._waiters:
            self._start_sync(loop)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        """Sync every event written so far, in the journal's thread, which then tells the
        loop (group commit: events written meanwhile wait for the next sync)."""
        assert self._fh is not None
        self._cancel_timer()
        self._syncing, self._sync_loop, self._urgent = True, loop, False
        self._last_start = loop.time()
        self.start_syncing().submit(
            _sync_and_tell, loop, self._fh.fileno(), self._written, self._synced_to
        )

    def _synced_to(self, upto: int) -> None:
        """(On the loop's thread.) Events up to ``upto`` are on disk: wake their waiters;
        start the next sync if some wait for later events."""
        self._syncing = False
        self._synced = max(self._synced, upto)
        later = []
        for target, waiter in self._waiters:
            if waiter.done():  # cancelled: nobody waits any more
                continue
            if target <= self._synced:
                waiter.set_result(None)
            else:
                later.append((target, waiter))
        self._waiters = later
        if later and self._fh is not None:
            self._next_sync(asyncio.get_running_loop())

    def start_syncing(self) -> _SyncThread:
        """Start the thread the syncs run in and, once the file is there, sync the directory
        (the new file's name must last too): at the first sync at the latest. The session
        calls it once its first process started, so that the first verdict waits for less."""
        if self._thread is None:
            self._thread = _SyncThread()
        if not self._dir_synced and self._fh is not None:
            self._dir_synced = True
            self._thread.submit(_sync_dir, self.path.parent)
        return self._thread

    def job(self, case_id: str, job_id: str, packed: bool = False) -> None:
        self._write(_Job("job", case_id, job_id, packed))

    def tokens(self, prefix: str) -> None:
        """Every token this runner's job processes get starts with ``prefix``: written
        before the first starts, so that ``--resume`` ends a job process whose start the
        runner did not live to journal (one started in a starter thread, its pid on the way
        to the event loop when the runner was killed)."""
        self._write(_Tokens("tokens", prefix))

    def process(self, pid: int, start: int, token: str) -> None:
        """A local job process started: if the runner is killed, ``--resume`` ends it (and
        what it started) before running anything again."""
        self._write(_Process("proc", pid, start, token))

    def result(self, result: CaseResult) -> None:
        if result.status == Status.ABORTED:  # run again on resume; its job was cancelled
            self._write(_Job("forget", result.key, ""))
        else:
            self._write(_Result("result", result.key, result))

    def close(self) -> None:
        self._cancel_timer()  # (what it would sync is synced below)
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._fh is not None:
            if self._synced < self._written:
                _datasync(self._fh.fileno())
                if self._synced == 0:
                    _sync_dir(self.path.parent)
            self._fh.close()
            self._fh = None


class _SyncThread:
    """The journal's thread: runs what it is handed, one thing at a time, in order.

    A queue and a thread of its own rather than a ``ThreadPoolExecutor``: a sync is handed
    over for every few cases, and the executor makes a future (with its lock and condition)
    and does its own bookkeeping on both threads for each, which nobody here reads.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[object, ...]] | None]
        self._queue = queue.SimpleQueue()
        # A daemon: a session that never calls close() must not hang the interpreter's exit.
        self._thread = threading.Thread(target=self._work, name="assay-journal", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[..., None], *args: object) -> None:
        self._queue.put((work, args))

    def _work(self) -> None:
        get = self._queue.get
        while (item := get()) is not None:
            work, args = item
            work(*args)  # (each catches its own errors: a sync that fails is only skipped)

    def stop(self) -> None:
        """Return once everything handed over so far is done; the thread then ends."""
        self._queue.put(None)
        self._thread.join()


def _sync_and_tell(
    loop: asyncio.AbstractEventLoop, fd: int, upto: int, tell: Callable[[int], None]
) -> None:
    _datasync(fd)
    try:
        loop.call_soon_threadsafe(tell, upto)
    except RuntimeError:  # the loop is closed: nobody is waiting
        pass


def _datasync(fd: int) -> None:
    try:
        os.fdatasync(fd)
    except OSError:  # a disk that cannot sync: the runner goes on; it is only less durable
        pass


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        _datasync(fd)
    finally:
        os.close(fd)


def recover(directory: Path, owned: str | None = None) -> Recovered:
    """Read a session's journal (a torn last line, from a crash mid-write, is ignored).
    ``owned`` (the use, such as ``--resume``, which acts on what it says): refuse a journal
    this user does not own or others may write (:func:`assay.owned.read_owned`)."""
    found = Recovered()
    lines = _lines(directory / NAME) if owned is None else _owned_lines(directory / NAME, owned)
    for line in lines:
        try:
            kind = msgspec.json.decode(line, type=dict)["t"]
            if kind == "job":
                job = msgspec.json.decode(line, type=_Job)
                found.jobs[job.case] = (job.job, job.packed)
            elif kind == "forget":
                found.jobs.pop(msgspec.json.decode(line, type=_Job).case, None)
            elif kind == "proc":
                proc = msgspec.json.decode(line, type=_Process)
                found.processes.append((proc.pid, proc.start, proc.token))
            elif kind == "tokens":
                found.prefixes.append(msgspec.json.decode(line, type=_Tokens).prefix)
            elif kind == "result":
                done = msgspec.json.decode(line, type=_Result)
                found.results[done.case] = done.result
        except (msgspec.DecodeError, KeyError, TypeError):
            continue
    return found


def _owned_lines(path: Path, what: str) -> Iterator[bytes]:
    from assay.owned import read_owned  # lazy: only --resume reads a journal this way

    data = read_owned(path, what)
    return iter(line for line in (data or b"").splitlines(keepends=True) if line.strip())


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            yield from (line for line in fh if line.strip())
    except FileNotFoundError:
        return
