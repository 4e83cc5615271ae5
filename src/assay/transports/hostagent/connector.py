"""The connector: run in the SSH exec channel, it finds the session's daemon (starting it
when there is none) and hands the channel over to it, or relays it to a daemon that does
not take it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import struct
import tempfile
import threading

from .channel import ADOPT, try_connect
from .daemon import Daemon
from .files import create
from .lockfile import hold_lock, release
from .protocol import frame, read_frame

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


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


def open_log(path: str) -> int:
    """The daemon's log at ``path``, appended to; but what a job left at the name (test
    code runs as the user: a link, or a hard link, to a file of the user's, or a FIFO) is
    replaced by a new file, never appended to."""
    try:
        fd = os.open(path, _LOG | os.O_CREAT, 0o600)
    except OSError:  # ELOOP: a link at the name; ENXIO: a FIFO nobody reads
        fd = -1
    if fd >= 0:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            os.set_blocking(fd, True)
            return fd
        os.close(fd)
    return create(path, 0o600)


_LOG = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


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
            logfd = open_log(log)
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
    banner = False
    for _attempt in range(_ATTEMPTS):
        sock = _find_daemon(folder, name, linger)
        if not banner:
            try:
                home = os.path.realpath(os.getcwd())  # where the SSH session starts: the home
            except OSError:
                home = os.path.expanduser("~")
            # The daemon answers from the next line on.
            os.write(1, b"ASSAY-AGENT-2 " + json.dumps({"home": home}).encode() + b"\n")
            banner = True
        taken = hand_over(sock)
        if taken is None:
            # Let in by a daemon as it stopped, and dropped unanswered: look again (the
            # next one finds it gone, or refusing, and starts another).
            sock.close()
            continue
        if taken:
            try:
                while sock.recv(4096):  # until the daemon is done with the channel
                    pass
            except OSError:
                pass
        else:
            _relay(sock)
        return
    raise SystemExit(
        f"assay agent: the daemon at {path} closed the connection unanswered {_ATTEMPTS} times"
    )


_ATTEMPTS = 5  # daemons found stopping one after the other: not more than a few


def _find_daemon(folder: str, name: str, linger: float) -> socket.socket:
    """A connection to the daemon NAME, started if there is none listening."""
    path = os.path.join(folder, name + ".sock")
    # Held while looking for the daemon and starting one: a daemon ending removes its files
    # under this lock too (and only its own), so there is never more than one per name.
    lock = hold_lock(os.path.join(folder, name + ".lock"))
    try:
        sock = try_connect(path)
        if sock is None:
            _start_daemon(path, os.path.join(folder, name + ".log"), linger)
            sock = try_connect(path)
    finally:
        release(lock)
    if sock is None:
        raise SystemExit(f"assay agent: cannot connect to {path}")
    return sock


def hand_over(sock: socket.socket) -> bool | None:
    """Give the daemon the channel's stdin and stdout (this process then keeps neither, so
    the channel ends when the daemon lets it go); False if it does not take them, None if
    it closed the connection before a word (it was stopping): nothing was passed on."""
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("2i", 0, 1))]
    try:
        sock.sendmsg([frame({"rid": ADOPT, "op": ADOPT})], rights)
        answer = read_frame(sock)
    except OSError:  # reset: dropped from the listener's queue as the daemon ended
        return None
    except ValueError:
        return False
    if answer is None:
        return None
    try:
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
