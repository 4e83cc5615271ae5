"""Small whole objects go many to a request (``receive_many``): each is still checked with
SHA-256 and published alone, a damaged one is named and not published, and a push cut in the
middle of a batch resumes without sending again what arrived."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import stat
from pathlib import Path

import pytest

from assay.store import Store
from assay.store.agent import server, uploads, wire
from assay.store.agent.layout import CorruptInTransit, Refused
from assay.store.agent.state import AgentStore
from assay.store.objects import hash_bytes
from assay.store.remote import ProcessPipe, agent_command, open_remote_store
from assay.store.transfer import CorruptInTransit as ClientCorruptInTransit
from assay.store.transfer import TransferError
from tests.conftest import write_tree

KIB = 1024


def _listed(blobs: list[bytes]) -> list[list[object]]:
    return [["blobs", hash_bytes(b), len(b), hashlib.sha256(b).hexdigest()] for b in blobs]


def test_each_object_of_a_batch_is_checked_and_published_alone(tmp_path):
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    blobs = [f"object {i}\n".encode() * (i + 1) for i in range(20)]
    results = uploads.receive_many(store, _listed(blobs), bytearray(b"".join(blobs)))
    assert results == [{"held": len(b), "published": True} for b in blobs]
    for data in blobs:
        path = Path(store.layout.path("blobs", hash_bytes(data)))
        assert path.read_bytes() == data
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o444 and info.st_mtime == 0
        sums = store.layout.load_sums(hash_bytes(data)[:2])
        assert sums[("blobs", hash_bytes(data))] == hashlib.sha256(data).hexdigest()
    assert os.listdir(store.layout.tmp) == []
    store.close()


def test_a_damaged_object_of_a_batch_is_named_and_those_before_it_are_kept(tmp_path):
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    blobs = [f"object {i}\n".encode() * 40 for i in range(8)]
    listed = _listed(blobs)
    payload = bytearray(b"".join(blobs))
    payload[sum(len(b) for b in blobs[:5]) + 7] ^= 0x01  # a bit of the sixth flipped
    with pytest.raises(CorruptInTransit) as caught:
        uploads.receive_many(store, listed, payload)
    assert caught.value.extra["object"] == ["blobs", hash_bytes(blobs[5])]
    assert "corrupt in transit" in caught.value.message
    held = [store.layout.has("blobs", hash_bytes(b)) for b in blobs]
    assert held == [True] * 5 + [False] * 3  # the rest of the batch waits for the next push
    assert os.listdir(store.layout.tmp) == []
    store.close()


@pytest.mark.parametrize(
    ("objects", "payload", "message"),
    [
        ([["blobs", "a" * 64, 4, "0" * 64]], b"abc", "add up to 4 bytes, but 3"),
        ([["../x", "a" * 64, 3, "0" * 64]], b"abc", "not an object kind"),
        ([["blobs", "../../etc", 3, "0" * 64]], b"abc", "not an object name"),
        ([["blobs", "a" * 64, -1, "0" * 64]], b"", "not the size"),
        ([["blobs", "a" * 64, 3, "nope"]], b"abc", "not a SHA-256"),
        ([["blobs", "a" * 64, 3]], b"abc", "is not a"),
        ([], b"", "non-empty list"),
        ("blobs", b"", "non-empty list"),
    ],
)
def test_a_batch_that_does_not_say_what_it_holds_is_refused(tmp_path, objects, payload, message):
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    with pytest.raises(Refused, match=message):
        uploads.receive_many(store, objects, bytearray(payload))
    assert os.listdir(store.layout.tmp) == []
    assert not (tmp_path / "store" / "objects" / "blobs").exists() or not any(
        (tmp_path / "store" / "objects" / "blobs").iterdir()
    )
    store.close()


def test_the_agent_answers_a_batch_with_one_result_per_object(tmp_path):
    blobs = [f"small {i}\n".encode() * 30 for i in range(12)]
    stream = wire.encode({"id": 1, "op": "hello", "root": str(tmp_path / "s"), "create": True})
    payload = b"".join(blobs)
    stream += wire.encode({"id": 2, "op": "receive_many", "objects": _listed(blobs)}, payload)
    stream += payload
    out = io.BytesIO()
    assert server.serve(io.BytesIO(stream), out) == 0  # type: ignore[arg-type]
    answers = []
    replies = io.BytesIO(out.getvalue())
    while (frame := wire.read_frame(replies)) is not None:
        answers.append(frame[0])
    assert [a["id"] for a in answers] == [1, 2] and answers[1]["ok"]
    assert answers[1]["result"] == [{"held": len(b), "published": True} for b in blobs]


# -- through the client ---------------------------------------------------------------------


class FlippingPipeFake:
    """A fault injector around a real pipe: flips the last byte of the first batch of whole
    objects it carries (the last object of that batch), and notes which object that is."""

    def __init__(self, inner: ProcessPipe) -> None:
        self.inner = inner
        self.flipped: str | None = None
        self._header: dict | None = None

    async def read(self, n: int) -> bytes:
        return await self.inner.read(n)

    def write(self, data: bytes | bytearray) -> None:
        if self.flipped is None and b'"op":"receive_many"' in bytes(data[:4096]):
            size, _ = wire.decode_prefix(data[: wire.PREFIX.size])
            header = wire.decode_header(data[wire.PREFIX.size : wire.PREFIX.size + size])
            self._header = header
            if len(data) == wire.PREFIX.size + size:  # the payload comes in its own write
                self.inner.write(data)
                return
        if self.flipped is None and self._header is not None and len(data) > 1:
            last = self._header["objects"][-1]
            self.flipped = last[1]
            data = bytes(data[:-1]) + bytes([data[-1] ^ 0x01])
        self.inner.write(data)

    async def drain(self) -> None:
        await self.inner.drain()

    async def close(self) -> None:
        await self.inner.close()

    def diagnostics(self) -> str:
        return self.inner.diagnostics()


class CuttingBatchPipeFake(FlippingPipeFake):
    """A fault injector: the connection drops half-way through the payload of the third
    batch, and the agent's process is killed, as when the network goes."""

    def __init__(self, inner: ProcessPipe) -> None:
        super().__init__(inner)
        self.batches = 0
        self.cut = False

    def write(self, data: bytes | bytearray) -> None:
        if self.cut:
            raise ConnectionResetError("connection reset by the fault injector")
        if len(data) >= 64 * KIB:
            self.batches += 1
            if self.batches == 3:
                self.inner.write(bytes(data[: len(data) // 2]))
                self.cut = True
                asyncio.get_running_loop().call_later(0.2, self.inner.process.kill)
                return
        self.inner.write(data)


def _small_files(tmp_path: Path, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    files: dict[str, str | bytes] = {
        f"d{i % 7}/f{i:03d}.bin": rng.randbytes(100 * KIB) for i in range(count)
    }
    return write_tree(tmp_path / "build", files)


def _published(root: Path) -> set[str]:
    return {p.parent.name + p.name for p in (root / "objects" / "blobs").glob("*/*")}


async def _push(store: Store, root: Path, wrap: type[FlippingPipeFake] | None = None) -> object:
    pipe: object = await ProcessPipe.start(["/bin/sh", "-c", agent_command()])
    fake = wrap(pipe) if wrap is not None else None  # type: ignore[arg-type]
    remote = await open_remote_store(fake or pipe, root=str(root), where="here")  # type: ignore[arg-type]
    try:
        return await remote.push(store, "build")
    finally:
        await remote.close()


def test_a_damaged_object_of_a_batch_is_named_by_its_file_and_not_published(tmp_path):
    store = Store(tmp_path / "src")
    tree = store.put("build", _small_files(tmp_path, 40, 1)).version.tree
    by_hash = {e.hash: path for path, e in store.tree(tree).by_path().items() if e.hash}
    root = tmp_path / "remote"
    fakes: list[FlippingPipeFake] = []

    def wrap(pipe: ProcessPipe) -> FlippingPipeFake:
        fakes.append(FlippingPipeFake(pipe))
        return fakes[-1]

    with pytest.raises(ClientCorruptInTransit, match=r"corrupt in transit") as caught:
        asyncio.run(_push(store, root, wrap))  # type: ignore[arg-type]
    damaged = fakes[0].flipped
    assert damaged is not None
    assert f"file {by_hash[damaged]}" in str(caught.value)
    assert damaged not in _published(root)
    assert Store(root).refs.names() == []

    report = asyncio.run(_push(store, root))
    assert report.version == "build@1"  # type: ignore[attr-defined]
    assert Store(root).verify().clean


def test_a_push_cut_inside_a_batch_resumes_without_sending_what_arrived(tmp_path):
    store = Store(tmp_path / "src")
    store.put("build", _small_files(tmp_path, 100, 2))  # five batches
    root = tmp_path / "remote"

    with pytest.raises(TransferError, match=r"connection to here.* was lost.*resumes"):
        asyncio.run(_push(store, root, CuttingBatchPipeFake))
    arrived = _published(root)
    assert 30 <= len(arrived) < 60  # two batches of 21 arrived whole, not the third
    assert Store(root).refs.names() == []

    report = asyncio.run(_push(store, root))
    assert report.version == "build@1"  # type: ignore[attr-defined]
    assert report.objects_sent == 100 - len(arrived)  # type: ignore[attr-defined]
    assert report.bytes_sent == (100 - len(arrived)) * 100 * KIB  # type: ignore[attr-defined]
    assert Store(root).verify().clean


def test_the_far_side_decodes_each_directory_object_once_per_push(tmp_path, monkeypatch):
    from assay.store.agent import treeobj
    from assay.store.trees import stored_trees

    src = Store(tmp_path / "src")
    files: dict[str, str | bytes] = {
        f"d{i}/e{j}/f.txt": f"{i} {j}\n" for i in range(4) for j in range(3)
    }
    tree = src.put("build", write_tree(tmp_path / "b", files)).version.tree
    trees = stored_trees(src.objects, tree)
    store = AgentStore(str(tmp_path / "far"), "transfer", True)
    for digest in trees:  # the tree objects arrive first, as a push sends them
        data = src.objects.path("trees", digest).read_bytes()
        finish = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        uploads.receive(store, "trees", digest, 0, data, finish)
    decoded: list[bytes] = []
    real = treeobj.decode

    def counting_decode(data: bytes) -> list[treeobj.Item]:
        decoded.append(data)
        return real(data)

    monkeypatch.setattr(treeobj, "decode", counting_decode)
    lacking = uploads.missing_below(store, trees)  # which files the far side lacks
    assert len(lacking) == len(files)
    still = uploads.missing_in_tree(store, tree)  # the version's check that all is there
    assert sorted(tuple(o) for o in still) == sorted(tuple(o) for o in lacking)
    assert len(decoded) == len(trees)  # once each, not once per walk
    store.close()


@pytest.mark.parametrize(
    "answer",
    [["not a dict"], [{"held": "3"}], [{"held": -1}], [{}], [None], "a text", [{"held": True}]],
)
def test_an_answer_to_a_batch_that_is_not_one_is_a_transfer_error(answer):
    from assay.store.remote.store import _appended_many

    count = len(answer) if isinstance(answer, list) else 1
    with pytest.raises(TransferError, match="the agent answered"):
        _appended_many((answer, b""), count)
