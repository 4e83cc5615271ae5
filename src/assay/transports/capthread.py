"""A thread of the runner without root's mode-overriding capabilities, for starting the
job processes that must run without them: one ``execve`` per job, where ``setpriv`` as an
exec wrapper costs a second one (about 1 ms of CPU per job).

Linux keeps capabilities per thread: ``prctl(PR_CAPBSET_DROP)`` and ``capset`` change the
calling thread only, and a process started from a thread (``posix_spawn``'s ``clone``,
``fork``) gets that thread's sets. This thread drops ``CAP_DAC_OVERRIDE`` and
``CAP_FOWNER`` from its bounding set and its inheritable set (an exec as root gets
inheritable | bounding; lowering the inheritable set lowers the ambient set with it, as
``setpriv --inh-caps`` does), checks with the kernel that they are gone, then runs the
start calls handed to it, one at a time, while the caller waits (the caller waits for the
child's exec anyway: a start needs the thread's credentials, not parallelism). Its
effective and permitted sets stay, so a start opens the output files as before. Every
other thread, the event loop's included, keeps all of its capabilities.

The thread never exits: a child's ``PR_SET_PDEATHSIG`` fires when the *thread* that
started it ends (nothing here sets one, but a job's own children may rely on their
parent), and a thread that ended would leave no dropped thread to start the next job. It
is started on the first job that needs it; where the kernel refuses the drop (no
``CAP_SETPCAP``, a seccomp filter), :func:`dropped_thread` answers None once and for all
and the caller keeps the ``setpriv`` wrapper.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from assay.transports.starter import StartFuture, run_and_settle

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

CAP_DAC_OVERRIDE = 1
CAP_FOWNER = 3
DROPPED = (CAP_DAC_OVERRIDE, CAP_FOWNER)
"""The capabilities the thread's children start without (bit numbers of CapBnd etc.)."""

# <linux/prctl.h> and <linux/capability.h>
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_IS_SET = 1
_CAPABILITY_VERSION_3 = 0x20080522
_INHERITABLE = 2  # {effective, permitted, inheritable} per 32 capabilities: the low word's


class CapsDroppedThread:
    """The thread that starts processes without :data:`DROPPED` (see the module's text)."""

    def __init__(self, libc: Any) -> None:
        self._requests: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
        self._refused: OSError | None = None
        ready = threading.Lock()
        ready.acquire()
        self.thread = threading.Thread(
            target=self._main, args=(libc, ready), name="assay-caps-dropped", daemon=True
        )
        self.thread.start()
        ready.acquire()  # released once the drop is done (or refused)
        if self._refused is not None:
            raise self._refused

    def _main(self, libc: Any, ready: threading.Lock) -> None:
        try:
            drop(libc)
        except OSError as exc:
            # Ends here: this thread started nothing, and no caller will hand it anything.
            self._refused = exc
            ready.release()
            return
        ready.release()
        get = self._requests.get
        while True:
            request = get()
            try:
                request[3] = request[0](*request[1])
            except BaseException as exc:  # handed back to the caller, raised there
                request[4] = exc
            request[2].release()

    def submit(
        self, loop: asyncio.AbstractEventLoop, function: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """``function(*args)`` run in this thread while ``loop`` goes on: its result (or
        what it raised) in the future, set in ``loop`` (as
        :meth:`assay.transports.starter.Starter.submit`; nobody but the caller may
        cancel the future: a start under way goes on, and its child must be taken in)."""
        future: asyncio.Future[T] = StartFuture(loop=loop)
        # run_and_settle raises nothing and hands the outcome to the loop itself: nobody
        # waits on the request's lock.
        self._requests.put([run_and_settle, (loop, future, function, args), _NOBODY, None, None])
        return future

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` run in this thread (what it starts has its capabilities)
        while the caller waits; what it raises is raised here."""
        done = threading.Lock()
        done.acquire()
        # [function, args, done, result, error]: a list, the cheapest object to fill in.
        request: list[Any] = [function, args, done, None, None]
        self._requests.put(request)
        try:
            done.acquire()
        except BaseException:
            # A signal handler raised while we waited: the start goes on in the thread.
            # Raised once it is done, as from a start in this thread (whose C call a
            # handler cannot cut short), so that no child starts after its caller gave up.
            done.acquire()
            raise
        if request[4] is not None:
            raise request[4]
        result: T = request[3]
        return result


class _Nobody:
    """The lock of a request nobody waits for (:meth:`CapsDroppedThread.submit`)."""

    def release(self) -> None:
        pass


_NOBODY = _Nobody()


def drop(libc: Any) -> None:
    """Drop :data:`DROPPED` from the calling thread's bounding and inheritable sets, and
    make sure with the kernel that they are out of those and the ambient set; raises
    :class:`OSError` where it refuses."""
    for cap in DROPPED:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            _refused("prctl(PR_CAPBSET_DROP)")
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)  # pid 0: this thread
    data = (ctypes.c_uint32 * 6)()
    if libc.capget(header, data) != 0:
        _refused("capget")
    data[_INHERITABLE] &= ~sum(1 << cap for cap in DROPPED)
    if libc.capset(header, data) != 0:
        _refused("capset")
    check = (ctypes.c_uint32 * 6)()
    if libc.capget(header, check) != 0:
        _refused("capget")
    for cap in DROPPED:
        inheritable = check[_INHERITABLE] & (1 << cap)
        bounding = libc.prctl(_PR_CAPBSET_READ, cap, 0, 0, 0)
        # -1: a kernel without ambient capabilities (before 4.3), which has none to keep.
        ambient = libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_IS_SET, cap, 0, 0)
        if inheritable or bounding != 0 or ambient == 1:
            raise OSError(f"capability {cap} is still there after dropping it")


def _refused(call: str) -> None:
    errno = ctypes.get_errno()
    raise OSError(errno, f"{call}: {os.strerror(errno)}")


_lock = threading.Lock()
_thread: CapsDroppedThread | None = None
_tried = False


def dropped_thread() -> CapsDroppedThread | None:
    """This process's thread without :data:`DROPPED`, started on the first call; None
    where the kernel refuses to drop them (the answer is kept)."""
    global _thread, _tried
    if _tried:  # (no lock once decided: once per job)
        return _thread
    with _lock:
        if not _tried:
            try:
                _thread = CapsDroppedThread(ctypes.CDLL(None, use_errno=True))
            except (OSError, AttributeError):  # refused, or no prctl/capget in this C library
                _thread = None
            _tried = True
    return _thread


def _forget() -> None:
    """In a forked child: the thread is not there (only the forking thread is)."""
    global _thread, _tried, _lock
    _thread, _tried, _lock = None, False, threading.Lock()


os.register_at_fork(after_in_child=_forget)
