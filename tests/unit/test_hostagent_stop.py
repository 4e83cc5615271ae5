"""The host agent's daemon at its end (:mod:`assay.transports.hostagent.daemon`): it removes
its socket, ``.jobs`` folder, lock file and empty log only while it holds the lock that
connectors take, and only when they are still its own (a daemon of the same name may have
started meanwhile); and the lock file's holders (:mod:`.hostagent.lockfile`)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest

from assay.transports.hostagent import daemon as daemon_module
from assay.transports.hostagent.channel import try_connect
from assay.transports.hostagent.daemon import Daemon
from assay.transports.hostagent.lockfile import hold_lock, release
from assay.transports.hostagent.protocol import HEADER, frame, read_frame


def _hello(path: Path) -> dict[str, object]:
    """The answer of the daemon listening at ``path`` to a hello (as assay's first request)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(60)
        sock.connect(str(path))
        sock.sendall(frame({"rid": "1", "op": "hello", "runner": "r", "roots": []}))
        answer = read_frame(sock)
    assert answer is not None and answer["ok"], answer
    return answer


def _serve(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.serve, daemon=True)
    thread.start()
    return thread


def _stop(daemon: Daemon, thread: threading.Thread) -> None:
    daemon.stop()
    thread.join(60)
    assert not thread.is_alive()


def test_a_stopped_daemon_leaves_the_files_of_its_successor(tmp_path: Path) -> None:
    # The chain: a daemon stops; before its serve() ends, one of the same name starts. The old
    # one removed the new one's socket and .jobs folder by name: the next connector then
    # started a second daemon for the session, and the new one's pid files (its cleanup
    # after a crash) could not be written.
    sock, jobs = tmp_path / "s.sock", tmp_path / "s.jobs"
    old = Daemon(str(sock), linger=3600.0)
    old.stop()
    new = Daemon(str(sock), linger=3600.0)
    serving = _serve(new)
    try:
        old.serve()  # returns at once (stopped), with its end's cleanup
        assert sock.exists(), "the old daemon removed the new one's socket"
        assert jobs.is_dir(), "the old daemon removed the new one's .jobs folder"
        assert _hello(sock)["pid"] == os.getpid()  # the new daemon still answers there
        # The new daemon's pid files can be written (and are, for a job it starts).
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(60)
            conn.connect(str(sock))
            conn.sendall(frame({"rid": "h", "op": "hello", "runner": "r", "roots": []}))
            spawn = {"rid": "2", "op": "spawn", "job": "j", "argv": ["sleep", "60"]}
            out = str(tmp_path / "out")
            conn.sendall(frame(dict(spawn, cwd=str(tmp_path), stdout=out, stderr=out)))
            answers = {}
            while "2" not in answers:
                message = read_frame(conn)
                assert message is not None
                answers[str(message.get("rid"))] = message
            assert answers["2"]["ok"], answers["2"]
            assert [p.name for p in jobs.iterdir()] == ["j.pid"]
    finally:
        _stop(new, serving)
    # The last daemon of the name removes what was its own, the lock file with it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_stopping_daemon_waits_for_the_connector_holding_the_lock(tmp_path: Path) -> None:
    # As it happens on a host: a connector holds the lock when the daemon stops; it finds no
    # daemon listening (the stopping one refuses at once) and starts one. The old daemon's
    # cleanup waits for that lock, then sees the socket is no longer its own.
    sock, jobs, lock = tmp_path / "s.sock", tmp_path / "s.jobs", tmp_path / "s.lock"
    old = Daemon(str(sock), linger=3600.0)
    old_serving = _serve(old)
    held = hold_lock(str(lock))  # the connector's
    try:
        old.stop()
        old_serving.join(1)
        assert sock.exists(), "the old daemon's cleanup did not wait for the lock"
        assert try_connect(str(sock)) is None, "a stopping daemon still took a connection"
        new = Daemon(str(sock), linger=3600.0)  # what the connector does, under its lock
    finally:
        release(held)
    old_serving.join(60)
    assert not old_serving.is_alive()
    new_serving = _serve(new)
    try:
        assert sock.exists() and jobs.is_dir() and lock.exists()
        _hello(sock)
        # The next connector takes the lock (the same file) and finds the daemon.
        again = hold_lock(str(lock))
        try:
            found = try_connect(str(sock))
            assert found is not None
            found.close()
        finally:
            release(again)
    finally:
        _stop(new, new_serving)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_waiting_holder_of_an_unlinked_lock_file_locks_the_new_one(tmp_path: Path) -> None:
    # A daemon unlinks the lock file at its end, while it holds it: a connector waiting on
    # that file would otherwise hold a lock nobody else sees (two connectors each "holding"
    # it, each starting a daemon).
    path = str(tmp_path / "s.lock")
    first = hold_lock(path)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(hold_lock(path)), daemon=True)
    waiter.start()
    waiter.join(0.5)  # it waits on the first file (or has not opened it yet: the same test)
    os.unlink(path)
    release(first)
    waiter.join(60)
    assert got, "the waiting holder never got the lock"
    try:
        other = os.open(path, os.O_RDWR)  # the file at the path now: the waiter's
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    finally:
        release(got[0])


_CONNECTOR = """
import sys
sys.path.insert(0, {src!r})
from assay.transports.hostagent.main import main
sys.exit(main(["connect", "s", "60"]))
"""


def _frame_from(stream: IO[bytes]) -> dict[str, Any] | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    message: dict[str, Any] = json.loads(stream.read(size))
    return message


def test_a_connector_dropped_by_a_stopping_daemon_starts_the_next(tmp_path: Path) -> None:
    # A connector let in just before the daemon stopped taking connections is dropped
    # unanswered when that daemon ends: it looks again (and starts the next daemon) instead
    # of relaying the channel into a closed socket (assay then lost its connection).
    folder = tmp_path / f"assay-{os.getuid()}"
    folder.mkdir(mode=0o700)
    # A fault: a listener standing for a stopping daemon, that lets one connection in and
    # ends without answering it.
    ending = socket.socket(socket.AF_UNIX)
    ending.bind(str(folder / "s.sock"))
    ending.listen(8)
    src = str(Path(daemon_module.__file__).parents[3])
    proc = subprocess.Popen(
        [sys.executable, "-c", _CONNECTOR.format(src=src)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=dict(os.environ, TMPDIR=str(tmp_path)),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert select.select([ending], [], [], 60)[0], "the connector never connected"
        ending.close()  # its queue dropped, as a daemon's at its end
        assert proc.stdout.readline().startswith(b"ASSAY-AGENT-2 ")
        proc.stdin.write(frame({"rid": "1", "op": "hello", "runner": "r", "roots": []}))
        proc.stdin.flush()
        answer = _frame_from(proc.stdout)
        assert answer is not None, "the connector relayed into the dropped connection"
        assert answer["ok"] and answer["pid"] != proc.pid, answer  # a daemon of its own
        proc.stdin.write(frame({"rid": "2", "op": "shutdown"}))
        proc.stdin.flush()
        answer = _frame_from(proc.stdout)
        assert answer is not None and answer["ok"], answer
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        ending.close()
        proc.kill()
        proc.wait()
