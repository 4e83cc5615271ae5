"""Per-case store work of a suite: what each case costs the store once a session is warm.

The ``*_count`` tests count calls through a monkeypatched function because the thing saved
(a ``mkdir`` that fails with EEXIST, an ``fdatasync``, a re-read of a tree object) has no
other observable effect: the store behaves the same with or without it.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from pathlib import Path

import pytest

from assay.store import Store
from assay.store import leases as leases_mod
from assay.store.objects import ObjectStore, hash_bytes


def _case(root: Path, i: int) -> Path:
    (root / "expected").mkdir(parents=True)
    (root / "in.txt").write_text(f"value {i}\n")
    (root / "expected" / "out.txt").write_text(f"value {i}\n")
    return root


def test_ensure_makes_the_store_folders_once_per_object_store_count(tmp_path, monkeypatch):
    objects = ObjectStore(tmp_path / "store")
    objects.ensure()
    calls: list[Path] = []
    real = pathlib.Path.mkdir

    def counting_mkdir(self: Path, *args: object, **kwargs: object) -> None:
        calls.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "mkdir", counting_mkdir)
    objects.ensure()
    assert calls == []
    assert (tmp_path / "store" / "objects" / "trees").is_dir()


def test_a_store_whose_tmp_folder_vanished_still_stores(tmp_path):
    """ensure() runs once: an object store must make its folders again if they are removed
    under it (by hand, or a test that empties the store) instead of failing."""
    store = Store(tmp_path / "store")
    store.import_path(_case(tmp_path / "a", 1))
    for folder in ("tmp", "assembled"):
        os.rmdir(store.root / folder)
    imported = store.import_path(_case(tmp_path / "b", 2))
    assert store.tree(imported.tree).entries


def test_import_path_hands_back_the_tree_it_wrote(tmp_path):
    store = Store(tmp_path / "store")
    src = _case(tmp_path / "case", 7)
    (src / "sub").mkdir()
    (src / "sub" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "sub" / "run.sh", 0o755)
    os.symlink("in.txt", src / "link")
    imported = store.import_path(src)
    assert imported.loaded is not None
    assert imported.loaded == store.tree(imported.tree)


def test_a_source_directory_is_not_read_back_after_import_count(tmp_path, monkeypatch):
    from assay.run.artifacts import SessionStore

    store = Store(tmp_path / "store")
    src = _case(tmp_path / "case", 3)
    artifacts = SessionStore(lambda: store)
    reads: list[str] = []
    real = Store.tree

    def counting_tree(self: Store, digest: str):  # type: ignore[no-untyped-def]
        reads.append(digest)
        return real(self, digest)

    monkeypatch.setattr(Store, "tree", counting_tree)
    tree = asyncio.run(artifacts.source_tree(src))
    assert reads == []
    assert {e.path for e in tree.entries} >= {"in.txt", "expected/out.txt"}
    store.close()


def _sync_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    synced: list[int] = []
    real = os.fdatasync

    def counting_fdatasync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    return synced


def test_lease_pins_are_not_fdatasynced_on_a_local_filesystem_count(tmp_path, monkeypatch):
    if leases_mod.needs_sync(tmp_path):
        pytest.skip(f"{tmp_path} is not on a filesystem known to be local")
    synced = _sync_counter(monkeypatch)
    store = Store(tmp_path / "store")
    store.take_lease("run")
    for i in range(5):
        store.import_path(_case(tmp_path / f"c{i}", i))
    assert synced == []
    pins = leases_mod.read_pins(store.root)  # what another process's gc reads
    assert len(pins.trees) == 5
    store.close()


def test_lease_pins_are_fdatasynced_on_a_network_filesystem_count(tmp_path, monkeypatch):
    """A fake mount table (fault injection: no NFS mount here) says the store is on nfs4:
    another host's gc sees a pin only once the client flushed it to the server."""
    dev = os.stat(tmp_path).st_dev
    fake = f"36 25 {os.major(dev)}:{os.minor(dev)} / /x rw - nfs4 server:/x rw\n"
    monkeypatch.setattr(leases_mod, "_mountinfo", lambda: fake)
    leases_mod.needs_sync.cache_clear()
    try:
        synced = _sync_counter(monkeypatch)
        store = Store(tmp_path / "store")
        store.take_lease("run")
        store.import_path(_case(tmp_path / "c", 1))
        assert len(synced) >= 2  # the header and the pin
        store.close()
    finally:
        leases_mod.needs_sync.cache_clear()


@pytest.mark.parametrize(
    ("fstype", "expected"),
    [
        ("ext4", False),
        ("xfs", False),
        ("tmpfs", False),
        ("overlay", False),
        ("btrfs", False),
        ("nfs", True),
        ("nfs4", True),
        ("lustre", True),
        ("fuse.sshfs", True),
        ("gpfs", True),
        ("cifs", True),
    ],
)
def test_fs_type_of_a_device_from_the_mount_table(fstype, expected):
    table = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        f"40 22 0:52 / /data rw,relatime shared:9 master:2 - {fstype} src rw,vers=4.2\n"
    )
    assert leases_mod.fs_type(os.makedev(0, 52), table) == fstype
    assert leases_mod.fs_type(os.makedev(8, 1), table) == "ext4"
    assert leases_mod.fs_type(os.makedev(9, 9), table) is None
    assert leases_mod.is_local(fstype) is (not expected)
    assert leases_mod.is_local(None) is False  # unknown: synced, as before


def test_taking_the_lock_of_an_existing_store_makes_no_folder_count(tmp_path, monkeypatch):
    from assay.store.locking import store_lock

    root = tmp_path / "store"
    with store_lock(root):  # a store not made yet: its folder is made for the lock file
        assert (root / "lock").is_file()
    calls: list[Path] = []
    real = pathlib.Path.mkdir

    def counting_mkdir(self: Path, *args: object, **kwargs: object) -> None:
        calls.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "mkdir", counting_mkdir)
    for _ in range(3):
        with store_lock(root):
            pass
    assert calls == []


def test_publishing_into_an_existing_folder_makes_no_folder_count(tmp_path, monkeypatch):
    objects = ObjectStore(tmp_path / "store")
    objects.ensure()
    first, _ = objects.put_bytes("blobs", b"first\n")
    calls: list[Path] = []
    real = pathlib.Path.mkdir

    def counting_mkdir(self: Path, *args: object, **kwargs: object) -> None:
        calls.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "mkdir", counting_mkdir)
    # Another content with the same first two hex digits lands in the same folder.
    n = 0
    while True:
        data = f"other {n}\n".encode()
        if hash_bytes(data)[:2] == first[:2]:
            break
        n += 1
    digest, new = objects.put_bytes("blobs", data)
    assert new == len(data)
    assert objects.path("blobs", digest).read_bytes() == data
    assert calls == []
    # a new folder is still made when needed
    third, _ = objects.put_bytes("trees", b"tree\n")
    assert objects.path("trees", third).is_file()
