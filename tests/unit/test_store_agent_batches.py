"""The agent's work per object on a push: the store lock taken once per run of waiting
pieces (and let go before it waits for input), no look before a whole object is written."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from assay.store.agent import server, uploads, wire
from assay.store.agent.bundle import BOOTSTRAP, shipped_bytes
from assay.store.agent.state import AgentStore
from assay.store.objects import hash_bytes


def _frames(root: Path, blobs: list[bytes]) -> bytes:
    out = wire.encode({"id": 1, "op": "hello", "root": str(root), "create": True})
    for i, data in enumerate(blobs, start=2):
        finish = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        header = {"id": i, "op": "receive", "kind": "blobs", "digest": hash_bytes(data)}
        out += wire.encode({**header, "offset": 0, "finish": finish}, data) + data
    return out


def _answers(data: bytes) -> list[dict]:
    stream, out = io.BytesIO(data), []
    while (frame := wire.read_frame(stream)) is not None:
        out.append(frame[0])
    return out


def test_a_run_of_pieces_takes_the_store_lock_once_count(tmp_path, monkeypatch):
    blobs = [f"object {i}\n".encode() * 100 for i in range(50)]
    read, write = os.pipe()
    os.write(write, _frames(tmp_path / "store", blobs))  # all waiting before the agent reads
    os.close(write)
    calls: list[int] = []
    real = fcntl.flock

    def counting_flock(fd: int, op: int) -> None:
        calls.append(op)
        real(fd, op)

    monkeypatch.setattr(fcntl, "flock", counting_flock)
    out = io.BytesIO()
    with os.fdopen(read, "rb") as stdin:
        assert server.serve(stdin, out) == 0  # type: ignore[arg-type]
    answers = _answers(out.getvalue())
    assert [a["ok"] for a in answers] == [True] * 51
    assert all(a["result"]["published"] for a in answers[1:])
    shared = [op for op in calls if op == fcntl.LOCK_SH]
    assert 1 <= len(shared) <= 3, calls  # not one per object (50)


def test_the_agent_lets_go_of_the_store_lock_before_it_waits_for_input(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    agent = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", BOOTSTRAP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert agent.stdin is not None and agent.stdout is not None
    try:
        frames = _frames(tmp_path / "store", [b"one\n" * 10, b"two\n" * 10])
        agent.stdin.write(shipped_bytes() + frames)
        agent.stdin.flush()
        got = b""
        while len(_answers_so_far(got)) < 3:  # hello and two pieces answered
            ready, _, _ = select.select([agent.stdout], [], [], 30)
            assert ready, f"no answer in 30 s: {got!r}"
            got += os.read(agent.stdout.fileno(), 65536)
        assert all(a["ok"] for a in _answers_so_far(got))
        # The agent now waits for more input, holding nothing: gc may take the store.
        fd = os.open(tmp_path / "store" / "lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a lock were held
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        agent.stdin.close()
        assert agent.wait(30) == 0
        agent.stdout.close()


def _answers_so_far(data: bytes) -> list[dict]:
    stream, out = io.BytesIO(data), []
    while True:
        try:
            frame = wire.read_frame(stream)
        except wire.ProtocolError:  # the rest has not arrived yet
            return out
        if frame is None:
            return out
        out.append(frame[0])


def test_a_whole_object_that_arrived_meanwhile_is_not_written_twice(tmp_path):
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    data = b"the same object\n" * 50
    digest, sha = hash_bytes(data), hashlib.sha256(data).hexdigest()
    first = uploads.receive(store, "blobs", digest, 0, data, {"size": len(data), "sha256": sha})
    path = Path(store.layout.path("blobs", digest))
    inode = path.stat().st_ino
    again = uploads.receive(store, "blobs", digest, 0, data, {"size": len(data), "sha256": sha})
    assert first == {"held": len(data), "published": True}
    assert again == {"held": len(data), "published": False}
    assert path.stat().st_ino == inode and path.read_bytes() == data
    assert os.listdir(store.layout.tmp) == []  # the second copy went
    with pytest.raises(Exception, match="corrupt in transit"):  # and a bad one is refused
        bad = {"size": len(data), "sha256": "0" * 64}
        uploads.receive(store, "blobs", digest, 0, data, bad)
    assert path.read_bytes() == data
    store.close()
