"""The hostile corpus (tests/hostile/corpus.py) through every library entry point: unpacking,
putting into the store, and writing out trees a store already holds (get, checkout, stage).

Each run watches a sandbox that holds the target: afterwards nothing in it but the target
may have changed, the refusal names the member, and no partial directory is left behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assay.archives import ArchiveError, unpack
from assay.errors import AssayError
from assay.store import Store, StoreError
from assay.store.objects import ObjectStore
from assay.store.trees import Entry, Tree, make_tree, put_legacy_tree, put_tree
from tests.hostile.corpus import BY_ID, TREES, TREES_BY_ID, build, cases, make_sandbox, snapshot


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    box = tmp_path / "sandbox"
    make_sandbox(box)
    return box


def _names(message: str, name: str) -> bool:
    return repr(name) in message


@pytest.mark.parametrize(("ident", "fmt"), list(cases()))
def test_unpack_refuses_and_writes_nothing(tmp_path, sandbox, ident, fmt):
    archive, names = build(BY_ID[ident], fmt, tmp_path, sandbox)
    target = sandbox / "target"
    before = snapshot(sandbox)
    with pytest.raises(ArchiveError) as err:
        unpack(archive, target)
    assert _names(str(err.value), names), str(err.value)
    assert str(archive) in str(err.value)
    assert not target.exists()  # not even the directory it made
    assert snapshot(sandbox) == before


@pytest.mark.parametrize(("ident", "fmt"), list(cases()))
def test_unpack_into_an_existing_target_refuses_and_keeps_it(tmp_path, sandbox, ident, fmt):
    archive, names = build(BY_ID[ident], fmt, tmp_path, sandbox)
    target = sandbox / "target"
    target.mkdir()
    (target / "old.txt").write_text("from before\n")
    before = snapshot(sandbox)
    with pytest.raises(ArchiveError) as err:
        unpack(archive, target)
    assert _names(str(err.value), names), str(err.value)
    assert snapshot(sandbox) == before


@pytest.mark.parametrize(("ident", "fmt"), list(cases()))
def test_store_put_refuses_and_records_no_version(tmp_path, sandbox, ident, fmt):
    archive, names = build(BY_ID[ident], fmt, tmp_path, sandbox)
    store = Store(tmp_path / "store")
    before = snapshot(sandbox)
    with pytest.raises(AssayError) as err:
        store.put("hostile", archive)
    assert isinstance(err.value, ArchiveError | StoreError)
    assert _names(str(err.value), names), str(err.value)
    assert store.refs.versions("hostile") == []
    assert snapshot(sandbox) == before


def _store_hostile_tree(
    store: Store,
    ident: str,
    sandbox: Path,
    put: Callable[[ObjectStore, Tree], str] = put_legacy_tree,
) -> tuple[str, str]:
    """Write a hostile tree straight into the store, as an older assay (or another store)
    could have (``put``: in the first format, or as directory objects): (its version's ref,
    the path the refusal must name)."""
    hostile = TREES_BY_ID[ident]
    sb = str(sandbox).lstrip("/")
    store._ready()
    entries = []
    for m in hostile.entries:
        path = m.name.replace("{sb}", sb)
        if m.kind == "dir":
            entries.append(Entry(path, "dir", mode=0o755))
        elif m.kind == "symlink":
            entries.append(Entry(path, "symlink", mode=0o777, target=m.link.replace("{sb}", sb)))
        else:
            digest, _ = store.objects.put_bytes("blobs", m.data)
            entries.append(Entry(path, "file", mode=0o644, size=len(m.data), hash=digest))
    # make_tree sorts, as a stored tree is; a duplicate path stays a duplicate.
    tree = put(store.objects, make_tree(entries))
    version, _ = store.refs.add("old", tree, {"source": "an older assay"})
    return version.ref, hostile.names.replace("{sb}", sb)


@pytest.mark.parametrize("fmt", ["manifest", "directories"])
@pytest.mark.parametrize("ident", [t.id for t in TREES])
def test_get_checkout_and_stage_refuse_a_hostile_stored_tree(tmp_path, sandbox, ident, fmt):
    store = Store(tmp_path / "store")
    if fmt == "directories":
        try:
            ref, names = _store_hostile_tree(store, ident, sandbox, put_tree)
        except StoreError as exc:  # a name no directory object can hold: not even stored
            assert "cannot store the directory" in str(exc)
            return
    else:
        ref, names = _store_hostile_tree(store, ident, sandbox)
    tree = store.resolve(ref).tree
    before = snapshot(sandbox)
    target = sandbox / "target"
    with pytest.raises(StoreError) as err:
        store.get(ref, target)
    assert ref in str(err.value) and _names(str(err.value), names), str(err.value)
    assert not target.exists()
    with pytest.raises(StoreError) as err:
        store.checkout(tree)
    assert ref in str(err.value) and _names(str(err.value), names), str(err.value)
    assert (
        not (store.root / "checkouts").exists() or list((store.root / "checkouts").iterdir()) == []
    )
    with pytest.raises(StoreError) as err:
        store.stage(tree, target)
    assert _names(str(err.value), names), str(err.value)
    with pytest.raises(StoreError):
        store.stage(store.tree(tree), target)  # a tree object (a test's sources) too
    assert not target.exists() or list(target.iterdir()) == []
    assert snapshot(sandbox, skip=target) == before
