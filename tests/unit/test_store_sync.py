"""Transfers between two real stores: what is sent, resuming after a broken connection,
damage in transit, refused offsets, and concurrent pushes from two processes."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assay.store import Corrupt, Store
from assay.store.objects import hash_bytes
from assay.store.sync import (
    CorruptInTransit,
    LocalEndpoint,
    OffsetMismatch,
    TransferError,
    push,
    push_tree,
)
from assay.store.trees import stored_objects, stored_trees

KIB, MIB = 1024, 1024 * 1024


def _write(root: Path, files: dict[str, bytes], exe: tuple[str, ...] = ()) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if rel in exe:
            path.chmod(0o755)
    return root


def _snapshot(root: Path) -> dict[str, tuple[str, object]]:
    """Every entry below ``root``: files by content and executable bit, links by target."""
    out: dict[str, tuple[str, object]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", None)
        else:
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
            out[rel] = ("file", (path.read_bytes(), executable))
    return out


def _partials(store: Store) -> list[Path]:
    incoming = store.root / "incoming"
    return sorted(p for p in incoming.iterdir() if p.name != ".locks")


def _assert_clean(store: Store) -> None:
    report = store.verify()
    assert report.checked > 0
    assert (report.corrupt, report.missing, report.damaged_versions) == ([], [], [])


@pytest.fixture
def src(tmp_path: Path) -> Store:
    return Store(tmp_path / "src")


@pytest.fixture
def dst(tmp_path: Path) -> Store:
    return Store(tmp_path / "dst")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    rng = random.Random(1)
    files = {f"lib/part{i}.txt": f"part {i}\n".encode() * 300 for i in range(12)}
    files["bin/tool"] = b"#!/bin/sh\necho tool\n"
    files["data/big.bin"] = rng.randbytes(3 * MIB)  # one blob, sent in several pieces
    files["data/empty"] = b""
    root = _write(tmp_path / "build", files, exe=("bin/tool",))
    (root / "bin" / "latest").symlink_to("tool")
    (root / "empty-dir").mkdir()
    return root


# --- a whole push ---------------------------------------------------------------------------


def test_a_pushed_version_reproduces_byte_for_byte(src, dst, build, tmp_path):
    put = src.put("build", build, message="first")
    report = push(src, "build", LocalEndpoint(dst), chunk_size=256 * KIB)

    assert report.version == "build@1" and report.version_created
    assert (
        report.objects_sent
        == report.objects_needed
        == len(stored_objects(src.objects, put.version.tree))
    )
    assert report.bytes_sent == report.bytes_needed
    assert report.bytes_skipped == report.bytes_resumed == 0

    got = dst.resolve("build")
    assert got.tree == put.version.tree
    assert got.source_kind == "transfer"
    assert (got.created, got.user, got.host) == (
        put.version.created,
        put.version.user,
        put.version.host,
    )
    assert got.message == "first" and got.source is not None and "build@1" in got.source
    dst.get("build", tmp_path / "out")
    assert _snapshot(tmp_path / "out") == _snapshot(build)
    assert os.readlink(tmp_path / "out" / "bin" / "latest") == "tool"
    assert (tmp_path / "out" / "bin" / "tool").stat().st_mode & 0o111
    assert not (tmp_path / "out" / "lib" / "part1.txt").stat().st_mode & 0o111
    _assert_clean(dst)
    assert _partials(dst) == []


def test_published_objects_are_read_only_with_the_epoch_mtime(src, dst, build):
    version = src.put("build", build).version
    push(src, "build", LocalEndpoint(dst))
    tree = src.tree(version.tree).by_path()
    tool = dst.objects.path("xblobs", tree["bin/tool"].hash or "")
    part = dst.objects.path("blobs", tree["lib/part0.txt"].hash or "")
    tree_object = dst.objects.path("trees", version.tree)
    assert stat.S_IMODE(tool.stat().st_mode) == 0o555
    assert stat.S_IMODE(part.stat().st_mode) == 0o444
    assert stat.S_IMODE(tree_object.stat().st_mode) == 0o444
    assert {p.stat().st_mtime_ns for p in (tool, part, tree_object)} == {0}


def test_pushing_the_same_version_again_sends_nothing_and_adds_no_version(src, dst, build):
    src.put("build", build)
    push(src, "build", LocalEndpoint(dst))
    again = push(src, "build@1", LocalEndpoint(dst))
    assert again.objects_sent == 0 and again.bytes_sent == 0
    assert again.bytes_skipped == again.bytes_needed > 0
    assert again.version == "build@1" and not again.version_created
    assert [v.version for v in dst.refs.versions("build")] == [1]


def test_a_second_version_sends_only_the_changed_file(src, dst, build):
    first = src.put("build", build).version
    push(src, "build", LocalEndpoint(dst))
    changed = b"part 3 changed\n" * 7
    (build / "lib" / "part3.txt").write_bytes(changed)
    second = src.put("build", build).version
    new_trees = set(stored_trees(src.objects, second.tree)) - set(
        stored_trees(src.objects, first.tree)
    )
    tree_size = sum(src.objects.path("trees", t).stat().st_size for t in new_trees)

    report = push(src, "build@2", LocalEndpoint(dst))

    # the changed file and the objects of the two directories on its path (root, lib/)
    assert len(new_trees) == 2 and report.objects_sent == 3
    assert report.bytes_sent == len(changed) + tree_size
    assert report.bytes_skipped == report.bytes_needed - report.bytes_sent
    assert report.version == "build@2"
    assert dst.resolve("build@2").tree == second.tree
    _assert_clean(dst)


def test_a_large_file_changed_in_the_middle_sends_only_the_changed_chunks(src, dst, tmp_path):
    rng = random.Random(2)
    big = bytearray(rng.randbytes(12 * MIB))
    root = _write(tmp_path / "big", {"solver.dat": bytes(big), "README": b"read me\n"})
    first = src.put("data", root).version
    push(src, "data", LocalEndpoint(dst))

    big[6 * MIB : 6 * MIB + 100 * KIB] = rng.randbytes(100 * KIB)
    (root / "solver.dat").write_bytes(big)
    second = src.put("data", root).version
    old_chunks = src.tree(first.tree).by_path()["solver.dat"].chunks
    new_chunks = src.tree(second.tree).by_path()["solver.dat"].chunks
    assert old_chunks is not None and new_chunks is not None  # stored as chunks
    fresh = {h: n for h, n in new_chunks if (h, n) not in old_chunks}
    tree_size = src.objects.path("trees", second.tree).stat().st_size

    report = push(src, "data", LocalEndpoint(dst))

    assert report.bytes_sent == sum(fresh.values()) + tree_size
    assert report.objects_sent == len(fresh) + 1
    assert report.bytes_sent < len(big) // 4
    assert report.bytes_skipped == report.bytes_needed - report.bytes_sent
    dst.get("data@2", tmp_path / "out")
    assert (tmp_path / "out" / "solver.dat").read_bytes() == bytes(big)
    _assert_clean(dst)


def test_push_tree_sends_an_unnamed_tree(src, dst, build, tmp_path):
    tree = src.import_path(build).tree
    report = push_tree(src, tree, LocalEndpoint(dst))
    assert report.version is None and report.bytes_sent == report.bytes_needed
    assert dst.refs.names() == []
    dst.stage(tree, tmp_path / "staged")
    assert _snapshot(tmp_path / "staged") == _snapshot(build)


# --- faults ---------------------------------------------------------------------------------


class Forwarding:
    """Passes every call on to a real endpoint (the base of the fault injectors below)."""

    def __init__(self, inner: LocalEndpoint) -> None:
        self.inner = inner

    def missing(self, objects: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return self.inner.missing(objects)

    def partial(self, kind: str, digest: str) -> int:
        return self.inner.partial(kind, digest)

    def receive(self, kind: str, digest: str, offset: int, data: bytes) -> int:
        return self.inner.receive(kind, digest, offset, data)

    def finish(self, kind: str, digest: str) -> None:
        self.inner.finish(kind, digest)

    def add_version(self, version: dict[str, object]) -> dict[str, object]:
        return self.inner.add_version(version)

    def lacking_in_tree(self, tree: str) -> list[tuple[str, str]]:
        return self.inner.lacking_in_tree(tree)

    def lacking_below(self, trees: list[str]) -> list[tuple[str, str]]:
        return self.inner.lacking_below(trees)


class CrashingAfterBytes(Forwarding):
    """The connection drops once ``limit`` bytes have arrived, in the middle of a piece."""

    def __init__(self, inner: LocalEndpoint, limit: int) -> None:
        super().__init__(inner)
        self.left = limit

    def receive(self, kind: str, digest: str, offset: int, data: bytes) -> int:
        if len(data) <= self.left:
            self.left -= len(data)
            return self.inner.receive(kind, digest, offset, data)
        if self.left:
            self.inner.receive(kind, digest, offset, data[: self.left])
        self.left = 0
        raise ConnectionError("connection closed by the remote host")


class FlippingOneByte(Forwarding):
    """Damages one byte of the second piece of the first object sent in several pieces."""

    def __init__(self, inner: LocalEndpoint) -> None:
        super().__init__(inner)
        self.damaged: tuple[str, str] | None = None

    def receive(self, kind: str, digest: str, offset: int, data: bytes) -> int:
        if self.damaged is None and offset > 0:
            self.damaged = (kind, digest)
            data = data[:10] + bytes([data[10] ^ 0x40]) + data[11:]
        return self.inner.receive(kind, digest, offset, data)


class OvertakenMidway(Forwarding):
    """Another push of the same tree runs to completion just before the second piece."""

    def __init__(self, inner: LocalEndpoint, source: Store, tree: str) -> None:
        super().__init__(inner)
        self.source, self.tree, self.done = source, tree, False

    def receive(self, kind: str, digest: str, offset: int, data: bytes) -> int:
        if not self.done and offset > 0:
            self.done = True
            push_tree(self.source, self.tree, LocalEndpoint(self.inner.store), chunk_size=KIB)
        return self.inner.receive(kind, digest, offset, data)


def test_an_interrupted_push_resumes_where_it_broke(src, dst, build, tmp_path):
    version = src.put("build", build).version
    big = src.tree(version.tree).by_path()["data/big.bin"].hash
    limit = 1 * MIB + 12345  # inside data/big.bin, mid-piece

    with pytest.raises(ConnectionError):
        push(src, "build", CrashingAfterBytes(LocalEndpoint(dst), limit), chunk_size=256 * KIB)

    assert dst.refs.versions("build") == []
    assert not dst.objects.has("blobs", big)  # the half-sent object is not published
    assert _partials(dst) == [dst.root / "incoming" / f"blobs-{big}"]
    held = _partials(dst)[0].stat().st_size
    assert 0 < held < 3 * MIB
    _assert_clean(dst)  # what was published before the break is whole

    report = push(src, "build", LocalEndpoint(dst), chunk_size=256 * KIB)

    assert report.bytes_resumed == held
    assert report.bytes_resumed + report.bytes_skipped == limit  # nothing received is resent
    assert report.bytes_sent == report.bytes_needed - limit
    assert report.version == "build@1"
    assert _partials(dst) == []
    dst.get("build", tmp_path / "out")
    assert _snapshot(tmp_path / "out") == _snapshot(build)
    _assert_clean(dst)


def test_a_piece_damaged_in_transit_is_never_published(src, dst, build, tmp_path):
    src.put("build", build)
    flipping = FlippingOneByte(LocalEndpoint(dst))

    with pytest.raises(CorruptInTransit, match="corrupt in transit") as caught:
        push(src, "build", flipping, chunk_size=256 * KIB)

    assert flipping.damaged is not None
    kind, digest = flipping.damaged
    assert f"{kind}/{digest}" in str(caught.value) and "data/big.bin" in str(caught.value)
    assert not dst.objects.has(kind, digest)
    assert _partials(dst) == []  # the damaged upload was discarded, not resumed from
    assert dst.refs.versions("build") == []

    report = push(src, "build", LocalEndpoint(dst), chunk_size=256 * KIB)
    assert report.version == "build@1" and report.bytes_resumed == 0
    dst.get("build", tmp_path / "out")
    assert _snapshot(tmp_path / "out") == _snapshot(build)
    _assert_clean(dst)


def test_a_push_overtaken_by_another_finishes_without_duplicates(src, dst, build, tmp_path):
    version = src.put("build", build).version
    overtaken = OvertakenMidway(LocalEndpoint(dst), src, version.tree)

    report = push(src, "build", overtaken, chunk_size=256 * KIB)

    assert overtaken.done
    assert report.version == "build@1" and report.version_created
    assert report.bytes_sent < report.bytes_needed  # it noticed and stopped sending that one
    assert _partials(dst) == []
    dst.get("build", tmp_path / "out")
    assert _snapshot(tmp_path / "out") == _snapshot(build)
    _assert_clean(dst)


def test_an_unfinished_upload_longer_than_its_object_is_sent_afresh(src, dst, build, tmp_path):
    version = src.put("build", build).version
    digest = src.tree(version.tree).by_path()["lib/part2.txt"].hash or ""
    content = src.objects.path("blobs", digest).read_bytes()
    LocalEndpoint(dst).receive("blobs", digest, 0, content + b"left over from a bug")

    report = push(src, "build", LocalEndpoint(dst))

    assert report.bytes_resumed == 0 and report.bytes_sent == report.bytes_needed
    assert _partials(dst) == []
    assert dst.objects.verify_object("blobs", digest)
    _assert_clean(dst)


def test_the_source_damaged_is_not_blamed_on_the_transfer(src, dst, build):
    version = src.put("build", build).version
    digest = src.tree(version.tree).by_path()["lib/part0.txt"].hash or ""
    path = src.objects.path("blobs", digest)
    path.chmod(0o644)
    content = path.read_bytes()
    path.write_bytes(content[:-1] + b"!")

    with pytest.raises(Corrupt, match=r"source store's blobs/.*lib/part0\.txt.*damaged"):
        push(src, "build", LocalEndpoint(dst))
    assert not dst.objects.has("blobs", digest)


# --- the endpoint's checks -------------------------------------------------------------------


def test_receive_refuses_an_offset_other_than_the_held_size(dst):
    endpoint = LocalEndpoint(dst)
    data = b"some bytes of an object\n" * 10
    digest = hash_bytes(data)
    with pytest.raises(OffsetMismatch, match=r"at offset 5: the unfinished upload holds 0 bytes"):
        endpoint.receive("blobs", digest, 5, data[5:])
    assert endpoint.partial("blobs", digest) == 0 and _partials(dst) == []

    assert endpoint.receive("blobs", digest, 0, data[:100]) == 100
    with pytest.raises(OffsetMismatch, match="start at offset 100") as caught:
        endpoint.receive("blobs", digest, 90, data[90:])
    assert caught.value.held == 100
    assert endpoint.partial("blobs", digest) == 100  # the refused piece changed nothing

    assert endpoint.receive("blobs", digest, 100, data[100:]) == len(data)
    endpoint.finish("blobs", digest)
    assert dst.objects.path("blobs", digest).read_bytes() == data
    assert endpoint.missing([("blobs", digest)]) == []


def test_a_piece_whose_write_fails_half_way_is_taken_back(dst, monkeypatch):
    # A full disk can stop a write after part of the piece: the upload must hold only whole
    # pieces, so the next piece (or a resumed push) starts where the last whole one ended.
    endpoint = LocalEndpoint(dst)
    data = b"0123456789abcdef" * 64
    digest = hash_bytes(data)
    assert endpoint.receive("blobs", digest, 0, data[:256]) == 256
    real_write = os.write

    def fault_write_half_then_enospc(fd: int, buf: bytes) -> int:
        monkeypatch.setattr(os, "write", fault_enospc)
        return real_write(fd, bytes(buf)[:100])

    def fault_enospc(fd: int, buf: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", fault_write_half_then_enospc)
    with pytest.raises(OSError, match="No space left"):
        endpoint.receive("blobs", digest, 256, data[256:])
    monkeypatch.setattr(os, "write", real_write)
    assert endpoint.partial("blobs", digest) == 256  # the half-written piece is gone
    assert endpoint.receive("blobs", digest, 256, data[256:]) == len(data)
    endpoint.finish("blobs", digest)
    assert dst.objects.path("blobs", digest).read_bytes() == data


def test_the_endpoint_names_what_a_tree_lacks_here_and_refuses_a_damaged_tree(src, dst, build):
    version = src.put("build", build).version
    push(src, "build", LocalEndpoint(dst))
    endpoint = LocalEndpoint(dst)
    assert endpoint.lacking_in_tree(version.tree) == []
    everything = stored_objects(dst.objects, version.tree)
    gone = [o for o in everything if o[0] != "trees"][:2]
    for kind, digest in gone:
        dst.objects.path(kind, digest).unlink()
    assert sorted(endpoint.lacking_in_tree(version.tree)) == sorted(gone)
    subtree = next(o for o in everything if o[0] == "trees" and o[1] != version.tree)
    dst.objects.path(*subtree).unlink()  # named, not entered
    lacking = endpoint.lacking_in_tree(version.tree)
    assert subtree in lacking and set(lacking) <= {*gone, subtree}
    below = endpoint.lacking_below([version.tree])
    assert set(below) <= {*gone, subtree} and below
    assert endpoint.lacking_in_tree("0" * 64) == [("trees", "0" * 64)]
    damaged = dst.objects.path("trees", version.tree)
    damaged.chmod(0o644)
    damaged.write_bytes(b"not a tree")
    endpoint = LocalEndpoint(dst)  # (one that never read it: a stored tree is kept decoded)
    for ask in (endpoint.lacking_in_tree, lambda t: endpoint.lacking_below([t])):
        with pytest.raises(TransferError, match=f"tree {version.tree[:16]} is not a (valid )?tree"):
            ask(version.tree)


def test_objects_that_would_name_other_paths_are_refused(dst):
    endpoint = LocalEndpoint(dst)
    with pytest.raises(TransferError, match="not an object kind"):
        endpoint.receive("../names", "a" * 64, 0, b"x")
    with pytest.raises(TransferError, match="not an object name"):
        endpoint.partial("blobs", "../../etc/passwd")
    with pytest.raises(TransferError, match="not an object name"):
        endpoint.missing([("trees", "AB" * 32)])


def test_finishing_without_data_or_with_wrong_data_stores_nothing(dst):
    endpoint = LocalEndpoint(dst)
    digest = hash_bytes(b"expected")
    with pytest.raises(TransferError, match="nothing was received"):
        endpoint.finish("trees", digest)
    endpoint.receive("trees", digest, 0, b"something else")
    with pytest.raises(CorruptInTransit, match=f"trees/{digest} was corrupt in transit"):
        endpoint.finish("trees", digest)
    assert not dst.objects.has("trees", digest) and _partials(dst) == []


def test_a_version_is_not_recorded_before_its_tree_is_complete(src, dst, build):
    version = src.put("build", build).version
    endpoint = LocalEndpoint(dst)
    record: dict[str, object] = {
        "name": "build",
        "version": 1,
        "tree": version.tree,
        "created": 0.0,
    }
    with pytest.raises(TransferError, match="lacks 1 object"):
        endpoint.add_version(record)
    tree_bytes = src.objects.read_tree_bytes(version.tree)  # the tree alone is not enough
    endpoint.receive("trees", version.tree, 0, tree_bytes)
    endpoint.finish("trees", version.tree)
    with pytest.raises(TransferError, match="push them first"):
        endpoint.add_version(record)
    assert dst.refs.versions("build") == []


# --- two processes ---------------------------------------------------------------------------

PUSHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from assay.store import Store
    from assay.store.sync import LocalEndpoint, push

    source, dest = Store(Path(sys.argv[1])), Store(Path(sys.argv[2]))
    endpoint = LocalEndpoint(dest)
    print("ready", flush=True)
    sys.stdin.readline()
    report = push(source, "build", endpoint, chunk_size=16 * 1024)
    print(report.version, report.version_created, report.objects_sent, flush=True)
    """
)


def test_two_processes_pushing_the_same_version_both_succeed(src, dst, build, tmp_path):
    src.put("build", build)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUSHER, str(src.root), str(dst.root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:  # both are ready before either starts: they run side by side
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        results.append(out.split())

    assert sorted(r[:2] for r in results) == [["build@1", "False"], ["build@1", "True"]]
    assert [v.version for v in dst.refs.versions("build")] == [1]
    assert _partials(dst) == []
    dst.get("build", tmp_path / "out")
    assert _snapshot(tmp_path / "out") == _snapshot(build)
    _assert_clean(dst)
