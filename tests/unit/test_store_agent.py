"""The tree check and writer are one copy, shared by assay and the agent: the module assay
imports is the source the bundled agent carries; it refuses the hostile corpus (and random
trees are judged consistently), and a hostile tree in a store is refused by the agent's
staging as by assay's, with nothing written outside the target."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.store import Store, StoreError
from assay.store.agent import treecheck as agent_treecheck
from assay.store.agent import treewrite as agent_treewrite
from assay.store.remote import ProcessPipe, RemoteStore, agent_command, open_remote_store
from tests.conftest import write_tree
from tests.hostile.corpus import TREES, TREES_BY_ID, make_sandbox, snapshot
from tests.unit.test_hostile_archives import _store_hostile_tree

Entries = list[tuple[str, str, str | None]]


def test_assay_and_the_agent_share_one_tree_check_and_one_writer() -> None:
    from assay import archives
    from assay.store import dirwalk, stage, store, trees
    from assay.store.agent import bundle

    # What assay unpacks, puts and stages with is the agent's module itself...
    assert archives.TreeModel is agent_treecheck.TreeModel
    assert archives.UnsafeEntry is dirwalk.UnsafeEntry is store.UnsafeEntry
    assert store.UnsafeEntry is agent_treecheck.UnsafeEntry
    assert trees.treecheck is agent_treecheck
    assert archives.TreeWriter is stage.TreeWriter is agent_treewrite.TreeWriter
    assert archives.remove_path is store.remove_path is agent_treewrite.remove_path
    # ... the very text the bundled agent runs ...
    shipped = bundle._sources()
    for module in (agent_treecheck, agent_treewrite):
        name = module.__name__.rsplit(".", 1)[1]
        assert shipped[f"assay_agent.{name}"] == Path(module.__file__ or "").read_text()
    # ... and no second copy is left to drift.
    src = Path(archives.__file__).parent
    assert not (src / "treecheck.py").exists() and not (src / "treewrite.py").exists()


@pytest.mark.parametrize(
    "first", ["assay.archives", "assay.store.agent.treecheck", "assay.store", "assay.cli"]
)
def test_each_side_imports_on_its_own_first(first: str) -> None:
    # The store imports assay.archives, which imports the tree check from the agent package:
    # whichever comes first in a process, no import cycle; the check alone loads no store.
    probe = (
        f"import sys, {first}; from assay.store import Store; "
        "from assay.archives import unpack; print('assay.store.store' in sys.modules)"
    )
    alone = "import sys, assay.store.agent.treecheck; print('assay.store.store' in sys.modules)"
    for code, expected in ((probe, "True"), (alone, "False")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert (out.returncode, out.stdout.strip()) == (0, expected), out.stderr


def _verdict(entries: Entries, allow_absolute: bool = True) -> str | None:
    """None if the check accepts the tree, else its message."""
    try:
        agent_treecheck.check_tree(entries, allow_absolute_links=allow_absolute, where="the tree")
    except agent_treecheck.UnsafeEntry as exc:
        return str(exc)
    return None


def _entries(ident: str, sandbox: Path) -> Entries:
    sb = str(sandbox).lstrip("/")
    out: Entries = []
    for m in TREES_BY_ID[ident].entries:
        kind = m.kind if m.kind in ("dir", "symlink") else "file"
        target = m.link.replace("{sb}", sb) if kind == "symlink" else None
        out.append((m.name.replace("{sb}", sb), kind, target))
    return sorted(out, key=lambda e: e[0])  # as a stored tree lists them


@pytest.mark.parametrize("ident", [t.id for t in TREES])
def test_the_tree_check_refuses_the_hostile_corpus_naming_the_entry(tmp_path, ident):
    entries = _entries(ident, tmp_path / "sandbox")
    verdict = _verdict(entries)
    assert verdict is not None
    assert any(repr(name) in verdict for name, _, _ in entries)


_PARTS = st.sampled_from(["a", "b", "c", ".", "..", "", "x" * 256])
_PATHS = st.lists(_PARTS, min_size=1, max_size=4).map("/".join)
_TARGETS = st.one_of(_PATHS, st.just(""))
_ENTRY = st.one_of(
    st.tuples(_PATHS, st.just("dir"), st.none()),
    st.tuples(_PATHS, st.just("file"), st.none()),
    st.tuples(_PATHS, st.just("symlink"), _TARGETS),
)


def _inside_once_written(entries: Entries) -> bool:
    """Write the tree out (in a fresh temporary directory) and ask the kernel where each of
    its paths, and a name below each, really lead: all inside the root?"""
    with tempfile.TemporaryDirectory() as scratch:
        root = os.path.join(scratch, "root")
        os.mkdir(root)
        with agent_treewrite.TreeWriter(root) as out:
            for path, kind, target in entries:
                if kind == "dir":
                    out.make_dir(path)
                elif kind == "file":
                    out.write_file(path, _Empty(), 0o644)
                else:
                    out.symlink(target or "", path)
        real_root = os.path.realpath(root)
        for path, _, _ in entries:
            for probe in (path, path + "/below"):
                real = os.path.realpath(os.path.join(root, probe))
                if real != real_root and not real.startswith(real_root + "/"):
                    return False
    return True


class _Empty:
    def read(self, n: int = -1) -> bytes:
        return b""


@settings(max_examples=300, deadline=None)
@given(st.lists(_ENTRY, max_size=8))
def test_a_tree_the_check_accepts_stays_inside_once_written(entries: Entries) -> None:
    # The check's own model against the kernel's resolution of the same tree on disk. An
    # absolute link the caller allows leads out by design (``a -> /a``: the kernel resolves
    # the path to /a): the property is about trees with none.
    entries = sorted(entries, key=lambda e: e[0])
    if _verdict(entries, allow_absolute=False) is None:
        assert _inside_once_written(entries)


def test_random_trees_include_accepted_and_refused_ones() -> None:
    # The control for the property above: both kinds of verdict occur, and the oracle tells
    # an escaping tree from a safe one.
    accepted = [("a", "dir", None), ("a/b", "file", None), ("c", "symlink", "a/b")]
    refused = [("a", "symlink", ".."), ("b", "file", None)]
    assert _verdict(accepted) is None and _inside_once_written(accepted)
    assert _verdict(refused) is not None and not _inside_once_written(refused)


def _stage_there(root: Path, tree: str, target: Path) -> StoreError:
    async def work() -> StoreError:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", agent_command(sys.executable)])
        remote: RemoteStore = await open_remote_store(pipe, root=str(root), where="here")
        try:
            with pytest.raises(StoreError) as staged:
                await remote.stage(tree, str(target))
            with pytest.raises(StoreError) as checked_out:
                await remote.checkout(tree)
            assert str(checked_out.value).split(": ", 1)[1] == str(staged.value).split(": ", 1)[1]
            return staged.value
        finally:
            await remote.close()

    return asyncio.run(work())


@pytest.mark.parametrize("ident", [t.id for t in TREES])
def test_the_agent_refuses_to_stage_a_hostile_stored_tree(tmp_path, ident):
    sandbox = tmp_path / "sandbox"
    make_sandbox(sandbox)
    store = Store(tmp_path / "store")
    ref, names = _store_hostile_tree(store, ident, sandbox)
    tree = store.resolve(ref).tree
    before = snapshot(sandbox)
    target = sandbox / "target"

    error = _stage_there(store.root, tree, target)

    assert repr(names) in str(error) and "refusing to write it out" in str(error)
    assert not target.exists() or list(target.iterdir()) == []
    assert snapshot(sandbox, skip=target) == before
    checkouts = store.root / "checkouts"
    assert not checkouts.exists() or list(checkouts.iterdir()) == []


def test_the_writer_never_follows_a_link_in_place_of_a_directory(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    with agent_treewrite.TreeWriter(str(root)) as out:
        with pytest.raises(agent_treewrite.WriteRefused, match="'sub', which is a symlink"):
            out.symlink("x", "sub/link")
        with pytest.raises(agent_treewrite.WriteRefused):
            out.link_file(str(root / "sub"), "sub/file")
        out.make_dir("sub")  # a directory replaces the link, never writes through it
    assert list(outside.iterdir()) == []
    assert (root / "sub").is_dir() and not (root / "sub").is_symlink()


def test_the_agent_records_a_pushed_version_on_disk_with_its_objects(tmp_path):
    # As assay's own store does (tests/integration/test_store.py): objects flushed, then the
    # record's file, renamed into place, then its directory. Seen with strace on the agent.
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    source = Store(tmp_path / "source")
    source.put("demo", write_tree(tmp_path / "build", {"a.txt": "a\n", "sub/b.txt": "b\n"}))
    log = tmp_path / "strace.log"
    traced = "fsync,fdatasync,syncfs,sync,rename,renameat,renameat2"
    strace = f"strace -f -y -qq -e trace={traced} -o {log}"

    async def work() -> None:
        command = f"{strace} {agent_command(sys.executable)}"
        pipe = await ProcessPipe.start(["/bin/sh", "-c", command])
        remote = await open_remote_store(pipe, root=str(tmp_path / "there"), where="here")
        try:
            await remote.push(source, "demo")
        finally:
            await remote.close()

    asyncio.run(work())
    calls = [line.split(None, 1)[1] for line in log.read_text().splitlines()]
    (renamed,) = [i for i, c in enumerate(calls) if c.startswith("rename") and "v1.json" in c]
    assert any(c.startswith(("syncfs(", "sync(")) for c in calls[:renamed]), calls
    tmp_name = calls[renamed].split('"')[1]
    assert any(c.startswith("fsync(") and f"{tmp_name}>" in c for c in calls[:renamed]), calls
    folder = os.path.dirname(calls[renamed].split('"')[3])
    assert any(c.startswith("fsync(") and c.endswith(f"{folder}>) = 0") for c in calls[renamed:])


def test_set_aside_removes_only_objects_modified_after_they_were_stored(tmp_path):
    """What a remote case's cleanup asks after a test wrote through a link: the damaged
    object goes (the next push sends it again), a sound one stays whatever is asked."""
    source = Store(tmp_path / "source")
    source.put("demo", write_tree(tmp_path / "build", {"a.txt": "a\n", "b.txt": "b\n"}))
    there = tmp_path / "there"

    async def work() -> list[str]:
        pipe = await ProcessPipe.start(["/bin/sh", "-c", agent_command(sys.executable)])
        remote = await open_remote_store(pipe, root=str(there), where="here")
        try:
            await remote.push(source, "demo")
            blobs = sorted((there / "objects" / "blobs").rglob("*"))
            damaged, sound = [p for p in blobs if p.is_file()]
            damaged.chmod(0o644)
            damaged.write_text("changed\n")
            ids = [("blobs", p.parent.name + p.name) for p in (damaged, sound)]
            removed = await remote.set_aside(ids)
            assert not damaged.exists() and sound.exists()
            with pytest.raises(StoreError, match="not an object kind"):
                await remote.set_aside([("../..", "x")])
            await remote.push(source, "demo")  # sends it again
            assert damaged.exists() and damaged.stat().st_mtime_ns == 0
            return removed
        finally:
            await remote.close()

    removed = asyncio.run(work())
    assert len(removed) == 1 and removed[0].startswith("blobs/")
