"""assay's agent on a remote host: runs commands and job processes, reads and writes files.

This file uses only the Python standard library, imports nothing from assay and runs on any
Python >= 3.7: assay copies it to the remote host (``WORKDIR/bin/hostagent-HASH.py``) and
starts it there over SSH, with no assay installed on that host.

``python3 -I hostagent.py connect NAME LINGER`` (started by assay through the short program
of :mod:`assay.transports.ssh_boot`, which checks this file and keeps it compiled) runs in
one SSH exec channel. It finds the session's agent daemon (a Unix socket
``$TMPDIR/assay-UID/NAME.sock``, in a directory only this user may enter), starts it when
there is none, and hands the channel's two pipes over to it (``SCM_RIGHTS`` on the
socket): the daemon reads the requests and writes its answers on the channel itself, with no
process in between to wake for every message, and the connector only waits until the daemon
is done with the channel. (A daemon that does not take them, an older assay's still serving a
resumed session, gets the channel's bytes relayed.)
The daemon runs in a session of its own, so it and the jobs it started outlive the channel:
when the SSH connection drops, the jobs keep running, and assay, once reconnected, asks the
same daemon how they are doing (nothing is started twice: every request carries an id of
assay's, and a request seen before gets the answer it got then). When no assay has been
connected for LINGER seconds, the daemon kills every job it started (their process groups,
and what left a group, found by the token in its environment) and exits: a lost laptop
leaves no orphan behind. ``shutdown`` (at the end of a run) does the same at once.

The protocol: frames of a 4-byte big-endian length and a UTF-8 JSON object. Requests carry
``rid`` (assay's id) and ``op``; each gets one answer with the same ``rid`` and ``ok``
(``error`` and ``errno`` when it failed). The daemon also sends ``{"event": "exit", "job":
ID, "status": N}`` when a job ends (``N`` < 0: killed by signal ``-N``). File contents
travel base64-encoded.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import heapq
import json
import os
import re
import selectors
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from queue import SimpleQueue

# What the agent's start imports costs the host's CPU on the way to a run's first case:
# typing (annotations only), concurrent.futures (and logging), pathlib and secrets stay out.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
PROTOCOL = 2
"""The protocol's version, in the hello answer: a daemon of another version (an older
assay's, still serving a resumed session) is refused by the client, not spoken to."""
TOKEN = "ASSAY_CASE_TOKEN"  # noqa: S105 - marks every process a job starts (also in assay's own runner)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_REMEMBERED = 4096  # answers kept for requests that must not run twice


def socket_dir() -> str:
    """This user's private directory for agent sockets; refused if anyone else could
    have made or could enter it."""
    path = os.path.join(tempfile.gettempdir(), f"assay-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise SystemExit(f"assay agent: {path} is not a private directory of this user")
    return path


def read_frame(sock: socket.socket | Pipes) -> dict[str, Any] | None:
    header = _read_exactly(sock, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    body = _read_exactly(sock, size)
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body.decode())
    return message


def _read_exactly(sock: socket.socket | Pipes, size: int) -> bytes | None:
    chunks = []
    while size:
        data = sock.recv(min(size, 1 << 20))
        if not data:
            return None
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


# -- the channel handed over -------------------------------------------------------------------

ADOPT = "adopt"  # the connector's first frame, with the channel's stdin and stdout attached
_FDS = socket.CMSG_SPACE(2 * struct.calcsize("i"))  # room for those two descriptors


def read_first_frame(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """A connection's first frame, and the descriptors that came with it (the connector's
    channel, see :func:`hand_over`); they are not inherited by anything the daemon starts."""
    data, ancillary, _flags, _address = sock.recvmsg(HEADER.size, _FDS)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds += list(struct.unpack(f"{usable // 4}i", payload[:usable]))
    for fd in fds:
        os.set_inheritable(fd, False)
    try:
        rest = _read_exactly(sock, HEADER.size - len(data)) if data else None
        if rest is None:
            raise ValueError("no frame")
        (size,) = HEADER.unpack(data + rest)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes")
        body = _read_exactly(sock, size)
        if body is None:
            raise ValueError("no frame")
        message: dict[str, Any] = json.loads(body.decode())
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return message, fds


class Pipes:
    """The SSH channel's stdin and stdout, handed over by its connector, whose socket comes
    with them: closing it lets the connector end (and the channel with it).

    Only the thread that reads closes the read end (:meth:`close_reader`): a ``read`` under
    way is not interrupted by a ``close`` from another thread, and the descriptor's number,
    once free, could name another file for that thread's next read.
    """

    def __init__(self, read_fd: int, write_fd: int, sock: socket.socket) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.sock = sock
        self.lock = threading.Lock()

    def recv(self, size: int) -> bytes:
        return os.read(self.read_fd, size)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def close(self) -> None:
        """Stop writing to the channel and let the connector go (any thread)."""
        with self.lock:
            fd, self.write_fd = self.write_fd, -1
        if fd >= 0:
            os.close(fd)
            _close(self.sock)

    def close_reader(self) -> None:
        """Close the read end (the reading thread only, once it has stopped reading)."""
        self.close()
        fd, self.read_fd = self.read_fd, -1
        if fd >= 0:
            os.close(fd)


# -- jobs ------------------------------------------------------------------------------------


class Job:
    def __init__(self, jid: str, proc: subprocess.Popen[bytes] | Spawned, token: str) -> None:
        self.jid = jid
        self.proc = proc
        self.token = token
        self.status: int | None = None
        self.ended = threading.Event()
        self.started = time.monotonic()
        self.timer: threading.Timer | None = None  # its time limit, cancelled as it ends
        self.grace = 2.0  # seconds between SIGTERM and SIGKILL at its time limit
        # What to bring back as it ends (the collect request's fields, and the directory
        # and its listing when it started): sent with its exit event, a request saved.
        self.collect: dict[str, Any] | None = None

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class Spawned:
    """A job process started by :class:`Spawner`: what the daemon asks of a ``Popen``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        """Its status as ``Popen`` gives it (negative: killed by that signal)."""
        while self.returncode is None:
            try:
                _pid, status = os.waitpid(self.pid, 0)
            except InterruptedError:
                continue
            except ChildProcessError:  # reaped elsewhere: nothing more to learn
                self.returncode = 255
                break
            if os.WIFSIGNALED(status):
                self.returncode = -os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                self.returncode = os.WEXITSTATUS(status)
        return self.returncode


class Spawner:
    """Starts a job with the C library's ``posix_spawn`` (glibc >= 2.34), through ctypes:
    the call releases the interpreter lock while the child starts. ``Popen``'s ``vfork``
    holds it (Python < 3.12) until the child has exec'd, and the daemon's other threads
    (the answers, the exit events) wait meanwhile, for every job started. The child gets
    what ``Popen`` gives it here: its own session, stdin from ``/dev/null``, its output
    files, no other descriptor, the signals Python ignores back to their default."""

    _OUT = os.O_WRONLY | os.O_CREAT | os.O_TRUNC

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ptr = ctypes.c_void_p
        self._spawn = libc.posix_spawn
        self._spawn.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ptr, ptr, ptr, ptr]
        self._init = libc.posix_spawn_file_actions_init
        self._destroy = libc.posix_spawn_file_actions_destroy
        self._open = libc.posix_spawn_file_actions_addopen
        self._open.argtypes = [ptr, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
        self._chdir = libc.posix_spawn_file_actions_addchdir_np
        self._chdir.argtypes = [ptr, ctypes.c_char_p]
        self._closefrom = libc.posix_spawn_file_actions_addclosefrom_np
        self._closefrom.argtypes = [ptr, ctypes.c_int]
        self._attr = ctypes.create_string_buffer(1024)  # posix_spawnattr_t: 336 bytes
        if libc.posix_spawnattr_init(self._attr) != 0:
            raise OSError("posix_spawnattr_init failed")
        defaults = ctypes.create_string_buffer(128)  # sigset_t
        libc.sigemptyset(defaults)
        for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):  # what Popen's restore_signals resets
            if hasattr(signal, name):
                libc.sigaddset(defaults, int(getattr(signal, name)))
        if libc.posix_spawnattr_setsigdefault(self._attr, defaults) != 0:
            raise OSError("posix_spawnattr_setsigdefault failed")
        # POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF (a flag glibc does not know fails).
        if libc.posix_spawnattr_setflags(self._attr, ctypes.c_short(0x80 | 0x04)) != 0:
            raise OSError("this C library's posix_spawn cannot start a new session")

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> int:
        """Start ``argv`` (its program named by a path) in ``cwd``; its pid. Raises
        :class:`OSError` as ``Popen`` would, :class:`ValueError` for a NUL byte."""
        ctypes = self.ctypes
        args = [os.fsencode(a) for a in argv]
        paths = [os.fsencode(p) for p in (cwd, out, err)]
        entries = []
        for name, value in env.items():
            if "=" in name:
                raise ValueError(f"illegal environment variable name: {name!r}")
            entries.append(os.fsencode(name) + b"=" + os.fsencode(value))
        if b"\0" in b"\1".join(args + paths + entries):
            raise ValueError("embedded null byte")
        argv_c = (ctypes.c_char_p * (len(args) + 1))(*args, None)
        env_c = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
        actions = ctypes.create_string_buffer(512)  # posix_spawn_file_actions_t: 80 bytes
        if self._init(actions) != 0:
            raise OSError(errno.ENOMEM, "posix_spawn_file_actions_init failed")
        try:
            added = (
                self._open(actions, 0, os.devnull.encode(), os.O_RDONLY, 0)
                or self._open(actions, 1, paths[1], self._OUT, 0o644)
                or self._open(actions, 2, paths[2], self._OUT, 0o644)
                or self._closefrom(actions, 3)
                or self._chdir(actions, paths[0])
            )
            if added:
                raise OSError(added, os.strerror(added))
            pid = ctypes.c_int(0)
            failed = self._spawn(ctypes.byref(pid), args[0], actions, self._attr, argv_c, env_c)
        finally:
            self._destroy(actions)
        if failed:
            named = argv[0]
            for path in (out, err):
                if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                    named = path
            if named == argv[0] and not os.path.isdir(cwd):
                named = cwd
            raise OSError(failed, os.strerror(failed), named)
        return int(pid.value)


_spawner: list[Spawner | None] = []  # made at the first job: [] not yet, [None] cannot


def spawner() -> Spawner | None:
    """This daemon's :class:`Spawner`, or None where the C library cannot do it all (not
    Linux, not glibc >= 2.34, no ctypes): jobs then start with ``Popen``."""
    if not _spawner:
        made = None
        if sys.platform.startswith("linux"):
            try:
                made = Spawner()
            except (OSError, AttributeError, ImportError):
                made = None
        _spawner.append(made)
    return _spawner[0]


_SHORT = 1.0  # seconds: a job that ran longer may have seen the pids wrap around
_FEW = 256  # this few pids handed out since a job started: look each up, list nothing


def last_pid() -> int | None:
    """The last process id the kernel handed out in this pid namespace, if it says."""
    try:
        with open("/proc/sys/kernel/ns_last_pid") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


def floor_of(job: Job) -> int:
    """The pid above which a job that just ended has its leftovers: its own, when pids
    cannot have wrapped around since it started (a short job, the counter still above
    its pid); else 0, every process (as assay does for a job on its own machine)."""
    if time.monotonic() - job.started > _SHORT:
        return 0
    last = last_pid()
    pid = job.proc.pid
    return pid - 1 if last is not None and last >= pid else 0


_KERNEL_THREAD = 0x00200000  # PF_KTHREAD among the flags of /proc/PID/stat
_EXEC_WAIT = 10.0  # seconds an exec may take before its process is given up on


def environ_of(entry: str) -> bytes:
    """The environment process ``entry`` (a pid) was started with. Raises OSError when it
    is gone or not this user's.

    In the middle of an exec a process shows none for a moment (its new memory has no
    environment yet, or one still being written), and a job's leftover missed then would
    run on: an empty answer is read again until ``/proc/PID/stat`` shows it for good (a
    zombie, a kernel thread, or the same empty environment twice, a millisecond apart)."""
    path = f"/proc/{entry}/environ"
    seen = None
    deadline = None
    while True:
        with open(path, "rb") as fh:
            data = fh.read()
        if data:
            return data
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            # dead, a kernel thread, or exiting (its memory let go: a size of 0)
            if fields[0] in (b"Z", b"X") or int(fields[6]) & _KERNEL_THREAD or fields[20] == b"0":
                return data
            where = (fields[47], fields[48])  # where its environment starts and ends
        except (IndexError, ValueError):  # a kernel before 3.5: no way to tell
            return data
        # Mid-exec, however long that takes under load (a count of reads bounds no time).
        if deadline is None:
            deadline = time.monotonic() + _EXEC_WAIT
        elif time.monotonic() > deadline:
            return data  # stuck this long: given up on, so that a search ends
        if where[0] != b"0" and where[0] == where[1]:
            if where == seen:
                return data  # started with none
            seen = where
            time.sleep(0.001)
        else:
            seen = None
            time.sleep(0.0005)


def leftovers(tokens: set[str], above: int = 0) -> list[int]:
    """The processes of this user whose environment carries one of ``tokens`` (among
    those with a pid over ``above``)."""
    marks = {(f"{TOKEN}={t}").encode() for t in tokens}
    found: list[int] = []
    if not marks:
        return found
    last = last_pid() if above else None
    entries: list[str]
    if last is not None and 0 <= last - above <= _FEW:
        # The pids handed out since the job started: each looked up, nothing listed
        # (listing /proc, every process of the host, was a third of a job's cost here).
        entries = [str(pid) for pid in range(above + 1, last + 1)]
    else:
        try:
            entries = os.listdir("/proc")
        except OSError:
            return found
    uid, me = os.getuid(), os.getpid()  # (a system call each: not once per entry)
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid <= above or pid == me:
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue  # not this user's: it cannot carry a job's token
            variables = set(environ_of(entry).split(b"\0"))
        except OSError:  # gone, or not ours
            continue
        if variables & marks:
            found.append(int(entry))
    return found


def kill_leftovers(tokens: set[str], above: int = 0) -> None:
    for _ in range(20):  # a process that forks while being killed gets a few rounds
        pids = leftovers(tokens, above)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


class Watcher:
    """One thread that sees every job end (a pidfd per job: Linux >= 5.3, Python >= 3.9)
    and every time limit pass, instead of two threads started per job: each start costs
    the agent CPU and a hand-over of the interpreter lock, on every case. :meth:`add`
    answers False where pidfds are missing; the caller then gives the job its own threads.
    """

    def __init__(self, ended: Any, late: Any) -> None:
        self.ended = ended  # called with a job that ended (not reaped yet)
        self.late = late  # called with a job past its time limit
        self.lock = threading.Lock()
        self.added: list[tuple[Job, int, float | None]] = []
        self.thread: threading.Thread | None = None
        self.selector: selectors.BaseSelector | None = None
        self.wake_r = self.wake_w = -1
        self.stopping = False

    def add(self, job: Job, limit: float | None) -> bool:
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is None:
            return False
        try:
            fd = pidfd_open(job.proc.pid)
        except OSError:  # an old kernel, or a sandbox that refuses it
            return False
        deadline = None if limit is None else time.monotonic() + limit
        with self.lock:
            if self.stopping:  # the thread has gone or is going: threads of its own
                os.close(fd)
                return False
            if self.thread is None:
                self.selector = selectors.DefaultSelector()
                self.wake_r, self.wake_w = os.pipe()
                os.set_blocking(self.wake_r, False)
                self.selector.register(self.wake_r, selectors.EVENT_READ, None)
                self.thread = threading.Thread(target=self.run, daemon=True)
                self.thread.start()
            self.added.append((job, fd, deadline))
        self.wake()
        return True

    def wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:  # woken already
            pass
        except OSError:
            pass

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            started = self.thread is not None
        if started:
            self.wake()

    def run(self) -> None:
        selector = self.selector
        assert selector is not None
        # A heap of time limits; an ended job's entry stays until it comes up, holding
        # nothing of the job (a weak reference), or until the heap is compacted.
        limits: list[tuple[float, int, weakref.ref[Job]]] = []
        count = 0
        while True:
            timeout = None
            if limits:
                timeout = max(0.0, limits[0][0] - time.monotonic())
            for key, _events in selector.select(timeout):
                if key.data is None:
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except OSError:
                        pass
                    continue
                job = key.data
                selector.unregister(key.fd)
                os.close(key.fd)
                self.ended(job)
            with self.lock:
                added, self.added = self.added, []
                stopping = self.stopping
            if stopping:
                for fd in [k.fd for k in selector.get_map().values()]:
                    selector.unregister(fd)
                    if fd != self.wake_r:
                        os.close(fd)
                for _job, fd, _deadline in added:
                    os.close(fd)
                os.close(self.wake_r)
                os.close(self.wake_w)
                selector.close()
                return
            for job, fd, deadline in added:
                selector.register(fd, selectors.EVENT_READ, job)
                if deadline is not None:
                    count += 1
                    heapq.heappush(limits, (deadline, count, weakref.ref(job)))
            now = time.monotonic()
            while limits and limits[0][0] <= now:
                late = heapq.heappop(limits)[2]()
                if late is not None and not late.ended.is_set():
                    self.late(late)
            if len(limits) > 1024 and len(limits) > 2 * len(selector.get_map()):
                limits = [e for e in limits if _running(e[2])]
                heapq.heapify(limits)


def _running(ref: weakref.ref[Job]) -> bool:
    job = ref()
    return job is not None and not job.ended.is_set()


class Pool:
    """Threads that run what is submitted, at most ``most`` of them, started as needed (what
    the daemon used of ``ThreadPoolExecutor``, whose import costs a start 5 ms)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.lock = threading.Lock()
        self.queue: SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]] | None]
        self.queue = SimpleQueue()
        self.threads = 0
        self.queued = 0  # submitted, not taken yet
        self.waiting = 0  # threads waiting for work: a long request holds none of them
        self.closed = False

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        with self.lock:
            if self.closed:
                raise RuntimeError("the pool is shut down")
            self.queue.put((fn, args))
            self.queued += 1
            if self.queued > self.waiting and self.threads < self.most:
                self.threads += 1
                threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            with self.lock:
                self.waiting += 1
            item = self.queue.get()
            with self.lock:
                self.waiting -= 1
                self.queued -= 1
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception as exc:  # a bug here: say what, keep serving
                sys.stderr.write(f"assay agent: {getattr(fn, '__name__', fn)}: {exc!r}\n")

    def shutdown(self, wait: bool = False) -> None:
        """Take no more; each thread ends once what was submitted before has run."""
        with self.lock:
            self.closed = True
            threads = self.threads
            self.queued += threads
        for _ in range(threads):
            self.queue.put(None)


# -- the daemon ------------------------------------------------------------------------------


class Daemon:
    def __init__(self, path: str, linger: float) -> None:
        self.path = path
        self.linger = linger
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(path)  # a dead daemon's (the caller holds the lock)
        except FileNotFoundError:
            pass
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(8)
        self.state = path[: -len(".sock")] + ".jobs"  # a pid file per running job
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        self.end_orphans()
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.client: socket.socket | Pipes | None = None
        self.alone_since = time.monotonic()
        self.owner: str | None = None  # the runner that started the jobs
        self.roots: list[str] = []
        self.jobs: dict[str, Job] = {}
        self.tokens: set[str] = set()
        self.answers: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, int] = {}  # jobs that ended: their status, for a reconnection
        self.working: dict[str, threading.Event] = {}
        self.pool = Pool(64)
        self.watcher = Watcher(self._job_ended, self._job_late)
        self.stopping = threading.Event()
        self.requests: dict[str, int] = {}  # per operation, for the client's statistics

    # -- connections -----------------------------------------------------------------------

    def serve(self) -> None:
        self.listener.settimeout(0.5)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                with self.lock:
                    alone = self.client is None and (
                        time.monotonic() - self.alone_since > self.linger
                    )
                if alone:
                    self.stop()
                continue
            except OSError:
                if self.stopping.is_set():
                    break
                continue
            if self.stopping.is_set():  # the wake-up of stop(), or a late caller
                _close(conn)
                break
            conn.settimeout(None)
            threading.Thread(target=self.read_loop, args=(conn,), daemon=True).start()
        self.pool.shutdown(wait=False)
        stem = self.path[: -len(".sock")]
        for leftover in (self.path, stem + ".lock"):
            _unlink_quietly(leftover)
        for folder in (self.state,):
            try:
                os.rmdir(folder)
            except OSError:
                pass
        try:
            if os.path.getsize(stem + ".log") == 0:
                os.unlink(stem + ".log")
        except OSError:
            pass

    def read_loop(self, conn: socket.socket) -> None:
        """Serve a new connection: the client from its first frame on (the one before it is
        let go). A connector's channel handed over is read and written directly."""
        channel: socket.socket | Pipes = conn
        try:
            message, fds = read_first_frame(conn)
            if message is not None and message.get("op") == ADOPT and len(fds) == 2:
                channel = Pipes(fds[0], fds[1], conn)
                conn.sendall(frame({"rid": message.get("rid"), "ok": True, "adopted": True}))
                message = None
            else:
                for fd in fds:  # not a connector's: nothing to take
                    os.close(fd)
            with self.send_lock:
                old, self.client = self.client, channel
            if old is not None:
                _close(old)
            while True:
                if message is None:
                    message = read_frame(channel)
                    if message is None or self.client is not channel:
                        break  # the end, or replaced while this read waited
                self.pool.submit(self.handle, message)
                message = None
        except (OSError, ValueError):
            pass
        with self.send_lock:
            if self.client is channel:
                self.client = None
                self.alone_since = time.monotonic()
        _close(channel)
        if isinstance(channel, Pipes):
            channel.close_reader()

    def send(self, message: dict[str, Any]) -> None:
        data = frame(message)
        with self.send_lock:
            if self.client is None:
                return  # the next hello reports the jobs' states
            try:
                self.client.sendall(data)
            except OSError:
                _close(self.client)
                self.client = None
                self.alone_since = time.monotonic()

    # -- requests --------------------------------------------------------------------------

    def handle(self, message: dict[str, Any]) -> None:
        rid = str(message.get("rid"))
        op = message.get("op")
        with self.lock:
            self.requests[str(op)] = self.requests.get(str(op), 0) + 1
        once = op in ONCE
        if once:
            with self.lock:
                answer = self.answers.get(rid)
                waiting = self.working.get(rid)
                if answer is None and waiting is None:
                    self.working[rid] = threading.Event()
            if answer is not None:
                self.send(answer)
                return
            if waiting is not None:  # asked again while the first is under way
                waiting.wait()
                self.send(self.answers.get(rid) or {"rid": rid, "ok": False, "error": "lost"})
                return
        try:
            handler = getattr(self, "op_" + str(op))
        except AttributeError:
            answer = {"rid": rid, "ok": False, "error": f"unknown operation {op!r}"}
        else:
            try:
                answer = handler(message)
                answer.update(rid=rid, ok=True)
            except OSError as exc:
                answer = {
                    "rid": rid,
                    "ok": False,
                    "error": exc.strerror or str(exc),
                    "errno": exc.errno,
                    "filename": exc.filename,
                    "step": getattr(exc, "assay_step", None),  # of a folded request
                }
            except Exception as exc:  # a bug here: say what, keep serving
                answer = {"rid": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if once:
            with self.lock:
                self.answers[rid] = answer
                if len(self.answers) > _REMEMBERED:
                    del self.answers[next(iter(self.answers))]
                self.working.pop(rid).set()
        self.send(answer)
        if op == "shutdown":
            self.stop()

    def op_hello(self, m: dict[str, Any]) -> dict[str, Any]:
        stale: list[Job] = []
        with self.lock:
            if self.owner is not None and m["runner"] != self.owner:
                stale = list(self.jobs.values())  # a new runner: the old one is gone
            self.owner = str(m["runner"])
            self.linger = float(m.get("linger", self.linger))
            self.roots = [os.path.realpath(os.path.expanduser(r)) for r in m.get("roots", [])]
        if stale:
            self.end_jobs(stale)
        with self.lock:
            jobs: dict[str, int | None] = {j.jid: j.status for j in self.jobs.values()}
            jobs.update(self.ended)
        return {
            "uid": os.getuid(),
            "home": os.path.expanduser("~"),
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "protocol": PROTOCOL,
            "roots": self.roots,
            "jobs": jobs,
        }

    def stats(self) -> dict[str, Any]:
        """The requests served so far (per operation) and the CPU seconds used by this
        daemon and by the jobs it waited for."""
        times = os.times()
        with self.lock:
            requests = dict(self.requests)
        return {
            "requests": requests,
            "cpu": times.user + times.system,
            "jobs_cpu": times.children_user + times.children_system,
        }

    def op_run(self, m: dict[str, Any]) -> dict[str, Any]:
        env = dict(os.environ)
        env.update(m.get("env") or {})
        try:
            proc = subprocess.Popen(
                m["argv"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=m.get("cwd"),
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return {
                "code": 127,
                "stdout": "",
                "stderr": f"{m['argv'][0]}: {exc.strerror}",
            }
        try:
            out, err = proc.communicate(timeout=float(m.get("timeout", 60)))
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {
                "code": 124,
                "stdout": "",
                "stderr": f"{m['argv'][0]}: no answer in time",
            }
        return {
            "code": proc.returncode if proc.returncode >= 0 else 128 - proc.returncode,
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
        }

    def op_spawn(self, m: dict[str, Any]) -> dict[str, Any]:
        """Start a job; with ``prepare``, its directory is first made and its files written
        as :meth:`op_prepare` does (one request per case instead of two)."""
        jid = m["job"]
        with self.lock:
            job = self.jobs.get(jid)
        if job is not None:  # asked again after a reconnection: the same job
            return {"pid": job.proc.pid}
        listed = None
        staged = m.get("prepare")
        if staged is not None:
            try:
                listed = self.op_prepare(staged)["files"]
            except OSError as exc:
                exc.assay_step = "prepare"  # type: ignore[attr-defined]
                raise
        token = os.urandom(16).hex()  # as secrets.token_hex(16)
        env = dict(os.environ)
        env.update(m.get("env") or {})
        env[TOKEN] = token
        argv = m["argv"]
        quick = spawner() if argv and "/" in argv[0] else None  # Popen searches $PATH
        proc: subprocess.Popen[bytes] | Spawned
        if quick is not None:
            proc = Spawned(quick.spawn(argv, env, m["cwd"], m["stdout"], m["stderr"]))
        else:
            proc = self._popen(argv, env, m["cwd"], m["stdout"], m["stderr"])
        job = Job(jid, proc, token)
        wanted = m.get("collect")
        if isinstance(wanted, dict) and listed is not None:
            job.collect = dict(wanted, dir=m["cwd"], baseline=listed)
        with self.lock:
            self.jobs[jid] = job
            self.tokens.add(token)
        # Recorded beside the daemon's socket, for whoever looks at the host.
        try:
            with open(self.pid_file(jid), "w") as fh:
                fh.write(f"{proc.pid} {token}\n")
        except OSError:
            pass
        # The time limit is enforced here too, whether assay is connected or not.
        limit = None if m.get("limit") is None else float(m["limit"])
        job.grace = float(m.get("grace", 2))
        if not self.watcher.add(job, limit):  # no pidfds here: threads of its own
            if limit is not None:
                timer = threading.Timer(limit, self.stop_job, (job, job.grace))
                timer.daemon = True
                job.timer = timer  # before the job can be seen to end: it cancels the timer
            threading.Thread(target=self.wait_job, args=(job,), daemon=True).start()
            if job.timer is not None:
                job.timer.start()
        if listed is None:
            return {"pid": proc.pid}
        return {"pid": proc.pid, "files": listed}

    @staticmethod
    def _popen(
        argv: list[str], env: dict[str, str], cwd: str, stdout: str, stderr: str
    ) -> subprocess.Popen[bytes]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        out = os.open(stdout, flags, 0o644)
        try:
            err = os.open(stderr, flags, 0o644)
            try:
                return subprocess.Popen(
                    argv,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,
                    start_new_session=True,  # its own session and process group
                    close_fds=True,
                )
            finally:
                os.close(err)
        finally:
            os.close(out)

    def _job_ended(self, job: Job) -> None:
        """The watcher saw ``job`` end: what follows (its leftovers, its files) is done by
        a worker, so that the watcher goes on at once."""
        try:
            self.pool.submit(self.wait_job, job)
        except RuntimeError:  # the daemon is stopping: its pool takes no more
            self.wait_job(job)

    def _job_late(self, job: Job) -> None:
        try:
            self.pool.submit(self.stop_job, job, job.grace)
        except RuntimeError:
            threading.Thread(target=self.stop_job, args=(job, job.grace), daemon=True).start()

    def wait_job(self, job: Job) -> None:
        status = job.proc.wait()
        # What the job left running, in its group or out of it, ends with it (as assay
        # does for a job on its own machine), before anyone hears that it ended.
        job.signal_group(signal.SIGKILL)
        if job.timer is not None:
            job.timer.cancel()  # its thread ends now, not at the limit
        kill_leftovers({job.token}, floor_of(job))
        job.status = status
        job.ended.set()
        with self.lock:
            self.jobs.pop(job.jid, None)
            self.tokens.discard(job.token)
            self.ended[job.jid] = status
            if len(self.ended) > _REMEMBERED * 16:
                del self.ended[next(iter(self.ended))]
        _unlink_quietly(self.pid_file(job.jid))
        event: dict[str, Any] = {"event": "exit", "job": job.jid, "status": status}
        if job.collect is not None:
            try:
                event["collected"] = self.op_collect(job.collect)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # assay asks for it with a request of its own
        self.send(event)

    def stop_job(self, job: Job, grace: float) -> int:
        if not job.ended.is_set():
            job.signal_group(signal.SIGTERM)
            job.ended.wait(grace)
        job.signal_group(signal.SIGKILL)
        job.ended.wait()
        return job.status if job.status is not None else -9

    def end_jobs(self, jobs: list[Job]) -> None:
        """Kill the jobs' groups and whatever left them; forget the jobs."""
        for job in jobs:
            job.signal_group(signal.SIGKILL)
        kill_leftovers({job.token for job in jobs})
        for job in jobs:
            job.ended.wait(30)
        with self.lock:
            for job in jobs:
                self.jobs.pop(job.jid, None)
                self.tokens.discard(job.token)
        for job in jobs:
            _unlink_quietly(self.pid_file(job.jid))

    def end_orphans(self) -> None:
        """Jobs a daemon of this name left when it died (killed, out of memory): their pid
        files are still here; whatever still carries their token is killed."""
        tokens = set()
        for name in os.listdir(self.state):
            path = os.path.join(self.state, name)
            try:
                with open(path) as fh:
                    _pid, token = fh.read().split()
            except (OSError, ValueError):
                token = ""
            if token:
                tokens.add(token)
            _unlink_quietly(path)
        kill_leftovers(tokens)

    def pid_file(self, jid: str) -> str:
        return os.path.join(self.state, jid.replace("/", "_") + ".pid")

    def _job(self, m: dict[str, Any]) -> Job:
        with self.lock:
            job = self.jobs.get(m["job"])
        if job is None:
            raise OSError(errno.ESRCH, f"no job {m['job']}")
        return job

    def op_terminate(self, m: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.stop_job(self._job(m), float(m.get("grace", 2)))}

    def op_end(self, m: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self.jobs.get(m["job"])
        if job is not None:
            self.end_jobs([job])
        return {}

    def op_kill_all(self, m: dict[str, Any]) -> dict[str, Any]:
        self.kill_all()
        return {}

    def kill_all(self) -> None:
        with self.lock:
            jobs = list(self.jobs.values())
            tokens = set(self.tokens)
        self.end_jobs(jobs)
        kill_leftovers(tokens)  # of jobs ended before, whose leftovers may still run

    def op_shutdown(self, m: dict[str, Any]) -> dict[str, Any]:
        # The daemon stops once this answer is sent (:meth:`handle`): stopping first let
        # the process end before its answer, the statistics with it, went out.
        self.kill_all()
        return {"stats": self.stats()}

    def stop(self) -> None:
        self.kill_all()
        self.stopping.set()
        self.watcher.stop()
        # accept() is woken by a connection (shutdown() of a listening Unix socket does not
        # wake it on Linux): the daemon exits now, not at its next poll.
        wake = _try_connect(self.path)
        if wake is not None:
            wake.close()

    # -- files -----------------------------------------------------------------------------

    def inside_roots(self, path: str) -> str:
        """``path``, resolved, if it lies strictly below one of the session's roots: what
        the agent may remove (a wrong path must never cost the user their home)."""
        # The path itself is not resolved: a link is removed, never what it points to.
        real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        for root in self.roots:
            if real != root and real.startswith(root.rstrip("/") + "/"):
                return path
        raise OSError(errno.EPERM, "not below the work directory, not removed", path)

    def op_write(self, m: dict[str, Any]) -> dict[str, Any]:
        data = base64.b64decode(m["data"])
        fd = os.open(m["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            mode = m.get("mode")
            if mode is not None:
                os.fchmod(fd, int(mode))
        finally:
            os.close(fd)
        return {}

    def op_prepare(self, m: dict[str, Any]) -> dict[str, Any]:
        """A case's directory in one request: made afresh (``fresh``), its small files
        written, and what it then holds listed (the baseline of what a run adds)."""
        base = m["dir"]
        if m.get("fresh"):
            self.op_remove({"path": base})
        os.makedirs(base, exist_ok=True)
        self.op_write_files(m, made=True)
        return {"files": files_below(base)}

    def op_write_files(self, m: dict[str, Any], made: bool = False) -> dict[str, Any]:
        """Several small files under one directory (a case's scripts and inputs); ``made``:
        the directory itself was just made."""
        base = m["dir"]
        real = os.path.realpath(base)  # once per request, not twice per file
        folders = {real} if made else set()  # made already: no mkdir per file
        for entry in m["files"]:
            path = below(base, entry["path"], real)
            folder = os.path.dirname(path)
            if folder not in folders:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            self.op_write({"path": path, "data": entry["data"], "mode": entry.get("mode")})
        return {}

    def op_read(self, m: dict[str, Any]) -> dict[str, Any]:
        limit = m.get("limit")
        with open(m["path"], "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if limit is not None and size > limit:
                fh.seek(size - int(limit))
            data = fh.read()
        return {"data": base64.b64encode(data).decode(), "size": size}

    def op_mkdir(self, m: dict[str, Any]) -> dict[str, Any]:
        os.makedirs(m["path"], exist_ok=True)
        return {}

    def op_remove(self, m: dict[str, Any]) -> dict[str, Any]:
        """Remove ``path``; or each of ``paths``, answering those that could not be removed
        (one request for the stage dirs of many cases)."""
        if "paths" in m:
            failed = []
            for path in m["paths"]:
                try:
                    self.op_remove({"path": path})
                except OSError as exc:
                    failed.append([path, exc.strerror or str(exc)])
            return {"failed": failed}
        path = m["path"]
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return {}
        self.inside_roots(path)
        if stat.S_ISDIR(info.st_mode):
            _rmtree(path)
        else:
            os.unlink(path)
        return {}

    def op_rename(self, m: dict[str, Any]) -> dict[str, Any]:
        os.replace(m["source"], m["target"])
        return {}

    def op_stat(self, m: dict[str, Any]) -> dict[str, Any]:
        try:
            info = os.stat(m["path"])
        except FileNotFoundError:
            return {"exists": False}
        return {"exists": True, "size": info.st_size, "dir": stat.S_ISDIR(info.st_mode)}

    def op_snapshot(self, m: dict[str, Any]) -> dict[str, Any]:
        """Every file below a directory: relative path -> [size, mtime in ns]."""
        return {"files": files_below(m["dir"])}

    def op_collect(self, m: dict[str, Any]) -> dict[str, Any]:
        kept_left: list[list[Any]] = []
        found, left = collect(
            m["dir"],
            m.get("names") or [],
            m.get("patterns") or [],
            m.get("baseline") or {},
            int(m["max_file"]),
            int(m["max_total"]),
            m.get("max_kept"),
            kept_left,
        )
        files = [
            {"path": rel, "data": base64.b64encode(data).decode(), "size": size, "mode": mode}
            for rel, data, size, mode in found
        ]
        return {"files": files, "left": left, "kept_left": kept_left}


ONCE = {"run", "spawn", "rename", "terminate", "shutdown", "kill_all"}
"""Operations that must not run twice for one request (re-sent after a reconnection)."""


def below(base: str, rel: str, real: str | None = None) -> str:
    """``base/rel``, refused when ``rel`` could lead out of ``base`` (absolute, ``..``, or
    through a symbolic link already there). ``real``: ``base`` resolved, if known."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OSError(errno.EINVAL, "not a relative path below the directory", rel)
    real = os.path.realpath(base) if real is None else real
    if len(parts) == 1:  # straight in the directory: its own resolved path
        return os.path.join(real, rel)
    parent = os.path.realpath(os.path.join(base, *parts[:-1]))
    if parent != real and not parent.startswith(real + os.sep):
        raise OSError(errno.EINVAL, "leads out of the directory", rel)
    return os.path.join(parent, parts[-1])


def files_below(base: str) -> dict[str, list[int]]:
    """Every regular file below ``base``: relative path -> [size, mtime in ns]."""
    found = {}
    for folder, _dirs, names in os.walk(base):
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[os.path.relpath(path, base)] = [info.st_size, info.st_mtime_ns]
    return found


def collect(
    base: str,
    names: list[str],
    patterns: list[str],
    baseline: dict[str, list[int]],
    max_file: int,
    max_total: int,
    max_kept: int | None = None,
    kept_left: list[list[Any]] | None = None,
) -> tuple[list[tuple[str, bytes, int, int]], list[list[Any]]]:
    """What a run left in ``base`` that is worth bringing back, as (relative path, content,
    size, permission bits) and the files left where they are as [path, size]:

    * the files ``names`` (a job's own logs): whole, or their last ``max_file`` bytes;
    * the files matching ``patterns`` (``keep_files``): whole, while ``max_kept`` bytes
      last (the others go to ``kept_left``);
    * the files new or changed since ``baseline`` (:func:`files_below` before the run):
      whole if at most ``max_file`` bytes, while the case's ``max_total`` lasts.
    """
    now = files_below(base)
    out: list[tuple[str, bytes, int, int]] = []
    left: list[list[Any]] = []
    taken: set[str] = set()
    budget = max_total
    kept_budget = max_kept

    def take(rel: str, limit: int | None) -> int:
        size = now[rel][0]
        with open(os.path.join(base, rel), "rb") as fh:
            mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)  # a program stays one
            if limit is not None and size > limit:
                fh.seek(size - limit)
            data = fh.read()
        taken.add(rel)
        out.append((rel, data, size, mode))
        return len(data)

    for rel in names:
        if rel in now:
            budget -= take(rel, max_file)
    real = os.path.realpath(base)
    for pattern in patterns:
        import pathlib  # only for keep_files: not at every agent start

        for path in sorted(pathlib.Path(base).glob(pattern)):
            if not os.path.realpath(path).startswith(real + os.sep):
                continue  # a pattern or a link that leads out of the directory
            rel = path.relative_to(base).as_posix()
            if rel in now and rel not in taken:
                if kept_budget is not None and now[rel][0] > kept_budget:
                    taken.add(rel)
                    if kept_left is not None:
                        kept_left.append([rel, now[rel][0]])
                    continue
                size = take(rel, None)
                budget -= size
                if kept_budget is not None:
                    kept_budget -= size
    for rel in sorted(now):
        if rel in taken or baseline.get(rel) == now[rel]:
            continue
        size = now[rel][0]
        if size <= max_file and size <= budget:
            budget -= take(rel, None)
        else:
            left.append([rel, size])
    return out, left


def _rmtree(path: str) -> None:
    def writable(func, target, _exc):  # type: ignore[no-untyped-def]
        os.chmod(os.path.dirname(target), 0o700)  # a read-only dir of the job's
        func(target)

    shutil.rmtree(path, onerror=writable)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _close(sock: socket.socket | Pipes) -> None:
    if isinstance(sock, Pipes):
        sock.close()
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# -- the connector -----------------------------------------------------------------------------


def _try_connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _start_daemon(path: str, log: str, linger: float) -> None:
    """Start the daemon in a session of its own (double fork) and wait until it listens."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork():
                os._exit(0)
            # Nothing of the connector's stays open here (its lock, its socket, the channel).
            os.closerange(3, ready_w)
            os.closerange(ready_w + 1, 1 << 16)
            null = os.open(os.devnull, os.O_RDWR)
            logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(null, 0)
            os.dup2(logfd, 1)
            os.dup2(logfd, 2)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            daemon = Daemon(path, linger)
            os.write(ready_w, b"ready")
            os.close(ready_w)
            daemon.serve()
        finally:
            os._exit(0)
    os.close(ready_w)
    os.waitpid(pid, 0)
    answer = os.read(ready_r, 16)
    os.close(ready_r)
    if answer != b"ready":
        raise SystemExit(f"assay agent: the daemon did not start (see {log})")


def _relay(sock: socket.socket) -> None:
    """The channel's stdin to the daemon, the daemon's answers to the channel's stdout."""

    def upstream() -> None:
        try:
            while True:
                data = os.read(0, 1 << 16)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=upstream, daemon=True).start()
    try:
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            view = memoryview(data)
            while view:
                view = view[os.write(1, view) :]
    except OSError:
        pass


def connect(name: str, linger: float) -> None:
    if not _NAME.match(name):
        raise SystemExit(f"assay agent: bad name {name!r}")
    folder = socket_dir()
    path = os.path.join(folder, name + ".sock")
    with open(os.path.join(folder, name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _try_connect(path)
        if sock is None:
            _start_daemon(path, os.path.join(folder, name + ".log"), linger)
            sock = _try_connect(path)
        fcntl.flock(lock, fcntl.LOCK_UN)
    if sock is None:
        raise SystemExit(f"assay agent: cannot connect to {path}")
    try:
        home = os.path.realpath(os.getcwd())  # where the SSH session starts: the home
    except OSError:
        home = os.path.expanduser("~")
    # The daemon answers from the next line on.
    os.write(1, b"ASSAY-AGENT-2 " + json.dumps({"home": home}).encode() + b"\n")
    if hand_over(sock):
        try:
            while sock.recv(4096):  # until the daemon is done with the channel
                pass
        except OSError:
            pass
    else:
        _relay(sock)


def hand_over(sock: socket.socket) -> bool:
    """Give the daemon the channel's stdin and stdout (this process then keeps neither, so
    the channel ends when the daemon lets it go); False if it does not take them."""
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("2i", 0, 1))]
    try:
        sock.sendmsg([frame({"rid": ADOPT, "op": ADOPT})], rights)
        answer = read_frame(sock)
        # An older daemon's events for assay may come before its answer: passed on.
        while answer is not None and answer.get("rid") != ADOPT:
            data = memoryview(frame(answer))
            while data:
                data = data[os.write(1, data) :]
            answer = read_frame(sock)
    except (OSError, ValueError):
        return False
    if answer is None or answer.get("adopted") is not True:
        return False  # an older daemon: it said it does not know the operation
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return True


def holds(digest: str) -> bool:
    """Whether this file is the one whose SHA-256 starts with ``digest`` (the one assay
    sent: a damaged or stale copy is sent again, not run)."""
    import hashlib

    try:
        with open(__file__, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest().startswith(digest) and bool(digest)
    except OSError:
        return False


def name_from_stdin() -> str | None:
    """The daemon's name as the first line of the channel (``connect -``: the connector is
    started while assay still loads, before it knows the session); None if assay went away
    first (then nothing is started). Read a byte at a time: what follows is the daemon's."""
    data = b""
    while not data.endswith(b"\n"):
        if len(data) > 80:
            raise SystemExit("assay agent: no name on the first line")
        chunk = os.read(0, 1)
        if not chunk:
            return None
        data += chunk
    return data[:-1].decode("ascii", "replace")


def main(argv: list[str]) -> int:
    if len(argv) in (3, 4) and argv[0] == "connect":
        if len(argv) == 4 and not holds(argv[3]):
            sys.stderr.write("assay agent: this copy is not the one assay sent\n")
            return 3
        name = argv[1]
        if name == "-":
            os.write(1, b"ASSAY-AGENT-WAITING\n")  # started: the name may come
            named = name_from_stdin()
            if named is None:
                return 0
            name = named
        connect(name, float(argv[2]))
        return 0
    sys.stderr.write("usage: python3 -I hostagent.py connect NAME|- LINGER_SECONDS [SHA256]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
