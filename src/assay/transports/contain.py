"""Containment: every process a job starts dies with the job, even one that left its group.

Killing a job's process group misses what left the group: ``setsid cmd &``, a daemon's
double fork. On Linux the runner therefore becomes a *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``): a process orphaned anywhere below it is re-parented to
the runner instead of to init, so it stays in the runner's tree, and the runner must reap it
when it dies. Each job process is started with a random ``ASSAY_CASE_TOKEN`` in its
environment, which everything it starts inherits. So:

* when a job ends (passed, failed, timed out or interrupted), the runner's adopted children
  whose token is that job's (or any other job's that has ended) are killed, with everything
  below them: a case never leaves a process behind, not even a daemon it meant to keep;
* when the session ends, every adopted process still alive is killed, whatever its
  environment (a process that cleared it, ``env -i``, is caught here, not at its case's end);
* an adopted process that dies is reaped: on SIGCHLD and at each job's end.

The runner reaps only zombies it can tell are adopted: a child that is not a job process it
started itself (those are waited for by their own :class:`~assay.transports.localproc.LocalProcess`)
and that is in another session than the runner. Every child assay starts in a new session
must therefore be a registered job process; helper commands (``sbatch``, ``squeue``) run in
a process group of their own inside the runner's session, and a command comparator is
waited for on the event loop's thread, where no reaping can run in between.

Not contained: processes that leave the runner's tree entirely through another service (a
job submitted to Slurm, ``at``, ``ssh``), and processes that change user (their environment
cannot be read) until the session ends. After a SIGKILL of the runner itself nothing can
act; ``assay run --resume`` ends what the killed runner's cases left (see the journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable

from assay.transports import procfs

TOKEN = "ASSAY_CASE_TOKEN"  # noqa: S105 - a variable name, not a secret

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_MAX_ROUNDS = 100  # kill rounds per sweep: a fork bomb gets no more chances than this
# A job that ran this long has its leftovers looked for among all processes: pids could
# have wrapped around meanwhile. For a shorter one, only those with later pids (cheap).
_SHORT = 1.0
_FEW = 256  # this few pids handed out since a job started: look each up, list nothing


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def get_subreaper() -> bool:
    """Whether this process is a child subreaper."""
    libc = _libc()
    if libc is None:
        return False
    flag = ctypes.c_int(0)
    return libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and bool(
        flag.value
    )


def set_subreaper(on: bool) -> bool:
    """Make this process a child subreaper (or not); whether the kernel agreed."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)


_LOST_SIGCHLD = f"Signal {int(signal.SIGCHLD)} ignored due to race condition"


def quiet_lost_sigchld() -> None:
    """Say nothing of a SIGCHLD that arrives while its handler is being removed.

    Removing the handler (``loop.remove_signal_handler``, also done by the loop's close)
    restores SIG_DFL. A child that dies in the instant between CPython's check of pending
    signals and the change trips the old C handler; CPython then finds no Python handler
    and reports "Signal 17 ignored due to race condition" with a traceback on stderr. For
    SIGCHLD, SIG_DFL is "ignore" and every child is reaped elsewhere, so nothing is lost:
    the report alone is dropped, every other unraisable exception goes to the hook before.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_assay_lost_sigchld", False):
        return

    def hook(args: sys.UnraisableHookArgs) -> None:
        if not (isinstance(args.exc_value, OSError) and str(args.exc_value) == _LOST_SIGCHLD):
            previous(args)

    hook._assay_lost_sigchld = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


class Containment:
    """The runner's side of containment: tokens, the registered job processes, sweeps."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.sid = os.getsid(0)
        self.roots: dict[int, str] = {}  # live job processes the runner waits for: pid -> token
        # Every token starts with this, told to ``on_prefix`` (the session's journal) before
        # the first token is issued: a runner killed while a job starts (its pid not
        # journaled yet) leaves nothing --resume cannot find (see :func:`end_left_behind`).
        self.prefix = os.urandom(8).hex()
        self.on_prefix: Callable[[str], None] | None = None
        self._issued: set[str] = set()
        # Tokens of job processes being started in the starter thread: a child whose start
        # is under way is not registered yet, but it is no leftover (not killed) and its
        # exit status is its LocalProcess's (not reaped as an adopted zombie).
        self._starting: set[str] = set()
        self._reap_owed = False  # a reaping pass skipped while a start was under way
        self.active = False
        self._was_subreaper = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifetime -------------------------------------------------------------------------

    def start(self) -> None:
        """Become a subreaper and reap adopted processes on SIGCHLD (needs the running loop)."""
        if self.active:
            return
        self._was_subreaper = get_subreaper()
        if not set_subreaper(True):
            return  # not Linux: job process groups are all that can be stopped
        self.active = True
        quiet_lost_sigchld()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
            self._loop = loop
        except (RuntimeError, ValueError):  # not the main thread: job ends still reap
            self._loop = None

    async def stop(self) -> None:
        """Kill every adopted process left, reap them, and stop being a subreaper."""
        if not self.active:
            return
        killed = self._kill(lambda _token: True)
        await self._reap_killed(killed)
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None
        set_subreaper(self._was_subreaper)
        self.active = False

    # -- job processes --------------------------------------------------------------------

    def issue(self) -> str:
        """A token for a new job process's environment: :attr:`prefix` and a count (as
        long as ``os.urandom(16).hex()``, which it was: only its start is journaled)."""
        count = len(self._issued)
        if count == 0 and self.on_prefix is not None:
            self.on_prefix(self.prefix)  # (before any start: a failed write starts none)
        token = f"{self.prefix}{count:016x}"
        self._issued.add(token)
        return token

    def register(self, pid: int, token: str) -> None:
        self.roots[pid] = token

    @property
    def starts(self) -> int:
        """Job processes being started off the loop's thread now."""
        return len(self._starting)

    def starting(self, token: str) -> None:
        """A job process with ``token`` is being started off the loop's thread: until
        :meth:`started`, its child (pid not known here yet) counts as a live job's, and no
        zombie is reaped (it could be that child's)."""
        self._starting.add(token)

    def started(self, token: str) -> None:
        """The start of ``token``'s process ended: registered, or nothing started."""
        self._starting.discard(token)
        if not self._starting and self._reap_owed:
            self._reap_owed = False
            if self._loop is not None:  # (a callback: nothing it raises reaches the case)
                self._loop.call_soon(self._reap_dead)

    def unregister(self, pid: int, token: str) -> None:
        # The pid may already name a newer job process (reused): only drop our own entry.
        if self.roots.get(pid) == token:
            del self.roots[pid]

    def sweep(self, after: int | None = None, lived: float = 0.0) -> None:
        """Kill what ended job processes left behind; ``after`` is the pid of the one that
        just ended, which ran for ``lived`` seconds (its leftovers have later pids)."""
        if not self.active or self._none_adopted():
            return
        live = set(self.roots.values())
        live.update(self._starting)
        self._kill(
            lambda token: token is not None and token in self._issued and token not in live,
            self._floor(after, lived),
        )

    # -- internals ------------------------------------------------------------------------

    def _on_sigchld(self) -> None:
        # The pass runs now: asyncio already runs this handler as a callback of the loop,
        # the turn after the one that read the signal (and, with it, the pidfd of the job
        # that exited: reaped by then). A callback more per job end was a Handle and a loop
        # step; a job zombie still there stops the pass as before (see below).
        self._reap_dead()

    def _reap_dead(self) -> None:
        """Reap adopted processes that died (no scan: ask the kernel which child is dead)."""
        if self._starting:  # a zombie may be a child not registered yet: after the start
            self._reap_owed = True
            return
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            # A job process is reaped by its own LocalProcess, a helper by asyncio; the rest
            # show up again at the next job's end.
            if info is None or info.si_pid in self.roots:
                return
            proc = procfs.stat(info.si_pid)
            if proc is None or not proc.zombie or not self._adopted(proc):
                return
            try:
                if os.waitpid(proc.pid, os.WNOHANG)[0] == 0:
                    return  # not reapable after all: never spin on it
            except ChildProcessError:
                return

    def _floor(self, after: int | None, lived: float) -> int:
        """The pid above which a job's leftovers are: the job's own, as long as pids cannot
        have wrapped around since it started (a short job, a counter still above it);
        else 0, every process."""
        if after is None or lived > _SHORT:
            return 0
        last = procfs.last_pid()
        return after - 1 if last is not None and last >= after else 0

    def _snapshot(self, above: int) -> dict[int, procfs.ProcStat]:
        """The processes that may be adopted, or below one. A live job process is neither
        (what it starts has it as parent until it exits): not even read."""
        found = {}
        uid = os.geteuid()
        last = procfs.last_pid() if above else None
        if last is not None and 0 <= last - above <= _FEW:
            candidates: Iterable[int] = range(above + 1, last + 1)  # no listing of /proc
        else:
            candidates = procfs.pids(above)
        for pid in candidates:
            if pid in self.roots:
                continue
            # Not root: another user's process is none of ours (nor could it be killed).
            if uid != 0 and procfs.owner(pid) != uid:
                continue
            proc = procfs.stat(pid)
            if proc is not None:
                found[pid] = proc
        return found

    def _none_adopted(self) -> bool:
        """What a job leaves is adopted: a child of the runner's main thread (the kernel
        gives orphans to a subreaper's first live thread). Whether it has no child but live
        job processes (the usual end of a job, or of a session): then there is nothing to
        look for among all processes. A job process is a child of the thread that started it:
        one started on the main thread is registered; one the starter thread or the
        capabilities-dropped one started is not listed here at all (nor is what other
        threads start, a git probe: never adopted)."""
        children = procfs.main_thread_children(self.pid)
        return children is not None and children <= self.roots.keys()

    def _adopted(self, proc: procfs.ProcStat) -> bool:
        return proc.ppid == self.pid and proc.pid not in self.roots and proc.sid != self.sid

    def _reap(self, procs: Iterable[procfs.ProcStat]) -> None:
        if self._starting:  # (see _reap_dead)
            self._reap_owed = True
            return
        for proc in procs:
            if proc.zombie and self._adopted(proc):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, os.WNOHANG)

    def _kill(self, select: Callable[[str | None], bool], above: int = 0) -> set[int]:
        """SIGKILL every adopted process (with a pid above ``above``) whose token ``select``
        accepts, and all below it, until a fresh look finds nothing new. A process sent
        SIGKILL can fork no more, so the rounds end."""
        killed: set[int] = set()
        if self._none_adopted():
            return killed
        for _ in range(_MAX_ROUNDS):
            procs = self._snapshot(above)
            self._reap(procs.values())
            below: dict[int, list[int]] = defaultdict(list)
            for proc in procs.values():
                below[proc.ppid].append(proc.pid)
            tops = [
                p.pid
                for p in procs.values()
                if not p.zombie and self._adopted(p) and select(procfs.environ_value(p.pid, TOKEN))
            ]
            victims: set[int] = set()
            while tops:
                pid = tops.pop()
                if pid not in victims and not procs[pid].zombie:
                    victims.add(pid)
                    tops.extend(below[pid])
            new = victims - killed
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            killed |= new
        return killed

    async def _reap_killed(self, killed: set[int], timeout: float = 2.0) -> None:
        """Wait (briefly) for killed processes to die and reap those that became ours."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = set(killed)
        while pending and loop.time() < deadline:
            for pid in list(pending):
                proc = procfs.stat(pid)
                if proc is None:
                    pending.discard(pid)
                elif proc.zombie and self._adopted(proc):
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
                    pending.discard(pid)
                elif proc.zombie and proc.ppid not in pending:
                    pending.discard(pid)  # a parent that lives on will reap it
            if pending:
                await asyncio.sleep(0.01)


# How long before its recorded bound a job process may have started (the time Popen took
# to return; seconds). A pid reused later starts after the bound, so it never matches.
_SPAWN_SLACK = 5


def _same_process(proc: procfs.ProcStat, latest_start: int) -> bool:
    earliest = latest_start - _SPAWN_SLACK * procfs._TICKS
    return earliest <= proc.start <= latest_start


async def end_left_behind(
    processes: Iterable[tuple[int, int, str]],
    prefixes: Iterable[str] = (),
    timeout: float = 10.0,
) -> list[int]:
    """End what the job processes of a killed runner left running (``--resume``): each
    recorded process group whose leader is still the same process (same pid, and a start
    time just before the recorded bound: a pid reused since started later, and is never
    touched), and every process carrying one of their tokens (what left the group) or a
    token that starts with one of ``prefixes`` (the killed runner's, journaled before its
    first job started: a job it started but had not journaled yet). Waits until they are
    dead; returns the pids killed."""
    records = list(processes)
    tokens = {token for _, _, token in records}
    starts = tuple(p for p in prefixes if p)  # ("": every token; never meant)
    me = os.getpid()
    killed: set[int] = set()
    for _ in range(_MAX_ROUNDS):
        new: set[int] = set()
        for pid, start, _token in records:
            proc = procfs.stat(pid)
            if proc is not None and _same_process(proc, start) and not proc.zombie:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                new.add(pid)
        for pid in procfs.pids():
            token = procfs.environ_value(pid, TOKEN) if pid != me else None
            if token is not None and (token in tokens or token.startswith(starts)):
                proc = procfs.stat(pid)
                if proc is not None and not proc.zombie:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                    new.add(pid)
        if not new - killed:
            break
        killed |= new
    # Not our children: wait until the kernel says they are dead (zombies, or gone).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        alive = [p for p in killed if (s := procfs.stat(p)) is not None and not s.zombie]
        if not alive:
            break
        await asyncio.sleep(0.02)
    return sorted(killed)
