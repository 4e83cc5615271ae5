"""How the agent moves bytes: its pipes, its reading ahead, its answers (a real agent
process, spoken to frame by frame)."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.store import Store
from assay.store.agent import server, uploads, wire
from assay.store.agent.bundle import BOOTSTRAP, shipped_bytes
from assay.store.agent.state import AgentStore
from assay.store.remote import ProcessPipe, agent_command, open_remote_store
from assay.store.remote.client import RemoteEndpoint
from tests.conftest import write_tree

_F_GETPIPE_SZ = 1032


def _start(root: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", BOOTSTRAP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(shipped_bytes())
    return proc


def _ask(proc: subprocess.Popen[bytes], header: dict[str, object]) -> dict[str, object]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(wire.encode(header))
    proc.stdin.flush()
    frame = wire.read_frame(proc.stdout)  # type: ignore[arg-type]
    assert frame is not None
    return frame[0]


def _max_pipe() -> int:
    return int(Path("/proc/sys/fs/pipe-max-size").read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pipe sizes are Linux's")
def test_the_agent_widens_its_pipes_to_a_mebibyte(tmp_path):
    if _max_pipe() < 2**20:
        pytest.skip("this kernel caps pipes below 1 MiB")
    proc = _start(tmp_path)
    try:
        answer = _ask(proc, {"id": 1, "op": "hello", "root": str(tmp_path / "store")})
        assert answer["ok"], answer
        assert proc.stdin is not None and proc.stdout is not None
        # The same pipes seen from this end: the agent set their size on its end.
        assert fcntl.fcntl(proc.stdin.fileno(), _F_GETPIPE_SZ) == 2**20
        assert fcntl.fcntl(proc.stdout.fileno(), _F_GETPIPE_SZ) == 2**20
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


# --- recording a pushed version -----------------------------------------------------------------


def _pushed(tmp_path: Path, files: int) -> tuple[Store, str, Path]:
    """A version of ``files`` small files pushed into a store behind a real agent."""
    src = Store(tmp_path / "src")
    build = write_tree(tmp_path / "build", {f"f{i}.txt": f"file {i}\n" for i in range(files)})
    version = src.put("build", build).version

    async def push() -> None:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", agent_command(sys.executable)])
        remote = await open_remote_store(pipe, root=str(tmp_path / "there"), where="here")
        try:
            await remote.push(src, version.ref)
        finally:
            await remote.close()

    asyncio.run(push())
    return src, version.tree, tmp_path / "there"


# --- round trips of a push ------------------------------------------------------------------------


def _ops_of_pushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: int) -> list[list[str]]:
    """The requests each of ``times`` pushes of one version made (a real agent each time)."""
    src = Store(tmp_path / "src")
    build = write_tree(tmp_path / "build", {f"f{i}.txt": f"file {i}\n" for i in range(5)})
    ref = src.put("build", build).version.ref
    ops: list[str] = []
    real_submit = RemoteEndpoint.submit

    async def counting(self: RemoteEndpoint, op: str, *args: Any, **kw: Any) -> Any:
        ops.append(op)
        return await real_submit(self, op, *args, **kw)

    monkeypatch.setattr(RemoteEndpoint, "submit", counting)

    async def push() -> None:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", agent_command(sys.executable)])
        remote = await open_remote_store(pipe, root=str(tmp_path / "there"), where="here")
        try:
            await remote.push(src, ref)
        finally:
            await remote.close()

    per_push = []
    for _ in range(times):
        ops.clear()
        asyncio.run(push())
        per_push.append([op for op in ops if op not in ("hello", "bye")])
    return per_push


def test_a_push_asks_about_its_trees_before_sending_and_not_about_partials(tmp_path, monkeypatch):
    first, again = _ops_of_pushes(tmp_path, monkeypatch, 2)
    # New: is the root tree there (no), the tree object, which files it names are lacking,
    # the files, one walk on the far side's disk, the version. Objects that fit in one piece
    # go whole: no question about unfinished uploads of them; small ones, many to a request.
    files = ["receive_many"]
    tree = ["missing", "receive", "missing_below"]
    # The far side's walk of the whole tree on its disk is the one that recording the version
    # does (a second walk just before it cost a tenth of a second on 10,000 files).
    assert first == [*tree, *files, "add_version"]
    # Unchanged: is the root there (yes), and the version (which walks the tree there).
    assert again == ["missing", "add_version"]


# --- what receiving one object costs --------------------------------------------------------------


def test_receiving_whole_objects_takes_no_upload_lock_opens_sums_once_and_makes_no_folder_twice(
    tmp_path, monkeypatch
):
    # A whole object is checked in memory and linked into place (an atomic create-if-absent):
    # no unfinished upload to guard, so none of the 256 lock files is made on its account (on
    # a first push into a new store each was one more inode to allocate).
    store = AgentStore(str(tmp_path / "store"), "test", create=True)
    opened: list[str] = []
    made: list[str] = []
    real_open, real_mkdir = os.open, os.mkdir

    def counting_open(path: Any, *args: Any, **kw: Any) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kw)

    def counting_mkdir(path: Any, *args: Any, **kw: Any) -> None:
        made.append(str(path))
        real_mkdir(path, *args, **kw)

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr(os, "mkdir", counting_mkdir)
    try:
        for i in range(20):
            data = f"object {i}\n".encode()
            digest = "ab" + hashlib.sha256(data).hexdigest()[2:]  # one two-digit folder
            sha = hashlib.sha256(data).hexdigest()
            finish = {"size": len(data), "sha256": sha}
            result = uploads.receive(store, "blobs", digest, 0, data, finish)
            assert result == {"held": len(data), "published": True}
            assert (
                tmp_path / "store" / "objects" / "blobs" / "ab" / digest[2:]
            ).read_bytes() == data
    finally:
        monkeypatch.setattr(os, "open", real_open)
        store.close()
    assert opened.count(str(tmp_path / "store" / "lock")) <= 1
    assert not [path for path in opened if "/incoming/" in path]
    assert opened.count(str(tmp_path / "store" / "sha256" / "ab")) == 1  # kept open
    assert made == [str(tmp_path / "store" / "objects" / "blobs" / "ab")]


# --- answers --------------------------------------------------------------------------------------


class _CountingOut(io.BytesIO):
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_answers_to_requests_waiting_in_the_pipe_are_written_together_and_in_order(tmp_path):
    read_end, write_end = os.pipe()
    frames = [wire.encode({"id": 1, "op": "hello", "root": str(tmp_path / "store")})]
    frames += [wire.encode({"id": i, "op": "names"}) for i in range(2, 52)]
    os.write(write_end, b"".join(frames))  # all 51 wait in the pipe, as a pipelining client's
    os.close(write_end)
    out = _CountingOut()
    with open(read_end, "rb") as stdin:
        assert server.serve(stdin, out) == 0  # type: ignore[arg-type]
    out.seek(0)
    answers = []
    while (frame := wire.read_frame(out)) is not None:  # type: ignore[arg-type]
        answers.append(frame[0])
    assert [a["id"] for a in answers] == list(range(1, 52))
    assert all(a["ok"] for a in answers)
    assert out.flushes <= 2  # not one per answer: each would wake sshd, ssh and the client


def test_answers_held_back_are_written_at_least_every_few_mebibytes_received(tmp_path):
    frames = [wire.encode({"id": 1, "op": "hello", "root": str(tmp_path / "store")})]
    for i in range(2, 14):  # 12 objects of 1 MiB each
        data = bytes([i]) * 2**20
        sha = hashlib.sha256(data).hexdigest()
        header: dict[str, object] = {"id": i, "op": "receive", "kind": "blobs", "digest": sha}
        header.update(offset=0, finish={"size": len(data), "sha256": sha})
        frames.append(wire.encode(header, data) + data)
    # A file as the input: always more to read, so only the byte count makes answers go out.
    requests = tmp_path / "requests"
    requests.write_bytes(b"".join(frames))
    out = _CountingOut()
    with requests.open("rb") as stdin:
        assert server.serve(stdin, out) == 0  # type: ignore[arg-type]
    out.seek(0)
    answers = []
    while (frame := wire.read_frame(out)) is not None:  # type: ignore[arg-type]
        answers.append(frame[0])
    assert [a["id"] for a in answers] == list(range(1, 14)) and all(a["ok"] for a in answers)
    assert out.flushes >= 12 // 4  # the client hears back at least every 4 MiB
