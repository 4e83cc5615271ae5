"""The host agent's connector hands its SSH channel over to the daemon
(:func:`assay.transports.hostagent.connector.hand_over`): real connector processes, their stdin and
stdout pipes standing in for sshd's, and a real daemon, all under the test's tmp dir. The
connector runs from the zip assay ships (:mod:`assay.transports.hostagent_pack`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assay.transports import hostagent_pack
from assay.transports.hostagent.channel import ADOPT
from assay.transports.hostagent.daemon import Daemon
from assay.transports.hostagent.protocol import HEADER, frame, read_frame


class Channel:
    """A connector started as sshd starts it: its stdin and stdout are pipes of ours."""

    def __init__(self, tmp: Path, name: str, linger: float = 3.0) -> None:
        env = dict(os.environ, TMPDIR=str(tmp))
        agent = hostagent_pack.write_agent(str(tmp / "hostagent.pyz"))
        self.proc = subprocess.Popen(
            [sys.executable, "-I", agent, "connect", name, str(linger)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        banner = self.stdout.readline()
        assert banner.startswith(b"ASSAY-AGENT-2 "), banner
        self.count = 0

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        self.count += 1
        rid = f"r{self.count}"
        self.stdin.write(frame({"rid": rid, "op": op, **fields}))
        self.stdin.flush()
        while True:
            message = self.read()
            if message.get("rid") == rid:
                return message

    def read(self) -> dict[str, Any]:
        header = self.stdout.read(HEADER.size)
        assert len(header) == HEADER.size, "the channel ended"
        (size,) = HEADER.unpack(header)
        import json

        message: dict[str, Any] = json.loads(self.stdout.read(size))
        return message

    def pipes(self) -> set[str]:
        """Our ends' pipes, as /proc names them in any process that holds one."""
        return {f"pipe:[{os.fstat(f.fileno()).st_ino}]" for f in (self.stdin, self.stdout)}

    def close(self) -> int:
        self.stdin.close()
        code = self.proc.wait(30)
        self.stdout.close()
        return code


def held(pid: int) -> set[str]:
    """What the descriptors of process ``pid`` point at."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return found


def _released(pipes: set[str], pid: int) -> bool:
    """Whether process ``pid`` lets go of ``pipes`` (within 30 s: no timing asserted)."""
    deadline = time.monotonic() + 30
    while pipes & held(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_daemon_reads_and_writes_the_channel_itself(tmp_path: Path) -> None:
    # No process relays the requests and answers any more: the daemon holds the channel's
    # pipes, the connector holds neither, and a job started after that holds none either.
    channel = Channel(tmp_path, "handed")
    try:
        hello = channel.ask("hello", runner="t", roots=[str(tmp_path)])
        assert hello["ok"], hello
        daemon = int(hello["pid"])
        assert channel.pipes() <= held(daemon)
        # The connector lets go of them once the daemon has said it took them (the daemon
        # may answer before that).
        assert _released(channel.pipes(), channel.proc.pid), "the connector kept them"
        spawned = channel.ask(
            "spawn",
            job="j1",
            argv=["/bin/sleep", "30"],
            cwd=str(tmp_path),
            stdout=str(tmp_path / "out"),
            stderr=str(tmp_path / "err"),
            env={},
            limit=60,
        )
        assert spawned["ok"], spawned
        assert not channel.pipes() & held(int(spawned["pid"]))
        assert channel.ask("shutdown")["ok"]
    finally:
        assert channel.close() == 0


def test_a_channel_that_ends_lets_the_connector_go_and_the_next_one_in(tmp_path: Path) -> None:
    first = Channel(tmp_path, "again")
    daemon = int(first.ask("hello", runner="t", roots=[])["pid"])
    pipes = first.pipes()
    # Closing our end of its stdin is what sshd does when the SSH connection ends.
    assert first.close() == 0
    second = Channel(tmp_path, "again")
    try:
        hello = second.ask("hello", runner="t", roots=[])
        assert int(hello["pid"]) == daemon  # the same daemon serves the next connection
        assert _released(pipes, daemon), "the daemon kept the ended channel's pipes"
        assert second.ask("shutdown")["ok"]
    finally:
        second.close()


class _OlderDaemon(Daemon):
    """Stands in for another assay version's daemon (one that does not take the channel):
    it reads plain frames, and says first that a job ended (an event it had for assay)."""

    def read_loop(self, conn: socket.socket) -> None:
        with self.send_lock:
            self.client = conn
        self.send({"event": "exit", "job": "earlier", "status": 0})
        while True:
            try:
                message = read_frame(conn)
            except OSError:
                break
            if message is None:
                break
            self.handle(message)
        conn.close()


def test_an_older_daemon_gets_the_channel_relayed(tmp_path: Path) -> None:
    folder = tmp_path / f"assay-{os.getuid()}"
    folder.mkdir(mode=0o700)
    daemon = _OlderDaemon(str(folder / "older.sock"), linger=30.0)
    serving = threading.Thread(target=daemon.serve, daemon=True)
    serving.start()
    channel = Channel(tmp_path, "older")
    try:
        event = channel.read()  # passed on before the answer to the hand-over
        assert event == {"event": "exit", "job": "earlier", "status": 0}
        hello = channel.ask("hello", runner="t", roots=[])
        assert hello["ok"] and hello["pid"] == os.getpid()
        assert daemon.requests.get(ADOPT) == 1  # asked, refused, relayed
    finally:
        channel.close()
        daemon.stop()
        serving.join(30)


@pytest.mark.parametrize("planted", ["symlink", "hard link"])
def test_a_link_a_job_left_at_the_daemons_log_is_replaced_not_appended_to(
    tmp_path: Path, planted: str
) -> None:
    # Test code runs as the user: it can put a link (or a hard link) to a file of the
    # user's at the log's name in the private socket directory; the daemon started next
    # would append its messages to that file.
    folder = tmp_path / f"assay-{os.getuid()}"
    folder.mkdir(mode=0o700)
    victim = tmp_path / ".bashrc"
    victim.write_bytes(b"export PATH\n")
    log = folder / "logged.log"
    if planted == "symlink":
        log.symlink_to(victim)
    else:
        os.link(victim, log)
    channel = Channel(tmp_path, "logged")
    try:
        assert channel.ask("hello", runner="t", roots=[])["ok"]
        assert not log.is_symlink()
        assert log.stat().st_nlink == 1 and victim.stat().st_nlink == 1
        assert channel.ask("shutdown")["ok"]
    finally:
        channel.close()
    assert victim.read_bytes() == b"export PATH\n"


def test_a_link_a_job_left_at_the_lock_files_name_is_not_followed(tmp_path: Path) -> None:
    # A dangling link there: the connector's O_CREAT made a file where it led.
    folder = tmp_path / f"assay-{os.getuid()}"
    folder.mkdir(mode=0o700)
    made = tmp_path / "made-through-the-link"
    (folder / "locked.lock").symlink_to(made)
    channel = Channel(tmp_path, "locked")
    try:
        assert channel.ask("shutdown")["ok"]
    finally:
        channel.close()
    assert not made.exists()
