"""An archive import reads one file: the one it hashed, stat-ed (for its cache) and took
the members of. Swapping another archive in under the same name between those steps once
gave a tree of the second archive recorded under the first one's hash and stat."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import blake3
import pytest

from assay import archives
from assay.store import Store, StoreError


def _tar(path: Path, name: str, data: bytes) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox" / "race"
    path.mkdir(parents=True)
    return path


def test_an_archive_swapped_before_its_members_are_read_is_not_mixed_in(sandbox, monkeypatch):
    original = _tar(sandbox / "build.tar.gz", "a.txt", b"A\n")
    _tar(sandbox / "other.tar.gz", "b.txt", b"B\n")
    real = archives.iter_members

    def iter_members_after_a_swap(archive: Any, *args: Any, **kw: Any) -> Any:
        # The race on demand: another archive takes the name before the members are read.
        os.replace(sandbox / "other.tar.gz", sandbox / "build.tar.gz")
        return real(archive, *args, **kw)

    monkeypatch.setattr(archives, "iter_members", iter_members_after_a_swap)
    store = Store(sandbox / "store")
    imported = store.import_path(sandbox / "build.tar.gz")
    tree = store.tree(imported.tree)
    assert [e.path for e in tree.entries] == ["a.txt"]  # the archive it hashed
    assert imported.archive_hash == blake3.blake3(original).hexdigest()


def test_an_archive_written_in_place_while_read_is_refused(sandbox, monkeypatch):
    _tar(sandbox / "build.tar.gz", "a.txt", b"A\n")
    real = archives.iter_members

    def iter_members_then_append(archive: Any, *args: Any, **kw: Any) -> Any:
        yield from real(archive, *args, **kw)
        with open(sandbox / "build.tar.gz", "ab") as fh:  # a writer still at work
            fh.write(b"\0" * 512)

    monkeypatch.setattr(archives, "iter_members", iter_members_then_append)
    store = Store(sandbox / "store")
    with pytest.raises(StoreError, match="changed while it was being read"):
        store.import_path(sandbox / "build.tar.gz")


def test_unpacking_writes_the_archive_it_checked_when_another_takes_its_name(sandbox, monkeypatch):
    """The check and the writing read one open file: a link to /etc/passwd moved in under
    the archive's name between the two passes is never seen."""
    from assay import archives

    _tar(sandbox / "build.tar.gz", "a.txt", b"A\n")
    with tarfile.open(sandbox / "evil.tar.gz", "w:gz") as tar:
        link = tarfile.TarInfo("a.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    real = archives.members
    passes: list[Path] = []

    def members_with_a_rename_between_the_passes(path: Path, what: str, *opened: Any) -> Any:
        passes.append(path)
        if len(passes) == 2:
            os.replace(sandbox / "evil.tar.gz", sandbox / "build.tar.gz")
        return real(path, what, *opened)

    monkeypatch.setattr(archives, "members", members_with_a_rename_between_the_passes)
    out = sandbox / "out"
    archives.unpack(sandbox / "build.tar.gz", out)
    assert len(passes) == 2
    assert not (out / "a.txt").is_symlink() and (out / "a.txt").read_bytes() == b"A\n"
