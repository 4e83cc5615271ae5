"""A store behind its agent (a real agent process, reached through a local pipe): pushing,
pulling, what travels, resuming, damage in transit, staging there, leases and verify.

The pipe here is a local subprocess; tests/integration/test_store_ssh.py runs the same agent
through the OpenSSH client against a real sshd."""

from __future__ import annotations

import asyncio
import os
import random
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from assay.store import Store, StoreError
from assay.store.remote import (
    BytePipe,
    ProcessPipe,
    RemoteStore,
    agent_command,
    open_remote_store,
)
from assay.store.transfer import CorruptInTransit, TransferError, TransferProgress
from assay.store.trees import stored_trees
from tests.conftest import write_tree

KIB, MIB = 1024, 1024 * 1024
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def agent_pipe(python: str = sys.executable) -> ProcessPipe:
    return await ProcessPipe.start(["/bin/sh", "-c", agent_command(python)])


async def opened(root: Path, pipe: BytePipe | None = None, **kw: Any) -> RemoteStore:
    return await open_remote_store(pipe or await agent_pipe(), root=str(root), where="here", **kw)


async def with_remote(root: Path, work: Callable[[RemoteStore], Awaitable[T]], **kw: Any) -> T:
    remote = await opened(root, **kw)
    try:
        return await work(remote)
    finally:
        await remote.close()


def snapshot(root: Path) -> dict[str, tuple[str, object]]:
    out: dict[str, tuple[str, object]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", None)
        else:
            out[rel] = ("file", (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR)))
    return out


@pytest.fixture
def src(tmp_path: Path) -> Store:
    return Store(tmp_path / "src")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    rng = random.Random(7)
    files: dict[str, str | bytes] = {f"lib/part{i}.txt": f"part {i}\n" * 300 for i in range(12)}
    files["bin/tool"] = "#!/bin/sh\necho tool\n"
    files["data/big.bin"] = rng.randbytes(3 * MIB)
    files["data/huge.bin"] = rng.randbytes(9 * MIB)  # stored as chunks
    files["data/empty"] = b""
    root = write_tree(tmp_path / "build", files, exe=("bin/tool",))
    (root / "bin" / "latest").symlink_to("tool")
    (root / "empty-dir").mkdir()
    return root


# --- pushing and pulling ----------------------------------------------------------------------


def test_a_pushed_version_is_there_byte_for_byte_and_assay_reads_the_store(src, build, tmp_path):
    version = src.put("build", build, message="first").version
    root = tmp_path / "remote"

    async def work(remote: RemoteStore) -> Any:
        report = await remote.push(src, "build")
        staged = await remote.stage(version.tree, str(tmp_path / "staged"))
        return report, staged, await remote.verify()

    report, staged, verified = run(with_remote(root, work))

    assert report.version == "build@1" and report.version_created
    assert report.bytes_sent == report.bytes_needed and report.objects_sent == report.objects_needed
    assert snapshot(tmp_path / "staged") == snapshot(build)
    assert staged["linked"] == 16 and staged["copied"] == 0  # every file
    assert verified.clean and verified.checked == report.objects_needed
    assert verified.unchecked == 0  # every object has its SHA-256 of arrival
    # The same layout as assay's own store: assay reads it, BLAKE3 and all.
    local = Store(root)
    assert local.resolve("build").tree == version.tree
    assert local.resolve("build").source_kind == "transfer"
    assert local.resolve("build").message == "first"
    report_local = local.verify()
    # ... and the copy of data/huge.bin the agent assembled from its chunks, by BLAKE3.
    assert report_local.clean and report_local.checked == report.objects_needed + 1
    local.get("build", tmp_path / "got")
    assert snapshot(tmp_path / "got") == snapshot(build)


def test_staged_files_are_hard_links_to_the_remote_objects(src, build, tmp_path):
    version = src.put("build", build).version
    root = tmp_path / "remote"

    async def work(remote: RemoteStore) -> tuple[dict[str, int], str]:
        await remote.push(src, "build")
        staged = await remote.stage(version.tree, str(tmp_path / "case"), writable=["lib/*"])
        return staged, await remote.checkout(version.tree)

    staged, checkout = run(with_remote(root, work))
    tree = src.tree(version.tree).by_path()
    tool = tmp_path / "case" / "bin" / "tool"
    obj = root / "objects" / "xblobs" / tree["bin/tool"].hash[:2] / tree["bin/tool"].hash[2:]
    assert tool.stat().st_ino == obj.stat().st_ino  # a link, not a copy
    assert staged["copied"] == 12  # the writable ones: private copies
    (tmp_path / "case" / "lib" / "part1.txt").write_text("changed\n")  # writable indeed
    assert Store(root).verify().clean
    assert checkout == str(root / "checkouts" / version.tree)
    assert snapshot(Path(checkout)) == snapshot(build)


def test_a_second_push_sends_nothing_and_a_changed_file_sends_only_itself(src, build, tmp_path):
    first = src.put("build", build).version.tree
    root = tmp_path / "remote"
    run(with_remote(root, lambda r: r.push(src, "build")))

    async def again(remote: RemoteStore) -> Any:
        report = await remote.push(src, "build")
        return report, remote.bytes_sent

    report, wire = run(with_remote(root, again))
    assert report.bytes_sent == 0 and report.objects_sent == 0
    assert report.bytes_skipped == report.bytes_needed
    assert report.version == "build@1" and not report.version_created
    assert wire < 64 * KIB  # the agent's code and a few requests

    (build / "lib" / "part3.txt").write_text("changed\n")
    second = src.put("build", build).version
    report = run(with_remote(root, lambda r: r.push(src, "build")))
    # the file, and the objects of the directories on its path (the root and lib/) only
    new_trees = set(stored_trees(src.objects, second.tree)) - set(stored_trees(src.objects, first))
    assert len(new_trees) == 2
    tree_size = sum(src.objects.path("trees", t).stat().st_size for t in new_trees)
    assert report.bytes_sent == len("changed\n") + tree_size
    assert report.objects_sent == 3 and report.version == "build@2"


def test_a_one_file_change_in_a_big_tree_crosses_the_wire_as_little_more_than_the_file(
    src, tmp_path
):
    """Measured in bytes through the pipe (frames, payloads), not counters: the second push
    of 2,000 files in 20 directories with one 10 KB file replaced."""
    rng = random.Random(5)
    files = {f"d{i:02d}/f{j:03d}.bin": rng.randbytes(200) for i in range(20) for j in range(100)}
    build = write_tree(tmp_path / "b", files)
    src.put("build", build)
    root = tmp_path / "remote"
    run(with_remote(root, lambda r: r.push(src, "build")))
    (build / "d13/f042.bin").write_bytes(rng.randbytes(10 * KIB))
    src.put("build", build)

    async def again(remote: RemoteStore) -> tuple[int, int]:
        start = remote.bytes_sent + remote.bytes_received  # the agent's code, the hello
        report = await remote.push(src, "build")
        assert report.version == "build@2" and report.objects_sent == 3  # file, root, d13/
        return remote.bytes_sent + remote.bytes_received - start, report.bytes_sent

    wire, payload = run(with_remote(root, again))
    assert 10 * KIB < payload < 16 * KIB
    # one manifest of every path (the first format) was 300 KB, asking about every object
    # ~150 KB: the wire carries the file, two directory objects (d13/ is 100 entries) and
    # which of d13/'s 100 files the store lacks (about 27 KB in all)
    assert wire < 32 * KIB, wire


@pytest.mark.parametrize("again", ["build@1", "build@2"])
def test_a_push_sends_what_the_far_side_lost_below_a_tree_it_holds(src, build, tmp_path, again):
    """An object removed there (a repair dropped it as damaged) under a directory whose tree
    object is still there: the next push of that version, or of one sharing the directory,
    finds it lacking when it records the version, sends it and records."""
    src.put("build", build)
    (build / "lib" / "part0.txt").write_text("changed\n")  # build@2 shares data/ with build@1
    src.put("build", build)
    root = tmp_path / "remote"
    run(with_remote(root, lambda remote: remote.push(src, "build@1")))
    lost = next(p for p in (root / "objects" / "chunks").rglob("*") if p.is_file())
    lost.chmod(0o644)
    lost.unlink()
    report = run(with_remote(root, lambda remote: remote.push(src, again)))
    assert report.objects_sent >= 1
    assert lost.is_file()
    assert Store(root).verify().clean
    Store(root).get(again, tmp_path / "out")
    assert (tmp_path / "out" / "data" / "huge.bin").read_bytes() == (
        build / "data" / "huge.bin"
    ).read_bytes()


def test_a_pulled_version_is_checked_here_and_reproduces(src, build, tmp_path):
    version = src.put("build", build).version
    root = tmp_path / "remote"
    run(with_remote(root, lambda r: r.push(src, "build")))
    dest = Store(tmp_path / "dest")

    report = run(with_remote(root, lambda r: r.pull(dest, "build@1")))

    assert report.version == "build@1" and report.bytes_sent == report.bytes_needed
    assert dest.resolve("build").tree == version.tree
    assert "here:" in (dest.resolve("build").source or "")
    dest.get("build", tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(build)
    assert dest.verify().clean
    again = run(with_remote(root, lambda r: r.pull(dest, "build")))
    assert again.bytes_sent == 0 and not again.version_created


def test_progress_reaches_the_total_and_counts_objects(src, build, tmp_path):
    src.put("build", build)
    seen: list[TransferProgress] = []

    def record(status: TransferProgress) -> None:
        seen.append(TransferProgress(**vars(status)))

    report = run(with_remote(tmp_path / "remote", lambda r: r.push(src, "build", progress=record)))
    phases = [s.phase for s in seen]
    assert phases[0] == "checking" and phases[-1] == "done" and "sending" in phases
    sending = [s for s in seen if s.phase == "sending"]
    assert max(s.bytes_total for s in seen) == report.bytes_sent
    assert [s.bytes_done for s in sending] == sorted(s.bytes_done for s in sending)
    assert seen[-1].bytes_done == seen[-1].bytes_total == report.bytes_sent
    assert seen[-1].objects_done == report.objects_sent


# --- faults -----------------------------------------------------------------------------------


class CuttingPipeFake:
    """A fault injector around a real pipe: the connection drops half-way through the
    ``cut_at``-th piece it carries (a write of 64 KiB or more), and its process is killed, as
    when the network or the sshd behind it goes."""

    def __init__(self, inner: ProcessPipe, cut_at: int) -> None:
        self.inner, self.cut_at = inner, cut_at
        self.pieces = 0
        self.cut = False

    async def read(self, n: int) -> bytes:
        return await self.inner.read(n)

    def write(self, data: bytes) -> None:
        if self.cut:
            raise ConnectionResetError("connection reset by the fault injector")
        if len(data) >= 64 * KIB:
            self.pieces += 1
            if self.pieces == self.cut_at:
                self.inner.write(bytes(data[: len(data) // 2]))
                self.cut = True
                asyncio.get_running_loop().call_later(0.2, self.inner.process.kill)
                return
        self.inner.write(data)

    async def drain(self) -> None:
        await self.inner.drain()

    async def close(self) -> None:
        await self.inner.close()

    def diagnostics(self) -> str:
        return self.inner.diagnostics()


class CorruptingPipeFake(CuttingPipeFake):
    """A fault injector: flips one byte in the middle of the first large piece it carries."""

    def __init__(self, inner: ProcessPipe) -> None:
        super().__init__(inner, 0)
        self.flipped = False

    def write(self, data: bytes) -> None:
        if not self.flipped and len(data) >= 256 * KIB:
            self.flipped = True
            data = bytes(data[:1000]) + bytes([data[1000] ^ 0x01]) + bytes(data[1001:])
        self.inner.write(data)


def _incoming(root: Path) -> list[Path]:
    return sorted(p for p in (root / "incoming").iterdir() if p.name != ".locks")


def _stored_bytes(root: Path) -> int:
    """Bytes the remote store holds: published objects and unfinished uploads."""
    objects = sum(p.stat().st_size for p in (root / "objects").rglob("*") if p.is_file())
    return objects + sum(p.stat().st_size for p in _incoming(root))


def _tree(store: Store) -> str:
    return store.resolve("build").tree


def test_a_cut_connection_resumes_and_no_piece_that_arrived_is_sent_again(src, tmp_path):
    rng = random.Random(3)
    build = write_tree(tmp_path / "b", {f"f{i}.bin": rng.randbytes(700 * KIB) for i in range(30)})
    src.put("build", build)
    root = tmp_path / "remote"

    async def cut() -> None:
        # Each file is three pieces: the cut leaves the first two pieces of the 14th held.
        cutting = CuttingPipeFake(await agent_pipe(), 3 * 13 + 3)
        remote = await opened(root, cutting)
        try:
            await remote.push(src, "build", piece=256 * KIB)
        finally:
            await remote.close()

    with pytest.raises(TransferError, match=r"connection to here.* was lost.*resumes"):
        run(cut())
    assert Store(root).refs.names() == []  # no version without its objects
    arrived = _stored_bytes(root)
    held = sum(p.stat().st_size for p in _incoming(root))
    assert held == 512 * KIB  # the object cut in the middle: its whole pieces wait
    # the tree object goes first (the agent reads it and says which files it lacks)
    assert arrived == 13 * 700 * KIB + held + src.objects.path("trees", _tree(src)).stat().st_size

    report = run(with_remote(root, lambda r: r.push(src, "build", piece=256 * KIB)))

    assert report.bytes_resumed == held
    assert report.bytes_skipped + report.bytes_resumed == arrived
    assert report.bytes_sent == report.bytes_needed - arrived  # nothing that arrived, again
    assert report.version == "build@1" and _incoming(root) == []
    assert Store(root).verify().clean


def test_a_piece_corrupted_in_transit_is_never_published(src, build, tmp_path):
    version = src.put("build", build).version
    root = tmp_path / "remote"

    async def corrupt() -> None:
        remote = await opened(root, CorruptingPipeFake(await agent_pipe()))
        try:
            await remote.push(src, "build")
        finally:
            await remote.close()

    with pytest.raises(CorruptInTransit, match=r"corrupt in transit.*SHA-256.*file data/big\.bin"):
        run(corrupt())
    big = src.tree(version.tree).by_path()["data/big.bin"].hash
    assert not (root / "objects" / "blobs" / big[:2] / big[2:]).exists()
    assert _incoming(root) == [] and Store(root).refs.names() == []
    assert run(with_remote(root, lambda r: r.verify())).clean

    report = run(with_remote(root, lambda r: r.push(src, "build")))
    assert report.version == "build@1"
    assert Store(root).verify().clean


def test_the_agent_refuses_names_that_would_be_paths(tmp_path):
    async def work(remote: RemoteStore) -> list[str]:
        errors = []
        for op, args in (
            ("receive", {"kind": "../names", "digest": "a" * 64, "offset": 0}),
            ("partials", {"objects": [["blobs", "../../etc/passwd"]]}),
            ("missing", {"objects": [["trees", "AB" * 32]]}),
            ("add_version", {"version": {"name": "../x", "tree": "a" * 64}}),
            ("stage", {"tree": "a" * 64 + "/..", "target": str(tmp_path / "t")}),
            ("read", {"kind": "blobs", "digest": "../lock", "offset": 0, "length": 1}),
        ):
            with pytest.raises(TransferError) as caught:
                await remote.endpoint.call(op, args)
            errors.append(str(caught.value))
        return errors

    errors = run(with_remote(tmp_path / "remote", work))
    assert [("not an object" in e or "not a valid name" in e) for e in errors] == [True] * 6
    assert not (tmp_path / "t").exists()


def test_a_store_that_does_not_exist_is_not_made_to_pull_from(tmp_path):
    with pytest.raises(StoreError, match=r"there is no store at .*nowhere"):
        run(opened(tmp_path / "nowhere", create=False))
    assert not (tmp_path / "nowhere").exists()


def test_an_agent_that_cannot_start_says_why(tmp_path):
    async def start() -> None:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", agent_command("no-such-python3")])
        await opened(tmp_path / "r", pipe)

    with pytest.raises(TransferError, match=r"did not start:.*no-such-python3.*needs Python 3\.7"):
        run(start())


def test_an_agent_that_reads_nothing_before_the_first_write_still_says_why(tmp_path):
    """The race of the test above, made certain: nothing reads the pipe any more when the
    opening request is written (EPIPE at once), and the message is still why it went."""

    async def start() -> None:
        # Its stdin closed first (every write is EPIPE), alive while the pipe is set up.
        command = "exec 0<&-; sleep 1; " + agent_command("no-such-python3")
        pipe = await ProcessPipe.start(["/bin/sh", "-c", command])
        await opened(tmp_path / "r", pipe)

    with pytest.raises(TransferError, match=r"did not start:.*no-such-python3.*needs Python 3\.7"):
        run(start())


# --- leases -----------------------------------------------------------------------------------


def test_gc_there_keeps_what_a_live_agent_pins_and_not_after_it_ends(src, build, tmp_path):
    version = src.put("build", build).version
    root = tmp_path / "remote"

    async def work(remote: RemoteStore) -> tuple[int, int]:
        await remote.push_tree(src, version.tree)  # no version: only the lease keeps it
        during = Store(root).gc(keep=0)
        return during.objects, during.leases

    removed, leases = run(with_remote(root, work))
    assert (removed, leases) == (0, 1)
    after = Store(root).gc(keep=0)
    assert after.objects > 0 and after.leases == 0  # the agent ended: its lease with it


def test_a_push_pins_its_trees_and_not_each_object_it_sends(src, build, tmp_path):
    # Every pin is a write and a sync of the lease: one per object made a first push of
    # 10,000 files wait for 10,000 syncs. The tree objects arrive first and are pinned; gc
    # keeps whatever a pinned tree names, so the files that follow need no pin of their own.
    version = src.put("build", build).version
    root = tmp_path / "remote"

    async def work(remote: RemoteStore) -> list[str]:
        await remote.push_tree(src, version.tree)
        during = Store(root).gc(keep=0)  # no version yet: only the tree pins keep the files
        assert during.objects == 0
        (lease,) = (root / "leases").glob("*.lease")
        return lease.read_text().splitlines()[1:]

    pins = run(with_remote(root, work))
    assert f"tree {version.tree}" in pins
    # The tree objects themselves are pinned as they arrive (before any tree names them).
    assert [p for p in pins if not p.startswith(("tree ", "object trees "))] == []
    trees = len(stored_trees(src.objects, version.tree))
    assert len(pins) <= 2 * trees


def test_an_object_sent_in_pieces_is_pinned_with_its_unfinished_upload(src, build, tmp_path):
    # Its tree keeps the object once published; until then only a pin by name keeps gc from
    # taking its unfinished upload for an abandoned one.
    version = src.put("build", build).version
    root = tmp_path / "remote"
    blob = next(e.hash for e in src.tree(version.tree).entries if e.path == "data/big.bin")

    async def work(remote: RemoteStore) -> list[str]:
        await remote.push(src, version.ref, piece=256 * KIB)
        (lease,) = (root / "leases").glob("*.lease")
        return lease.read_text().splitlines()[1:]

    pins = run(with_remote(root, work))
    assert f"object blobs {blob}" in pins


def test_two_pushes_of_the_same_objects_at_once_cooperate(src, build, tmp_path):
    src.put("build", build)
    root = tmp_path / "remote"

    async def both() -> list[Any]:
        first, second = await opened(root), await opened(root)  # two agents, one store
        try:
            return list(
                await asyncio.gather(
                    first.push(src, "build", piece=64 * KIB),
                    second.push(src, "build", piece=64 * KIB),
                )
            )
        finally:
            await first.close()
            await second.close()

    reports = run(both())
    assert sorted(r.version_created for r in reports) == [False, True]
    assert {r.version for r in reports} == {"build@1"}
    assert [v.version for v in Store(root).refs.versions("build")] == [1]
    assert _incoming(root) == []
    assert Store(root).verify().clean
    Store(root).get("build", tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(build)


# --- a full disk ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 6 MiB file system of its own (tmpfs; mounting needs root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_clearly_keeps_the_store_consistent_and_resumes(
    src, build, tmp_path, small_disk
):
    src.put("build", build)  # 12 MiB: more than the 6 MiB there
    root = small_disk / "store"

    with pytest.raises(StoreError, match=r"here:.*store is full \(.* bytes free\).*push again"):
        run(with_remote(root, lambda r: r.push(src, "build", piece=256 * KIB)))

    assert Store(root).refs.names() == []
    assert run(with_remote(root, lambda r: r.verify())).clean
    assert Store(root).verify().clean  # by BLAKE3 too: nothing half-written was published
    assert all(p.stat().st_size % (256 * KIB) == 0 for p in _incoming(root))  # whole pieces

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    report = run(with_remote(root, lambda r: r.push(src, "build", piece=256 * KIB)))
    assert report.version == "build@1"
    assert report.bytes_sent + report.bytes_skipped + report.bytes_resumed == report.bytes_needed
    assert Store(root).verify().clean
