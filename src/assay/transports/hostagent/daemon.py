"""The daemon: one per session and host, listening on its Unix socket, serving one assay at
a time (each request by a worker thread), and ending when told or when no assay has been
connected for its linger."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

from .channel import ADOPT, Pipes, close_channel, read_first_frame, try_connect
from .files import unlink_quietly
from .jobops import JobOps
from .jobs import Job, Watcher
from .lockfile import hold_lock, identity, release, same_file
from .pool import Pool
from .protocol import ONCE, PROTOCOL, REMEMBERED, frame, read_frame

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from typing import Any


class Daemon(JobOps):
    """The session's daemon on this host: its socket, the one assay it serves at a time, its
    requests (each run by a worker; job and file requests in :class:`.jobops.JobOps`), and
    its end."""

    def __init__(self, path: str, linger: float) -> None:
        self.path = path
        self.linger = linger
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(path)  # a dead daemon's (the caller holds the lock)
        except FileNotFoundError:
            pass
        self.listener.bind(path)
        # What is this daemon's to remove at its end: a daemon of the same name started
        # since then has its own socket there (while this one's listener is open, its
        # socket's inode cannot be reused for another).
        self.socket_id = identity(path)
        os.chmod(path, 0o600)
        self.listener.listen(8)
        self.state = path[: -len(".sock")] + ".jobs"  # a pid file per running job
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        self.state_id = identity(self.state)
        self.end_orphans()
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.client: socket.socket | Pipes | None = None
        self.alone_since = time.monotonic()
        self.owner: str | None = None  # the runner that started the jobs
        self.roots: list[str] = []
        self.root_names: list[str] = []
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
                close_channel(conn)
                break
            conn.settimeout(None)
            threading.Thread(target=self.read_loop, args=(conn,), daemon=True).start()
        self.pool.shutdown(wait=False)
        self.refuse()
        self.clean_up()

    def refuse(self) -> None:
        """Take no more connections: a connector then finds no daemon and starts one (one
        let in now would be dropped unanswered)."""
        try:
            self.listener.shutdown(socket.SHUT_RD)  # on Linux, connect() is then refused
        except OSError:
            pass

    def clean_up(self) -> None:
        """Remove this daemon's socket, ``.jobs`` folder, empty log and lock file, holding
        the lock connectors take (none looks for the daemon or starts one meanwhile), and
        only if the socket is still this daemon's: else a daemon of the same name started
        since then, and these files are its own."""
        stem = self.path[: -len(".sock")]
        try:
            held = hold_lock(stem + ".lock")
        except OSError:  # the folder is gone: nothing left to remove
            self.listener.close()
            return
        try:
            if same_file(self.path, self.socket_id):
                unlink_quietly(self.path)
                if same_file(self.state, self.state_id):
                    try:
                        os.rmdir(self.state)
                    except OSError:
                        pass  # not empty: a job's pid file, for the next daemon to end it
                try:
                    if os.path.getsize(stem + ".log") == 0:
                        os.unlink(stem + ".log")
                except OSError:
                    pass
                # Unlinked while held: a connector waiting on it sees that and locks the
                # next one (:func:`.lockfile.hold_lock`).
                unlink_quietly(stem + ".lock")
        finally:
            self.listener.close()
            release(held)

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
                close_channel(old)
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
        close_channel(channel)
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
                close_channel(self.client)
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
                if len(self.answers) > REMEMBERED:
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
            named = [os.path.normpath(os.path.expanduser(r)) for r in m.get("roots", [])]
            self.roots = [os.path.realpath(r) for r in named]
            self.root_names = named
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
        wake = try_connect(self.path)
        # Refused from now on: a connector finds no daemon (not one that drops it unheard).
        self.refuse()
        if wake is not None:
            wake.close()
