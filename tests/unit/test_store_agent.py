"""The agent's own parts against assay's: its port of the tree check gives the same verdicts
(the hostile corpus, and random trees), and a hostile tree in a store is refused by the
agent's staging as by assay's, with nothing written outside the target."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import treecheck
from assay.store import Store, StoreError
from assay.store.agent import treecheck as agent_treecheck
from assay.store.agent import treewrite as agent_treewrite
from assay.store.remote import ProcessPipe, RemoteStore, agent_command, open_remote_store
from tests.hostile.corpus import TREES, TREES_BY_ID, make_sandbox, snapshot
from tests.unit.test_hostile_archives import _store_hostile_tree

Entries = list[tuple[str, str, str | None]]


def _verdict(check: object, entries: Entries) -> str | None:
    """None if the check accepts the tree, else its message."""
    try:
        check(entries, allow_absolute_links=True, where="the tree")  # type: ignore[operator]
    except (treecheck.UnsafeEntry, agent_treecheck.UnsafeEntry) as exc:
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
def test_the_ported_tree_check_refuses_the_hostile_corpus_as_assay_does(tmp_path, ident):
    entries = _entries(ident, tmp_path / "sandbox")
    verdict = _verdict(treecheck.check_tree, entries)
    assert verdict is not None  # the control: assay refuses it
    assert _verdict(agent_treecheck.check_tree, entries) == verdict


_PARTS = st.sampled_from(["a", "b", "c", ".", "..", "", "x" * 256])
_PATHS = st.lists(_PARTS, min_size=1, max_size=4).map("/".join)
_TARGETS = st.one_of(_PATHS, st.just("/abs/olute"), st.just(""))
_ENTRY = st.one_of(
    st.tuples(_PATHS, st.just("dir"), st.none()),
    st.tuples(_PATHS, st.just("file"), st.none()),
    st.tuples(_PATHS, st.just("symlink"), _TARGETS),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_ENTRY, max_size=8))
def test_the_ported_tree_check_agrees_with_assays_on_any_tree(entries: Entries) -> None:
    entries = sorted(entries, key=lambda e: e[0])
    assert _verdict(agent_treecheck.check_tree, entries) == _verdict(treecheck.check_tree, entries)


def test_random_trees_include_accepted_and_refused_ones() -> None:
    # The control for the property above: both kinds of verdict occur.
    accepted = [("a", "dir", None), ("a/b", "file", None), ("c", "symlink", "a/b")]
    refused = [("a", "symlink", ".."), ("b", "file", None)]
    assert _verdict(agent_treecheck.check_tree, accepted) is None
    assert _verdict(agent_treecheck.check_tree, refused) is not None


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


def test_the_ported_writer_never_follows_a_link_in_place_of_a_directory(tmp_path):
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
