"""The hostile corpus (tests/hostile/corpus.py) through the command line, as a user meets it:
``assay store put``, ``assay store get`` of trees a store already holds, and suite files
whose build is the archive (or the stored tree). Each refusal exits non-zero with a message
naming the member and no traceback, and nothing in the watched sandbox changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.store import Store
from assay.store.trees import Entry, make_tree, put_legacy_tree
from tests.hostile.corpus import (
    BY_ID,
    CORPUS,
    FORMATS,
    TREES,
    build,
    cases,
    make_sandbox,
    snapshot,
)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    box = tmp_path / "sandbox"
    make_sandbox(box)
    return box


def _store_tree(store: Store, name: str, entries: list[Entry]) -> str:
    tree = put_legacy_tree(store.objects, make_tree(entries))
    return store.refs.add(name, tree, {"source": "an older assay"})[0].ref


def _hostile_trees(store: Store, sandbox: Path) -> dict[str, tuple[str, str]]:
    """Every hostile tree of the corpus stored as version 1 of ``old-ID``: id -> (ref, the
    path the refusal must name)."""
    store._ready()
    sb = str(sandbox).lstrip("/")
    stored = {}
    for hostile in TREES:
        entries = []
        for m in hostile.entries:
            path = m.name.replace("{sb}", sb)
            if m.kind == "dir":
                entries.append(Entry(path, "dir", mode=0o755))
            elif m.kind == "symlink":
                target = m.link.replace("{sb}", sb)
                entries.append(Entry(path, "symlink", mode=0o777, target=target))
            else:
                digest, _ = store.objects.put_bytes("blobs", m.data)
                entries.append(Entry(path, "file", mode=0o644, size=len(m.data), hash=digest))
        ref = _store_tree(store, f"old-{hostile.id}", entries)
        stored[hostile.id] = (ref, hostile.names.replace("{sb}", sb))
    return stored


@pytest.mark.parametrize(("ident", "fmt"), list(cases()))
def test_store_put_refuses(assay_cli, tmp_path, sandbox, ident, fmt):
    archive, names = build(BY_ID[ident], fmt, tmp_path, sandbox)
    before = snapshot(sandbox)
    result = assay_cli("store", "put", "hostile", str(archive))
    assert result.code == 2, result
    assert repr(names) in result.stderr, result
    assert "Traceback" not in result.stderr, result
    assert not (tmp_path / ".store" / "names" / "hostile").exists()
    assert snapshot(sandbox) == before


def test_store_get_refuses_hostile_stored_trees(assay_cli, tmp_path, sandbox):
    stored = _hostile_trees(Store(tmp_path / ".store"), sandbox)
    before = snapshot(sandbox)
    for ident, (ref, names) in stored.items():
        target = sandbox / f"got-{ident}"
        result = assay_cli("store", "get", ref, str(target))
        assert result.code == 2, (ident, result)
        assert ref in result.stderr and repr(names) in result.stderr, (ident, result)
        assert "Traceback" not in result.stderr, (ident, result)
        assert not target.exists(), ident
    assert snapshot(sandbox) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_suite_builds_from_hostile_archives_fail_their_cases(assay_cli, tmp_path, sandbox, fmt):
    """One run with a suite per archive of the corpus (and per hostile stored tree): every
    case fails at setup naming the member, the run exits 1, nothing else is touched."""
    (tmp_path / "archives").mkdir()
    (tmp_path / "cases" / "c").mkdir(parents=True)
    expected: dict[str, str] = {}
    for hostile in CORPUS:
        if fmt not in hostile.formats:
            continue
        archive, names = build(hostile, fmt, tmp_path / "archives", sandbox)
        _suite(tmp_path, hostile.id, f"archives/{archive.name}")
        expected[hostile.id] = repr(names)
    if fmt == "tar":  # the stored trees once
        for ident, (ref, names) in _hostile_trees(Store(tmp_path / ".store"), sandbox).items():
            _suite(tmp_path, f"tree-{ident}", f"store:{ref}")
            expected[f"tree-{ident}"] = repr(names)
    before = snapshot(sandbox)
    result = assay_cli("run", ".", "--plain", timeout=300)
    assert result.code == 1, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result
    for name, names in expected.items():
        case = result.case(f"{name}[")
        assert case["status"] == "failed", (name, case)
        assert case["failure"]["stage"] == "setup", (name, case)
        reason = case["failure"]["reason"]
        assert reason.startswith("artifact 'build': ") and names in reason, (name, reason)
        assert "Traceback" not in (case["failure"].get("details") or ""), (name, case)
    assert snapshot(sandbox) == before
    checkouts = tmp_path / ".store" / "checkouts"
    assert not checkouts.exists() or list(checkouts.iterdir()) == []


def _suite(root: Path, name: str, build_: str) -> None:
    (root / f"{name}.suite.toml").write_text(
        f'[suite]\nbuild = "{build_}"\ncases = "cases/*"\ncommand = "ls $ASSAY_BUILD"\n'
    )
