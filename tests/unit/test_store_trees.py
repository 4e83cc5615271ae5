"""Trees as one object per directory: the format's checks, the attack chains it opens, what
a new version costs on disk, and stores made by the first format (one JSON manifest)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.store import Store, StoreError
from assay.store import importer as importer_module
from assay.store.agent import treeobj
from assay.store.agent.treeobj import BadTree, Item
from assay.store.objects import Corrupt, ObjectStore
from assay.store.remote import RemoteStore
from assay.store.sync import LocalEndpoint, push
from assay.store.trees import (
    Entry,
    Tree,
    diff,
    diff_stored,
    load_tree,
    make_tree,
    put_legacy_tree,
    put_tree,
    read_tree_object,
    stored_trees,
)
from tests.conftest import write_tree

DIGEST = "ab" * 32


def _objects(tmp_path: Path) -> ObjectStore:
    objects = ObjectStore(tmp_path / "store")
    objects.ensure()
    return objects


def _put_object(objects: ObjectStore, data: bytes) -> str:
    digest, _ = objects.put_bytes("trees", data)
    return digest


def _file(objects: ObjectStore, data: bytes) -> Item:
    digest, _ = objects.put_bytes("blobs", data)
    return Item("x", "f", 0o644, len(data), digest)


# --- the format --------------------------------------------------------------------------


def test_a_tree_round_trips_and_each_directory_is_its_own_object(tmp_path):
    objects = _objects(tmp_path)
    digest, _ = objects.put_bytes("blobs", b"data\n")
    tree = make_tree(
        [
            Entry("bin", "dir", mode=0o755),
            Entry("bin/run", "file", mode=0o755, size=5, hash=digest),
            Entry("lib/deep/x.txt", "file", mode=0o644, size=5, hash=digest),
            Entry("lib/link", "symlink", mode=0o777, target="deep/x.txt"),
            Entry(
                "big", "file", mode=0o644, size=5, hash=digest, chunks=[(DIGEST, 2), (DIGEST, 3)]
            ),
            Entry("empty", "dir", mode=0o700),
        ]
    )
    root = put_tree(objects, tree)
    loaded = load_tree(objects, root)
    # parents a tree holds content in but does not list are directories of mode 0755
    implied = [Entry("lib", "dir", mode=0o755), Entry("lib/deep", "dir", mode=0o755)]
    assert loaded == make_tree([*tree.entries, *implied])
    assert len(stored_trees(objects, root)) == 5  # root, bin, lib, lib/deep, empty
    assert put_tree(objects, loaded) == root  # one encoding per tree


def test_two_directories_with_the_same_content_are_both_written(tmp_path):
    """They are one object named twice: every walk that lists paths lists both."""
    build = write_tree(tmp_path / "build", {"a/x.txt": "same\n", "b/x.txt": "same\n"})
    store = Store(tmp_path / "store")
    tree = store.put("twins", build).version.tree
    assert len(stored_trees(store.objects, tree)) == 2  # the root, and a/ = b/
    assert [e.path for e in store.tree(tree).entries] == ["a", "a/x.txt", "b", "b/x.txt"]
    store.get("twins", tmp_path / "out")
    assert (tmp_path / "out/b/x.txt").read_text() == "same\n"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("dotdot", b"f" + bytes([2]) + b".." + bytes([0o644 & 0x7F, 0x83, 0x03, 1]) + bytes(32)),
        ("slash", b"d" + bytes([3]) + b"a/b" + bytes([0x7F]) + bytes(32)),
        ("dot", b"d" + bytes([1]) + b"." + bytes([0x7F]) + bytes(32)),
        ("empty", b"d" + bytes([0]) + bytes([0x7F]) + bytes(32)),
        ("nul", b"d" + bytes([3]) + b"a\0b" + bytes([0x7F]) + bytes(32)),
        ("duplicate", (b"d" + bytes([1]) + b"a" + bytes([0x7F]) + bytes(32)) * 2),
        ("unsorted", b"d\x01b\x7f" + bytes(32) + b"d\x01a\x7f" + bytes(32)),
        ("long-varint", b"d\x01a\xff\x00" + bytes(32)),
        ("truncated", b"d\x01a\x7f" + bytes(31)),
        ("trailing", b"d\x01a\x7f" + bytes(32) + b"l"),
        ("bad-tag", b"z\x01a\x7f" + bytes(32)),
        ("bad-mode", b"d\x01a\xff\x7f" + bytes(32)),
        ("chunks-do-not-add-up", b"c\x01a\x7f\x05" + bytes(32) + b"\x01" + bytes(32) + b"\x04"),
        ("chunk-count-bomb", b"c\x01a\x7f\x05" + bytes(32) + b"\xff\xff\xff\xff\x0f"),
    ],
)
def test_a_directory_object_that_breaks_the_format_is_refused(name, body):
    with pytest.raises(BadTree):
        treeobj.decode(treeobj.MAGIC + body)


def test_the_encoder_refuses_names_no_directory_can_hold():
    for bad in ("", ".", "..", "a/b", "a\0b"):
        with pytest.raises(BadTree):
            treeobj.encode([Item(bad, "d", 0o755, digest=DIGEST)])
    with pytest.raises(BadTree, match="twice"):
        treeobj.encode([Item("a", "d", 0o755, digest=DIGEST), Item("a", "l", target="x")])


def test_a_subtree_that_is_its_own_parent_is_refused(tmp_path):
    """A cycle needs a hash that names itself: only a forged object (stored under a name
    that is not its hash) makes one. The loader re-hashes (Corrupt); the walk refuses the
    cycle even through a loader that does not."""
    objects = _objects(tmp_path)
    child = treeobj.encode([Item("loop", "d", 0o755, digest=DIGEST)])
    forged = objects.path("trees", DIGEST)
    forged.parent.mkdir(parents=True, exist_ok=True)
    forged.write_bytes(child)  # DIGEST names an object that names DIGEST
    root = _put_object(objects, treeobj.encode([Item("a", "d", 0o755, digest=DIGEST)]))
    with pytest.raises(Corrupt, match="no longer matches its hash"):
        load_tree(objects, root)
    with pytest.raises(BadTree, match="its own parents"):
        list(treeobj.walk(lambda d: objects.path("trees", d).read_bytes(), root))


def test_a_small_tree_that_names_one_subtree_many_times_is_refused_not_expanded(
    tmp_path, monkeypatch
):
    """A tree bomb: 40 levels, each naming the level below twice, is 2**40 paths in a few KB.
    Listing it stops at the entry limit; a walk that enters each object once (gc, transfers,
    the destination's own check) is not expanded at all."""
    objects = _objects(tmp_path)
    level = _put_object(objects, treeobj.encode([_file(objects, b"x")]))
    for _ in range(40):
        level = _put_object(
            objects,
            treeobj.encode([Item(n, "d", 0o755, digest=level) for n in ("a", "b")]),
        )
    monkeypatch.setattr(treeobj, "MAX_ENTRIES", 10_000)
    with pytest.raises(Corrupt, match="more than 10000 entries"):
        load_tree(objects, level)
    store = Store(tmp_path / "store")
    version, _ = store.refs.add("bomb", level, {"source": "a hostile store"})
    with pytest.raises(StoreError, match="more than 10000 entries"):
        store.stage(version.tree, tmp_path / "target")
    assert not (tmp_path / "target").exists() or list((tmp_path / "target").iterdir()) == []
    report = store.gc(keep=1)  # each subtree entered once: no expansion, nothing lost
    assert report.objects == 0
    dest = Store(tmp_path / "dest")
    sent = push(store, "bomb", LocalEndpoint(dest))
    assert sent.objects_sent == 42  # 41 tree objects and the one file


def test_nesting_beyond_the_depth_limit_is_refused(tmp_path):
    objects = _objects(tmp_path)
    level = _put_object(objects, treeobj.encode([]))
    for _ in range(treeobj.MAX_DEPTH + 1):
        level = _put_object(objects, treeobj.encode([Item("d", "d", 0o755, digest=level)]))
    with pytest.raises(Corrupt, match="deeper than"):
        load_tree(objects, level)


def test_a_subtree_shared_by_two_places_is_checked_at_each(tmp_path, sandbox_dir):
    """The chain: one directory object holds ``l -> ../../secret``, inside its tree where it
    sits two levels down (version 1, accepted). Version 2 names the same object one level
    down, where the link climbs out of the tree: a check made once per object would pass it."""
    store = Store(tmp_path / "store")
    store._ready()
    objects = store.objects
    shared = _put_object(objects, treeobj.encode([Item("l", "l", target="../../secret")]))
    inner = _put_object(objects, treeobj.encode([Item("b", "d", 0o755, digest=shared)]))
    ok = _put_object(objects, treeobj.encode([Item("a", "d", 0o755, digest=inner)]))
    bad = _put_object(objects, treeobj.encode([Item("a", "d", 0o755, digest=shared)]))
    store.refs.add("ok", ok, {"source": "test"})
    store.refs.add("bad", bad, {"source": "test"})
    store.stage(ok, sandbox_dir / "ok")
    assert os.readlink(sandbox_dir / "ok/a/b/l") == "../../secret"
    with pytest.raises(StoreError, match="a/l"):
        store.stage(bad, sandbox_dir / "bad")
    with pytest.raises(StoreError, match="a/l"):
        store.get("bad", sandbox_dir / "bad-get")
    assert not (sandbox_dir / "bad-get").exists()

    # the agent, on a store holding both: the same verdicts
    from tests.unit.test_store_remote import with_remote

    async def stage_both(remote: RemoteStore) -> str:
        await remote.stage(ok, str(sandbox_dir / "agent-ok"))
        try:
            await remote.stage(bad, str(sandbox_dir / "agent-bad"))
        except StoreError as exc:
            return str(exc)
        return "staged"

    assert "a/l" in asyncio.run(with_remote(store.root, stage_both))
    assert os.readlink(sandbox_dir / "agent-ok/a/b/l") == "../../secret"
    assert not (sandbox_dir / "agent-bad/a/l").is_symlink()


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Path:
    box = tmp_path / "sandbox" / "deep" / "er"
    box.mkdir(parents=True)
    return box


# --- diff walks only what changed --------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c"])
_PATH = st.lists(_NAMES, min_size=1, max_size=3).map("/".join)
_CONTENT = st.sampled_from(["one", "two"])


def _tree_from(spec: dict[str, str], objects: ObjectStore) -> str:
    """Files at the paths of ``spec`` that are not parents of others; their content."""
    paths = [p for p in spec if not any(q.startswith(p + "/") for q in spec)]
    entries = []
    for path in paths:
        digest, _ = objects.put_bytes("blobs", spec[path].encode())
        entries.append(Entry(path, "file", size=len(spec[path]), hash=digest))
    return put_tree(objects, make_tree(entries))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_PATH, _CONTENT, max_size=8), st.dictionaries(_PATH, _CONTENT, max_size=8))
def test_the_walking_diff_agrees_with_the_whole_tree_diff(tmp_path_factory, old, new):
    objects = _objects(tmp_path_factory.mktemp("diff"))
    a, b = _tree_from(old, objects), _tree_from(new, objects)
    assert diff_stored(objects, a, b) == diff(load_tree(objects, a), load_tree(objects, b))


def test_the_diff_does_not_read_directories_that_did_not_change(tmp_path, monkeypatch):
    objects = _objects(tmp_path)
    spec = {f"d{i}/f{j}": "one" for i in range(20) for j in range(5)}
    first = _tree_from(spec, objects)
    second = _tree_from({**spec, "d7/f3": "two"}, objects)
    read: list[str] = []
    real = ObjectStore.read_tree_bytes

    def counting(self: ObjectStore, digest: str) -> bytes:
        read.append(digest)
        return real(self, digest)

    monkeypatch.setattr(ObjectStore, "read_tree_bytes", counting)
    changes = diff_stored(objects, first, second)
    assert [(a.path, b.path) for a, b in changes.changed] == [("d7/f3", "d7/f3")]
    assert len(read) == 4  # the two roots and the two objects of d7/, nothing else


# --- what a version costs -------------------------------------------------------------------


def _stored_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "objects").rglob("*") if p.is_file())


def test_a_one_file_change_in_a_big_tree_stores_the_file_and_the_directories_on_its_path(
    tmp_path,
):
    files = {
        f"d{i:02d}/s{j}/f{k:03d}.txt": f"{i} {j} {k}\n"
        for i in range(20)
        for j in range(3)
        for k in range(50)
    }
    build = write_tree(tmp_path / "build", files)
    store = Store(tmp_path / "store")
    first = store.put("build", build).version
    before = _stored_bytes(store.root)
    (build / "d07/s1/f020.txt").write_text("changed!\n")
    second = store.put("build", build).version
    grown = _stored_bytes(store.root) - before
    new_trees = set(stored_trees(store.objects, second.tree)) - set(
        stored_trees(store.objects, first.tree)
    )
    tree_bytes = sum(len(read_tree_object(store.objects, t)) for t in new_trees)
    assert len(new_trees) == 3  # the root, d07/ and d07/s1/
    assert grown == len("changed!\n") + tree_bytes
    # 3,000 files: one manifest of every path (the first format) was over 300 KB a version
    assert grown < 5 * 1024
    assert store.diff(first.tree, second.tree).changed[0][1].path == "d07/s1/f020.txt"


# --- stores made by the first format ---------------------------------------------------------


@pytest.fixture
def legacy_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Path]:
    """A store whose version 1 was put by the first format's code path: the importer's
    trees written as one JSON manifest (what ``put_tree`` wrote before)."""
    build = write_tree(
        tmp_path / "build",
        {"bin/run": "#!/bin/sh\necho hi\n", "lib/a.txt": "a\n", "lib/deep/b.txt": "b\n"},
    )
    (build / "bin/run").chmod(0o755)
    os.symlink("deep/b.txt", build / "lib/link")
    store = Store(tmp_path / "store")
    with monkeypatch.context() as patch:
        patch.setattr(importer_module, "put_tree", put_legacy_tree)
        version = store.put("build", build).version
    assert read_tree_object(store.objects, version.tree).startswith(b"{")  # the control
    store.close()
    return Store(tmp_path / "store"), build


def test_a_store_of_the_first_format_is_read_as_it_is(legacy_store, tmp_path):
    store, build = legacy_store
    assert store.put("build", build).created is False  # unchanged: no new version
    out = tmp_path / "out"
    store.get("build@1", out)
    assert (out / "bin/run").read_text() == "#!/bin/sh\necho hi\n"
    assert os.readlink(out / "lib/link") == "deep/b.txt"
    checkout = store.checkout(store.resolve("build@1").tree)
    assert (checkout / "lib/deep/b.txt").read_text() == "b\n"
    assert store.verify().clean

    (build / "lib/a.txt").write_text("a changed\n")
    second = store.put("build", build)
    assert second.created and second.version.version == 2
    new = read_tree_object(store.objects, second.version.tree)
    assert treeobj.is_dir_object(new)
    changes = store.diff(store.resolve("build@1").tree, second.version.tree)
    assert [a.path for a, _ in changes.changed] == ["lib/a.txt"] and not changes.added

    assert store.gc(keep=1).versions[0].version == 1
    assert store.verify().clean


def test_a_store_of_the_first_format_pushes_and_pulls(legacy_store, tmp_path):
    store, _ = legacy_store
    dest = Store(tmp_path / "dest")
    report = push(store, "build", LocalEndpoint(dest))
    assert report.version == "build@1" and report.objects_sent == 4  # 3 files, 1 manifest
    dest.get("build", tmp_path / "out")
    assert (tmp_path / "out/lib/a.txt").read_text() == "a\n"

    from tests.unit.test_store_remote import with_remote

    remote_root = tmp_path / "remote"
    asyncio.run(with_remote(remote_root, lambda r: r.push(store, "build")))
    back = Store(tmp_path / "back")
    asyncio.run(with_remote(remote_root, lambda r: r.pull(back, "build")))
    assert back.resolve("build").tree == store.resolve("build").tree
    assert Store(remote_root).verify().clean


_H = "ab" * 32


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [Entry("in.txt", "file", mode=0o644, size=3, hash=_H)],
        [
            Entry("a", "file", mode=0o755, size=1, hash=_H),
            Entry("b", "symlink", mode=0o777, target="a"),
            Entry("c", "file", mode=0o644, size=0, hash="cd" * 32),
        ],
    ],
)
def test_a_flat_trees_digest_is_the_one_the_folding_gives(entries):
    """A tree of files and links right below its root is hashed without the fold's
    directory bookkeeping: to the same digest."""
    from assay.store.objects import hash_bytes
    from assay.store.trees import _fold, tree_digest

    tree = Tree(tuple(entries))
    assert tree_digest(tree) == _fold(tree, hash_bytes)


@pytest.mark.parametrize("name", ["..", ".", ""])
def test_a_flat_tree_with_a_bad_name_is_refused_as_the_fold_refuses_it(name):
    from assay.store.objects import hash_bytes
    from assay.store.trees import _fold, tree_digest

    tree = Tree((Entry(name, "file", hash=_H),))
    with pytest.raises(StoreError) as folded:
        _fold(tree, hash_bytes)
    with pytest.raises(StoreError) as flat:
        tree_digest(tree)
    assert str(flat.value) == str(folded.value)
