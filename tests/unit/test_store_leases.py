"""Leases: gc keeps what live processes use, expires what dead ones held, and there is no
moment between making a tree and pinning it at which gc can take it (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest

from assay.store import Store
from assay.store.leases import FOREIGN_EXPIRY, LEASE_DIR, Owner, read_pins, this_process


def _files(root: Path, tag: str, n: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"f{i}.txt").write_text(f"{tag} {i}\n")
    return root


def _objects(store: Store) -> int:
    return sum(1 for p in (store.root / "objects").rglob("*") if p.is_file())


def test_gc_keeps_what_a_live_lease_pins_and_collects_it_once_released(tmp_path):
    session = Store(tmp_path / "st")
    session.take_lease("test")
    tree = session.import_path(_files(tmp_path / "src", "a")).tree  # unnamed: no version
    single = session.import_file(_files(tmp_path / "one", "b", n=1) / "f0.txt")
    report = Store(tmp_path / "st").gc(keep=0)
    assert report.objects == 0 and report.leases == 1 and report.leased_trees == 2
    staged = session.stage(tree, tmp_path / "stage")
    assert staged.linked == 5
    assert (tmp_path / "stage/f3.txt").read_text() == "a 3\n"
    session.stage(single, tmp_path / "stage1")
    session.close()
    assert not list((tmp_path / "st" / LEASE_DIR).iterdir())
    after = Store(tmp_path / "st").gc(keep=0)
    assert after.objects == 8  # five blobs and a tree, one blob and a tree
    assert _objects(Store(tmp_path / "st")) == 0


def test_a_resolved_version_and_a_merged_checkout_survive_gc_of_their_version(tmp_path):
    store = Store(tmp_path / "st")
    store.put("base", _files(tmp_path / "base", "base"))
    store.put("top", _files(tmp_path / "top", "top", n=2))
    session = Store(tmp_path / "st")
    session.take_lease("test")
    trees = [session.resolve("base").tree, session.resolve("top").tree]
    checkout = session.checkout(session.merge(trees))
    (tmp_path / "base/f4.txt").write_text("new\n")
    store.put("base", tmp_path / "base")  # base@1 is no longer the newest
    report = store.gc(keep=1)
    assert [v.ref for v in report.versions] == ["base@1"]
    assert report.checkouts == 0
    assert (checkout / "f4.txt").read_text() == "base 4\n"
    assert (checkout / "f0.txt").read_text() == "top 0\n"
    session.stage(trees[0], tmp_path / "stage")  # base@1's tree: gone from names, still here
    session.close()
    assert store.gc(keep=1).checkouts == 1


def _write_lease(root: Path, owner: Owner, pins: list[str], name: str) -> Path:
    folder = root / LEASE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lease"
    path.write_bytes(msgspec.json.encode(owner) + b"\n" + "".join(f"{p}\n" for p in pins).encode())
    return path


def test_a_lease_is_judged_by_pid_and_start_time_and_a_foreign_one_by_age(tmp_path):
    root = tmp_path / "st"
    me = this_process("test")
    alive = _write_lease(root, me, ["tree " + "a" * 64], "alive")
    reused = _write_lease(root, msgspec.structs.replace(me, start=me.start + 1), [], "reused")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    gone = _write_lease(root, msgspec.structs.replace(me, pid=child.pid), [], "gone")
    rebooted = _write_lease(root, msgspec.structs.replace(me, boot="another-boot"), [], "boot")
    elsewhere = msgspec.structs.replace(me, host="elsewhere.example", pid=1)
    _write_lease(root, elsewhere, ["tree " + "b" * 64], "fresh")
    stale = _write_lease(root, elsewhere, ["tree " + "c" * 64], "stale")
    old = time.time() - FOREIGN_EXPIRY - 60
    os.utime(stale, (old, old))
    torn = root / LEASE_DIR / "torn.lease"
    torn.write_bytes(b'{"host": "ha')  # cut short as it was written
    pins = read_pins(root)
    assert sorted(p.name for p in pins.expired) == sorted(
        p.name for p in (reused, gone, rebooted, stale)
    )
    assert pins.live == 3  # alive, fresh, and the torn one (judged by its age)
    assert pins.trees == {"a" * 64, "b" * 64}
    assert alive.exists()


def test_gc_expires_the_lease_of_a_killed_process_and_then_collects(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from assay.store import Store
        store = Store(Path(sys.argv[1]))
        store.take_lease("doomed")
        store.import_path(Path(sys.argv[2]))
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    src = _files(tmp_path / "src", "doomed")
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "st"), str(src)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    store = Store(tmp_path / "st")
    kept = store.gc(keep=0)
    assert kept.objects == 0 and kept.leases == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    report = store.gc(keep=0)
    assert report.expired_leases == 1 and report.objects == 6
    assert not list((tmp_path / "st" / LEASE_DIR).iterdir())


_IMPORTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from assay.store import Store
    store = Store(Path(sys.argv[1]))
    store.take_lease("race")
    work = Path(sys.argv[2])
    failures = 0
    for i in range(int(sys.argv[3])):
        src = work / f"src{i}"
        src.mkdir()
        for j in range(3):
            (src / f"f{j}").write_text(f"{i} {j} unique\\n")
        try:
            kind = i % 3
            if kind == 0:
                tree = store.import_path(src).tree
            elif kind == 1:
                tree = store.put(f"n{i}", src).version.tree  # gc --keep 0 drops the name
            else:
                tree = store.merge([store.import_path(src).tree])
            target = work / f"stage{i}"
            store.stage(tree, target)
            assert (target / "f2").read_text() == f"{i} 2 unique\\n"
            checkout = store.checkout(tree)
            assert (checkout / "f1").read_text() == f"{i} 1 unique\\n"
        except Exception as exc:
            failures += 1
            print(f"{i}: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(failures)
    """
)

_COLLECTOR = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from assay.store import Store
    stop = Path(sys.argv[2])
    runs = 0
    while not stop.exists():
        Store(Path(sys.argv[1])).gc(keep=0)
        runs += 1
    print(runs)
    """
)


def test_no_window_between_making_a_tree_and_pinning_it_with_gc_looping(tmp_path):
    """One process imports, puts and merges trees and uses each at once; another runs
    ``gc --keep 0`` without pause. gc waits on the lock while the first holds it, so it runs
    the moment a tree is made: if a pin came after the lock was let go, gc would take it."""
    root = tmp_path / "st"
    Store(root).gc(keep=0)  # create the store
    stop = tmp_path / "stop"
    collector = subprocess.Popen(
        [sys.executable, "-c", _COLLECTOR, str(root), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    try:
        importer = subprocess.run(
            [sys.executable, "-c", _IMPORTER, str(root), str(work), "150"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop.touch()
        out, err = collector.communicate(timeout=60)
    assert collector.returncode == 0, err
    assert int(out) > 10, "gc did not run often enough to test anything"
    assert importer.returncode == 0, importer.stderr
    assert importer.stdout.strip() == "0", importer.stderr


def test_a_transfer_keeps_what_arrived_until_its_version_is_recorded(tmp_path):
    from assay.store.sync import LocalEndpoint, push_tree

    source = Store(tmp_path / "src-store")
    version = source.put("build", _files(tmp_path / "build", "sent")).version
    dest = Store(tmp_path / "dst-store")
    endpoint = LocalEndpoint(dest)
    report = push_tree(source, version.tree, endpoint)
    assert report.objects_sent == 6
    assert Store(tmp_path / "dst-store").gc(keep=0).objects == 0  # between objects and name
    record = msgspec.to_builtins(version)
    assert endpoint.add_version(record)["created"]
    endpoint.close()
    assert Store(tmp_path / "dst-store").verify().clean


def test_an_unfinished_upload_of_a_live_transfer_is_not_dropped(tmp_path):
    from assay.store import maintenance
    from assay.store.sync import LocalEndpoint

    dest = Store(tmp_path / "dst")
    endpoint = LocalEndpoint(dest)
    digest = "d" * 64
    endpoint.receive("blobs", digest, 0, b"half of it")
    partial = tmp_path / "dst/incoming" / f"blobs-{digest}"
    old = time.time() - maintenance.ABANDONED_AFTER - 60
    os.utime(partial, (old, old))  # a slow link: its last piece came a day ago
    Store(tmp_path / "dst").gc(keep=0)
    assert partial.exists()
    endpoint.close()
    Store(tmp_path / "dst").gc(keep=0)
    assert not partial.exists()


@pytest.mark.parametrize("exclusive_first", [True, False])
def test_the_store_lock_is_shared_by_threads_and_reentrant(tmp_path, exclusive_first):
    import threading

    from assay.store.locking import store_lock

    order: list[str] = []
    with store_lock(tmp_path, exclusive=exclusive_first):
        with store_lock(tmp_path):  # re-entered: no second descriptor, no deadlock
            order.append("inner")

        def other() -> None:
            with store_lock(tmp_path):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=0.5)
        if exclusive_first:
            assert thread.is_alive()  # waits for the exclusive holder
        else:
            assert not thread.is_alive()  # shares the lock
    thread.join(timeout=10)
    assert order == ["inner", "other"]


def test_a_lease_removed_under_a_live_holder_is_written_again_on_refresh(tmp_path):
    session = Store(tmp_path / "st")
    lease = session.take_lease("test")
    tree = session.import_path(_files(tmp_path / "src", "a")).tree
    lease.path.unlink()  # deleted by hand, or taken for expired
    lease.refresh()
    assert read_pins(tmp_path / "st").trees == {tree}
    assert Store(tmp_path / "st").gc(keep=0).objects == 0
    session.close()


def test_the_owner_the_agent_writes_is_judged_by_the_reading_it_was_made_with():
    # The agent writes leases that assay's gc judges: one reading of /proc for both.
    from assay.store import leases
    from assay.store.agent import leases as agent_leases

    assert leases.start_time is agent_leases.start_time
    written = msgspec.convert(agent_leases.owner("push"), leases.Owner)
    now = time.time()
    assert leases.is_alive(written, now, now)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not leases.is_alive(msgspec.structs.replace(written, pid=child.pid), now, now)
