"""`verify` and `--repair` against real damage: corrupt objects, corrupt trees, damaged
checkouts (links and copies), unreadable records, and a put that must restore what repair
removed."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from assay.store import Store, StoreError
from assay.store.agent import treeobj
from assay.store.objects import CHUNK_THRESHOLD
from tests.conftest import write_tree


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "build", {f"f{i}.txt": f"file {i}\n" * 50 for i in range(6)})


def _corrupt(path: Path, keep_mtime: bool = True) -> None:
    """Flip a byte of a file in place (through its inode: every hard link sees it)."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    with open(path, "r+b") as fh:
        fh.write(bytes(data))
    path.chmod(0o444)
    if keep_mtime:
        os.utime(path, ns=(0, 0))  # only a hash can tell


def _blob(store: Store, tree: str, rel: str) -> Path:
    entry = store.tree(tree).by_path()[rel]
    assert entry.hash is not None
    return store.objects.path("blobs", entry.hash)


def test_verify_on_a_corrupt_tree_lists_it_and_every_version_it_breaks(store, build):
    one = store.put("a", build).version
    store.put("b", build)  # the same tree: both versions break
    tree_path = store.objects.path("trees", one.tree)
    tree_path.chmod(0o644)
    tree_path.write_text("garbage")
    report = store.verify()
    assert f"trees/{one.tree}" in report.corrupt
    assert set(report.versions) == {"a@1", "b@1"}
    assert all("damaged" in problem for p in report.versions.values() for problem in p)
    assert not report.clean


def test_verify_names_every_damaged_file_of_a_version_not_only_the_first(store, build):
    version = store.put("a", build).version
    for rel in ("f1.txt", "f4.txt", "f5.txt"):
        _corrupt(_blob(store, version.tree, rel))
    report = store.verify()
    assert report.versions == {"a@1": ["f1.txt", "f4.txt", "f5.txt"]}
    assert len(report.corrupt) == 3


def test_verify_covers_checkouts_and_repair_drops_those_using_a_repaired_object(
    store, build, tmp_path
):
    tree = store.put("a", build).version.tree
    checkout = store.checkout(tree)
    _corrupt(_blob(store, tree, "f2.txt"))  # the checkout links it: it is corrupt too
    report = store.verify()
    assert report.checkouts == {tree: ["f2.txt: links a corrupt object"]}
    repaired = store.verify(repair=True)
    assert repaired.dropped_checkouts == 1
    assert not checkout.exists()
    (build / "f2.txt").touch()  # a new stat: the cache must not skip it
    store.put("a", build)
    assert store.verify().clean
    fresh = Store(store.root).checkout(tree)
    assert (fresh / "f2.txt").read_text() == "file 2\n" * 50


def test_a_checkout_changed_on_its_own_is_damaged_and_dropped(store, build):
    tree = store.put("a", build).version.tree
    checkout = store.checkout(tree)
    # A copy with other content in place of a link (as a cross-device checkout holds),
    # a file added, and a file removed: the objects stay sound.
    target = checkout / "f3.txt"
    target.unlink()
    target.write_text("file 3\n" * 49 + "file X\n")
    os.chmod(target, 0o444)
    os.utime(target, ns=(0, 0))
    (checkout / "extra.txt").write_text("not in the tree\n")
    (checkout / "f0.txt").unlink()
    report = store.verify()
    assert report.corrupt == [] and report.versions == {}
    problems = report.checkouts[tree]
    assert any("f3.txt" in p for p in problems)
    assert any("extra.txt" in p for p in problems)
    assert any("f0.txt" in p for p in problems)
    store.verify(repair=True)
    assert store.verify().clean
    assert (Store(store.root).checkout(tree) / "f3.txt").read_text() == "file 3\n" * 50


def test_a_checkout_of_copies_with_the_right_content_is_sound(store, build):
    tree = store.put("a", build).version.tree
    checkout = store.checkout(tree)
    target = checkout / "f3.txt"
    content = target.read_bytes()
    target.unlink()
    target.write_bytes(content)  # a copy, not a link: what another filesystem gives
    os.chmod(target, 0o444)
    assert store.verify().clean


def test_reusing_a_checkout_whose_object_was_replaced_rebuilds_it(store, build):
    """A checkout still linking an object that was set aside (repair, quarantine) and
    stored again from its source is not used as it is."""
    from assay.store.objects import quarantine

    tree = store.put("a", build).version.tree
    checkout = store.checkout(tree)
    blob = _blob(store, tree, "f2.txt")
    _corrupt(blob)
    quarantine(blob)
    (build / "f2.txt").touch()
    store.put("a", build)  # stored again: a new, sound object
    again = Store(store.root).checkout(tree)
    assert (again / "f2.txt").read_text() == "file 2\n" * 50
    assert again == checkout


def test_putting_an_archive_again_restores_an_object_that_repair_removed(store, build, tmp_path):
    archive = tmp_path / "build.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(build, arcname=".")
    tree = store.put("a", archive).version.tree
    _corrupt(_blob(store, tree, "f1.txt"))
    store.verify(repair=True)
    assert store.verify().versions == {"a@1": ["f1.txt"]}
    again = store.put("a", archive)  # the same archive file: the stat cache knows it
    assert not again.created
    assert store.verify().clean


def test_putting_a_directory_again_restores_an_object_that_repair_removed(store, build):
    tree = store.put("a", build).version.tree
    _corrupt(_blob(store, tree, "f1.txt"))
    store.verify(repair=True)
    store.put("a", build)  # f1.txt's stat is unchanged: the cache remembers its hash
    assert store.verify().clean


def test_a_corrupt_assembled_file_is_found_and_repaired(store, tmp_path):
    data = os.urandom(CHUNK_THRESHOLD + 4096)
    root = write_tree(tmp_path / "big", {"data.bin": data})
    tree = store.put("big", root).version.tree
    store.checkout(tree)  # assembles the chunked file once
    entry = store.tree(tree).by_path()["data.bin"]
    assert entry.hash is not None
    assembled = store.objects.assembled_root / "blobs" / entry.hash[:2] / entry.hash[2:]
    _corrupt(assembled)
    report = store.verify()
    assert f"assembled/blobs/{entry.hash}" in report.corrupt
    assert tree in report.checkouts
    store.verify(repair=True)
    assert store.verify().clean
    out = tmp_path / "out"
    Store(store.root).get("big", out)
    assert (out / "data.bin").read_bytes() == data


def test_unreadable_version_records_and_tags_are_reported_not_raised(store, build):
    store.put("a", build)
    (build / "f0.txt").write_text("v2\n")
    store.put("a", build)
    store.put("b", build)
    (store.root / "names/a/v1.json").write_text('{"name": "a", "vers')
    (store.root / "names/b/tags.json").write_text("{")
    report = store.verify()
    assert any("names/a/v1.json" in r for r in report.records)
    assert any("names/b/tags.json" in r for r in report.records)
    assert not report.clean


def test_a_version_record_claiming_another_name_is_not_trusted(store, build):
    store.put("a", build)
    (build / "f0.txt").write_text("v2\n")
    store.put("b", build)
    store.put("b", write_tree(build.parent / "other", {"x.txt": "x\n"}))  # b@2
    # a@1's record is replaced by one that claims to be b@2: gc must not delete b@2 for it
    record = (store.root / "names/b/v2.json").read_text()
    (store.root / "names/a/v1.json").write_text(record)
    with pytest.raises(StoreError, match=r"names/a/v1.json.*b@2"):
        store.refs.versions("a")
    report = store.verify()
    assert any("names/a/v1.json" in r for r in report.records)
    with pytest.raises(StoreError, match=r"names/a/v1\.json"):
        store.gc(keep=0)
    assert (store.root / "names/b/v2.json").exists()


def test_gc_refuses_to_collect_while_a_kept_tree_is_damaged(store, build):
    tree = store.put("a", build).version.tree
    path = store.objects.path("trees", tree)
    path.chmod(0o644)
    items = treeobj.decode(path.read_bytes())
    item = next(i for i in items if i.kind in ("d", "f"))
    item.digest = ("0" if item.digest[0] != "0" else "1") + item.digest[1:]
    # still a valid tree, naming the wrong object: what it names cannot be trusted
    path.write_bytes(treeobj.encode(items))
    before = sorted(p for p in (store.root / "objects").rglob("*") if p.is_file())
    with pytest.raises(StoreError, match="verify --repair"):
        store.gc(keep=1)
    assert sorted(p for p in (store.root / "objects").rglob("*") if p.is_file()) == before


@pytest.mark.parametrize("single", [False, True])
def test_a_file_that_changes_while_it_is_stored_is_not_recorded(store, build, monkeypatch, single):
    """Fault injected (a real writer cannot be timed to land mid-read): the file is
    rewritten while the store reads it. The version must not hold a mix, and the stat cache
    must not remember the old stat for the content read."""
    from assay.store.objects import ObjectStore

    real = ObjectStore.put_file

    def put_file_while_a_writer_changes_it(self, path, size, executable=False, *args, **kw):
        result = real(self, path, size, executable, *args, **kw)
        if path.name == "f2.txt":
            path.write_text("rewritten meanwhile\n")
        return result

    monkeypatch.setattr(ObjectStore, "put_file", put_file_while_a_writer_changes_it)
    with pytest.raises(StoreError, match=r"f2\.txt changed while it was being read"):
        if single:
            store.import_file(build / "f2.txt")
        else:
            store.put("a", build)
    assert store.refs.versions("a") == []
    monkeypatch.setattr(ObjectStore, "put_file", real)
    version = store.put("a", build).version
    out = build.parent / "out"
    store.get(version.ref, out)
    assert (out / "f2.txt").read_text() == "rewritten meanwhile\n"


def test_verify_reads_a_subtree_many_versions_share_once(store, tmp_path, monkeypatch):
    """Ten versions of 20 directories, each version changing one file: verify reads each
    distinct tree object once (a subtree the versions share is checked once, its damage
    reported under every version), not every directory of every version."""
    from assay.store import trees

    files = {f"d{i:02d}/f.txt": f"{i}\n" for i in range(20)}
    for n in range(10):
        files[f"d{n:02d}/f.txt"] = f"version {n}\n"
        store.put("build", write_tree(tmp_path / f"v{n}", files))
    shared = store.resolve("build@1").tree
    entry = next(e for e in store.tree(shared).entries if e.path == "d19/f.txt")
    _corrupt(store.objects.objects / "blobs" / entry.hash[:2] / entry.hash[2:])
    reads: list[str] = []
    real = trees.read_tree_object

    def counting(objects, digest):  # a spy: the real read, counted
        reads.append(digest)
        return real(objects, digest)

    monkeypatch.setattr(trees, "read_tree_object", counting)
    report = store.verify()
    distinct = 10 + 20 + 9  # roots; d00..d19 of the first; each later version's new dir
    assert len(reads) == len(set(reads)) == distinct
    assert set(report.versions) == {f"build@{n}" for n in range(1, 11)}
    assert all(paths == ["d19/f.txt"] for paths in report.versions.values())
