"""A store never imports itself: a sources directory that holds the store (``sources = "."``
in a project whose store is ``.assay/store`` or ``$ASSAY_STORE=./.store``) is imported
without it, instead of hashing every object into each case's sources."""

from __future__ import annotations

import os
from pathlib import Path

from assay.store import Store


def _paths(store: Store, root: Path) -> set[str]:
    return {e.path for e in store.tree(store.import_path(root).tree).entries}


def test_the_store_inside_an_imported_directory_is_left_out(tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.c").write_text("int main;\n")
    store = Store(project / ".assay" / "store")
    store.import_path(project / "src")  # the store now holds objects and its cache
    paths = _paths(store, project)
    assert paths == {".assay", "src", "src/main.c"}, paths


def test_the_store_reached_under_another_name_is_left_out_too(tmp_path):
    """Named through a symlinked parent, it is still the same directory (device, inode)."""
    real = tmp_path / "real"
    (real / "data").mkdir(parents=True)
    (real / "data" / "x").write_text("x\n")
    os.symlink(real, tmp_path / "alias")
    store = Store(tmp_path / "alias" / "store")
    store.import_path(real / "data")
    assert _paths(store, real) == {"data", "data/x"}


def test_a_directory_beside_the_store_is_imported_whole(tmp_path):
    (tmp_path / "a" / "store-notes").mkdir(parents=True)
    (tmp_path / "a" / "store-notes" / "n").write_text("n\n")
    store = Store(tmp_path / "store")
    assert _paths(store, tmp_path / "a") == {"store-notes", "store-notes/n"}
