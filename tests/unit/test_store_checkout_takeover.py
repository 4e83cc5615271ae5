"""A checkout of a new version made from the unused checkout of an earlier one: only what
changed is written (assay.store.checkouts.take_over / patch), never from a checkout a live
process holds, never leaving a directory that looks like a checkout it is not."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assay.store import Store, checkouts, commands, trees
from assay.store.agent.treewrite import remove_path
from tests.conftest import write_tree


def _snapshot(root: Path) -> dict[str, tuple[str, int, bytes | str | None]]:
    """Every entry below ``root``: its kind, permission bits, and content or link target."""
    found: dict[str, tuple[str, int, bytes | str | None]] = {}
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(current, name)
            info = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", 0, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", 0, None)
            else:  # write bits aside: a checkout is read-only, a `get` writable
                found[rel] = ("file", info.st_mode & 0o555, path.read_bytes())
    return found


def _dir_inodes(root: Path) -> dict[str, int]:
    return {
        str(Path(c).relative_to(root)): os.stat(c).st_ino for c, _, _ in os.walk(root) if c != root
    }


FIRST = {
    **{
        f"d{i}/e{j}/f{k}.txt": f"{i}.{j}.{k}\n".encode()
        for i in range(6)
        for j in range(3)
        for k in range(4)
    },
    "gone/deep/a.txt": b"a\n",
    "gone/b.txt": b"b\n",
    "becomes_file/x.txt": b"x\n",
    "becomes_dir": b"plain\n",
    "tool.sh": b"#!/bin/sh\n",
}


def _second(tmp: Path) -> Path:
    files = dict(FIRST)
    for key in ("gone/deep/a.txt", "gone/b.txt", "becomes_file/x.txt", "becomes_dir"):
        del files[key]
    files["d2/e1/f3.txt"] = b"changed\n"
    files["becomes_file"] = b"now a file\n"
    files["becomes_dir/inside.txt"] = b"inside\n"
    files["new/nested/n.txt"] = b"new\n"
    root = write_tree(tmp / "v2", files)
    (root / "tool.sh").chmod(0o755)  # only the mode changes
    (root / "d0" / "link").symlink_to("e0/f0.txt")
    return root


@pytest.fixture
def two(tmp_path: Path) -> tuple[Store, str, str]:
    store = Store(tmp_path / "store")
    first = store.put("build", write_tree(tmp_path / "v1", FIRST)).version.tree
    second = store.put("build", _second(tmp_path)).version.tree
    store.close()
    return store, first, second


def test_the_unused_checkout_of_the_previous_version_is_patched_into_the_new_one(two, tmp_path):
    store, first, second = two
    old = Store(store.root)
    old_dir = old.checkout(first)
    inodes = _dir_inodes(old_dir)
    old.close()  # that run ended: its lease no longer holds the checkout

    new = Store(store.root)
    new.take_lease("test")
    got = new.checkout(second)
    assert not old_dir.exists()  # taken over, not copied
    assert sorted(p.name for p in got.parent.iterdir()) == [second]  # no leftovers
    # exactly the second version, as a checkout made from scratch holds it
    new.get("build@2", tmp_path / "fresh")
    assert _snapshot(got) == _snapshot(tmp_path / "fresh")
    assert checkouts.problems(new.objects, new.tree(second), got) == []
    # the directories that did not change are the same directories: nothing rewrote them
    after = _dir_inodes(got)
    kept = [d for d in inodes if d.startswith(("d0/e0", "d1", "d3", "d4", "d5"))]
    assert kept and all(after[d] == inodes[d] for d in kept)
    assert "gone" not in after and after["becomes_dir"] != inodes.get("becomes_dir")
    new.close()


def test_a_checkout_a_live_lease_pins_is_never_taken(two, tmp_path):
    """A real second process holds the first version's checkout (its lease pins it)."""
    store, first, second = two
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from pathlib import Path
                from assay.store import Store
                s = Store(Path({str(store.root)!r}))
                s.take_lease("holder")
                print(s.checkout({first!r}), flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        held = Path(holder.stdout.readline().strip())
        before = _snapshot(held)
        new = Store(store.root)
        new.take_lease("test")
        got = new.checkout(second)
        assert held.is_dir() and _snapshot(held) == before  # untouched
        assert got != held and checkouts.problems(new.objects, new.tree(second), got) == []
        new.close()
    finally:
        holder.communicate("", timeout=30)
    # once the holder is gone, its checkout may be taken for the next version
    (got.parent / second).rename(got.parent / f"{checkouts.TRASH}{second}")  # only v1's left
    third_tree = write_tree(tmp_path / "v3", {**FIRST, "d0/e0/f0.txt": b"third\n"})
    third = Store(store.root)
    third_version = third.put("build", third_tree).version
    inode = os.stat(held).st_ino
    assert os.stat(third.checkout(third_version.tree)).st_ino == inode
    assert not held.exists()
    third.close()


def test_a_damaged_old_checkout_is_not_patched_into_a_damaged_new_one(two, tmp_path):
    store, first, second = two
    old = Store(store.root)
    old_dir = old.checkout(first)
    old.close()
    # a file nobody removed (the run wrote into the checkout), in a directory that does not
    # change between the versions: patching alone would hand it on
    (old_dir / "d4").chmod(0o755)
    (old_dir / "d4" / "stray.txt").write_bytes(b"left by a test\n")
    new = Store(store.root)
    got = new.checkout(second)
    assert not (got / "d4" / "stray.txt").exists()
    assert checkouts.problems(new.objects, new.tree(second), got) == []
    assert sorted(p.name for p in got.parent.iterdir()) == [second]  # no partial left
    new.close()


_KILLED = """
import os, signal, sys
from pathlib import Path
from assay.store import Store, checkouts, stage

calls = 0
real = stage.stage_entry

def killing_stage_entry_fake(*args):  # fault injected: a crash half-way through the patch
    global calls
    calls += 1
    if calls == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)

checkouts.stage_entry = killing_stage_entry_fake
Store(Path(sys.argv[1])).checkout(sys.argv[2])
"""


def test_a_patch_killed_half_way_leaves_no_checkout_of_either_version(two):
    store, first, second = two
    old = Store(store.root)
    old.checkout(first)
    old.close()
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED), str(store.root), second],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    names = [p.name for p in (store.root / "checkouts").iterdir()]
    assert first not in names and second not in names  # neither looks complete
    assert len(names) == 1 and checkouts.is_leftover(names[0])
    again = Store(store.root)
    got = again.checkout(second)
    assert checkouts.problems(again.objects, again.tree(second), got) == []
    report = again.gc(keep=5)
    assert report.checkouts == 0
    assert [p.name for p in (store.root / "checkouts").iterdir()] == [second]  # leftover gone
    again.close()


def test_a_new_version_of_a_large_tree_reads_only_the_changed_directories(tmp_path, monkeypatch):
    """`store show --diff` and a checkout taken over read the tree objects of the changed
    directories, not the 800 of the whole tree."""
    files = {f"d{i}/e{j}/f{k}": b"%d" % k for i in range(40) for j in range(5) for k in range(5)}
    store = Store(tmp_path / "store")
    first = store.put("big", write_tree(tmp_path / "v1", files)).version
    files["d7/e3/f1"] = b"changed"
    second = store.put("big", write_tree(tmp_path / "v2", files)).version
    read: list[str] = []
    real = trees.read_tree_object

    def counting(objects, digest):  # an observer: each tree object read, nothing changed
        read.append(digest)
        return real(objects, digest)

    monkeypatch.setattr(trees, "read_tree_object", counting)
    monkeypatch.setattr("assay.store.store.read_tree_object", counting)
    commands.show(store, "big@2", "@1", False)
    assert len(read) <= 1 + 2 * 3  # the root checked, then root, d7, d7/e3 of each version
    diff = store.diff(first.tree, second.tree)
    assert [after.path for _, after in diff.changed] == ["d7/e3/f1"]


def test_a_link_left_in_the_old_checkout_is_never_written_through(two, tmp_path):
    """The chain: a run replaced a directory of the old checkout with a link to a place
    outside; the new version changes a file below that directory. Patching refuses to
    follow the link (nothing outside is touched) and the checkout is built whole."""
    store, first, second = two
    outside = tmp_path / "sandbox" / "outside"
    (outside / "e1").mkdir(parents=True)
    (outside / "e1" / "f3.txt").write_bytes(b"not yours\n")
    old = Store(store.root)
    old_dir = old.checkout(first)
    old.close()
    remove_path(old_dir / "d2")
    (old_dir / "d2").symlink_to(outside)
    new = Store(store.root)
    got = new.checkout(second)
    assert (outside / "e1" / "f3.txt").read_bytes() == b"not yours\n"
    assert sorted(p.name for p in outside.rglob("*")) == ["e1", "f3.txt"]
    assert not (got / "d2").is_symlink() and (got / "d2/e1/f3.txt").read_bytes() == b"changed\n"
    assert checkouts.problems(new.objects, new.tree(second), got) == []
    assert sorted(p.name for p in got.parent.iterdir()) == [second]
    new.close()
