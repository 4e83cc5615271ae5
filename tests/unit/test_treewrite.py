"""The writer behind unpacking and staging, on its own: whatever the checks before it let
through (or whatever appears on disk meanwhile), it never writes through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.store import Store, StoreError
from assay.store.agent.treewrite import TreeWriter, WriteRefused, remove_path
from assay.store.trees import Entry, make_tree


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep\n")
    return folder


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_a_symlink_on_the_way_is_never_followed(tmp_path, outside):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    (root / "file").write_text("f\n")
    with TreeWriter(root) as out:
        for rel in ("link/x.txt", "link/deeper/x.txt", "file/x.txt"):
            with pytest.raises(WriteRefused, match="refusing to follow it"):
                out.write_file(rel, _bytes(b"x"), 0o644)
        with pytest.raises(WriteRefused, match="not a plain relative path"):
            out.write_file("../escape.txt", _bytes(b"x"), 0o644)
        with pytest.raises(WriteRefused):
            out.symlink("/etc", "sub/../../escape")
    assert _contents(outside) == {"keep.txt": "keep\n"}
    assert not (tmp_path / "escape.txt").exists()


def test_an_entry_in_the_way_is_replaced_not_written_through(tmp_path, outside):
    root = tmp_path / "root"
    root.mkdir()
    (root / "hard").hardlink_to(outside / "keep.txt")  # a hard link to a file outside
    (root / "soft").symlink_to(outside / "keep.txt")
    (root / "dir").mkdir()
    (root / "dir" / "out").symlink_to(outside)  # removing dir/ must not empty outside/
    with TreeWriter(root) as out:
        out.write_file("hard", _bytes(b"new\n"), 0o644)
        out.write_file("soft", _bytes(b"new\n"), 0o644)
        out.write_file("dir", _bytes(b"new\n"), 0o644)
    assert _contents(outside) == {"keep.txt": "keep\n"}
    assert all((root / n).read_text() == "new\n" for n in ("hard", "soft", "dir"))
    assert not (root / "soft").is_symlink()


def test_replacing_only_files_refuses_a_directory_or_a_link_in_the_way(tmp_path, outside):
    """The mode for paths someone else names (files brought back from a host): a regular
    file in the way is replaced (never written through: a hard link elsewhere keeps its
    content); a directory or a link is left as it is and named."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "hard").hardlink_to(outside / "keep.txt")
    (root / "soft").symlink_to(outside / "keep.txt")
    (root / "dir").mkdir()
    (root / "dir" / "mine.txt").write_text("mine\n")
    with TreeWriter(root) as out:
        out.write_file("hard", _bytes(b"new\n"), 0o644, replace="files")
        for rel in ("soft", "dir"):
            with pytest.raises(WriteRefused, match="is a directory or a link here"):
                out.write_file(rel, _bytes(b"new\n"), 0o644, replace="files")
        with pytest.raises(WriteRefused, match="not a plain relative path"):
            out.write_file("/abs", _bytes(b"x"), 0o644, replace="files")
    assert (root / "hard").read_text() == "new\n"
    assert _contents(outside) == {"keep.txt": "keep\n"}
    assert (root / "soft").is_symlink() and (root / "dir" / "mine.txt").read_text() == "mine\n"
    assert sorted(os.listdir(root)) == ["dir", "hard", "soft"]


def test_a_directory_replaces_a_link_in_its_place(tmp_path, outside):
    root = tmp_path / "root"
    root.mkdir()
    (root / "d").symlink_to(outside)
    with TreeWriter(root) as out:
        out.make_dir("d")
        out.write_file("d/x.txt", _bytes(b"x"), 0o644)
    assert not (root / "d").is_symlink() and (root / "d" / "x.txt").exists()
    assert _contents(outside) == {"keep.txt": "keep\n"}


def test_undo_removes_what_the_writer_created_and_keeps_the_rest(tmp_path):
    root = tmp_path / "root"
    (root / "old").mkdir(parents=True)
    with TreeWriter(root) as out:
        out.write_file("old/new.txt", _bytes(b"x"), 0o644)  # inside a directory it found
        out.write_file("a/b/c.txt", _bytes(b"x"), 0o644)
        out.symlink("a", "l")
        out.undo()
    assert sorted(os.listdir(root)) == ["old"]


def test_many_directories_stay_within_the_descriptor_cache(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with TreeWriter(root) as out:
        for i in range(300):
            out.write_file(f"d{i % 150}/e{i}/f.txt", _bytes(b"x"), 0o644)
        assert len(out._fds) <= 64
    assert sum(1 for _ in root.rglob("f.txt")) == 300


def test_remove_path_never_follows_links_and_has_no_depth_limit(tmp_path, outside):
    victim = tmp_path / "victim"
    deep = victim.joinpath(*["d"] * 1200)  # deeper than Python's recursion limit
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        os.mkdir("victim", dir_fd=fd)
        current = os.open("victim", os.O_RDONLY, dir_fd=fd)
        for _ in range(1200):
            os.mkdir("d", dir_fd=current)
            following = os.open("d", os.O_RDONLY, dir_fd=current)
            os.close(current)
            current = following
        os.symlink(str(outside), "out", dir_fd=current)
        os.close(current)
    finally:
        os.close(fd)
    del deep
    remove_path(victim)
    assert not victim.exists()
    assert _contents(outside) == {"keep.txt": "keep\n"}


def test_remove_path_of_a_dot_name_removes_nothing(tmp_path):
    # "x/a/.." names x itself: removing the entry ".." of x/a must not empty x (nor its
    # parent), whatever the caller computed. Everything here lies in a sandbox of tmp_path.
    sandbox = tmp_path / "sandbox" / "deep"
    (sandbox / "x" / "a").mkdir(parents=True)
    (sandbox / "x" / "keep.txt").write_text("keep\n")
    for path in (f"{sandbox}/x/a/..", f"{sandbox}/x/a/../", f"{sandbox}/x/a/."):
        remove_path(path)
    remove_path(sandbox / "x" / "a" / "..")  # pathlib keeps "..", drops "."
    assert (sandbox / "x" / "keep.txt").read_text() == "keep\n"
    assert (sandbox / "x" / "a").is_dir()


def test_staging_refuses_a_link_the_target_already_had_on_the_way(tmp_path, outside):
    """A tree that is safe on its own, staged into a directory holding a link where the tree
    has a directory's child: the writer refuses, names the path, and leaves outside alone."""
    store = Store(tmp_path / "store")
    store._ready()
    digest, _ = store.objects.put_bytes("blobs", b"x\n")
    tree = make_tree([Entry("lib/x.txt", "file", mode=0o644, size=2, hash=digest)])
    target = tmp_path / "stage"
    target.mkdir()
    (target / "lib").symlink_to(outside)
    with pytest.raises(StoreError, match=r"'lib/x\.txt' lies below 'lib', which is a symlink"):
        store.stage(tree, target)
    assert _contents(outside) == {"keep.txt": "keep\n"}


class _bytes:  # reads like a literal at the call sites
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1, /) -> bytes:
        data, self.data = self.data, b""
        return data


def test_writing_bytes_never_follows_a_link_and_replaces_what_is_in_the_way(tmp_path, outside):
    """``write_bytes`` (a small copied input: no stream, one write) makes its file as
    ``write_file`` does: a link on the way is refused, one at the name replaced."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    (root / "soft").symlink_to(outside / "keep.txt")
    (root / "hard").hardlink_to(outside / "keep.txt")
    with TreeWriter(root) as out:
        with pytest.raises(WriteRefused, match="refusing to follow it"):
            out.write_bytes("link/x.txt", b"x", 0o444)
        out.write_bytes("soft", b"new\n", 0o444)
        out.write_bytes("hard", b"new\n", 0o555)
        out.write_bytes("sub/big", b"y" * (3 << 20), 0o444)
    assert _contents(outside) == {"keep.txt": "keep\n"}
    assert (root / "soft").read_text() == "new\n" and not (root / "soft").is_symlink()
    assert oct((root / "soft").stat().st_mode & 0o777) == "0o444"
    assert oct((root / "hard").stat().st_mode & 0o777) == "0o555"
    assert (root / "sub/big").stat().st_size == 3 << 20


def _source(tmp_path: Path, data: bytes, mode: int = 0o755) -> int:
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    path.chmod(mode)
    return os.open(path, os.O_RDONLY)


def test_replace_file_renames_a_new_file_into_place_keeping_the_old_mode(tmp_path, outside):
    # A hard link to a file outside is replaced, its shared inode never written; a file's
    # mode stays; a new file takes the given one; nothing but the file is left beside it.
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    os.link(outside / "keep.txt", root / "sub" / "linked.txt")
    (root / "sub" / "plain.txt").write_text("old\n")
    (root / "sub" / "plain.txt").chmod(0o640)
    src = _source(tmp_path, b"new\n")
    try:
        with TreeWriter(root) as out:
            for rel in ("sub/linked.txt", "sub/plain.txt", "sub/deeper/fresh.txt"):
                os.lseek(src, 0, os.SEEK_SET)
                out.replace_file(rel, src, 0o600)
    finally:
        os.close(src)
    assert _contents(outside) == {"keep.txt": "keep\n"}
    assert (outside / "keep.txt").stat().st_nlink == 1
    assert (root / "sub" / "linked.txt").read_text() == "new\n"
    assert (root / "sub" / "plain.txt").stat().st_mode & 0o777 == 0o640
    assert (root / "sub" / "deeper" / "fresh.txt").stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(root / "sub")) == ["deeper", "linked.txt", "plain.txt"]


def test_replace_file_refuses_a_link_or_directory_there_and_a_link_on_the_way(tmp_path, outside):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.txt").symlink_to(outside / "keep.txt")
    (root / "dir").mkdir()
    (root / "way").symlink_to(outside)
    src = _source(tmp_path, b"new\n")
    try:
        with TreeWriter(root) as out:
            for rel, where, what in (
                ("link.txt", "link.txt", "a symlink"),
                ("dir", "dir", "not a regular file"),
                ("way/keep.txt", "way", "a symlink"),
            ):
                with pytest.raises(WriteRefused) as refused:
                    out.replace_file(rel, src, 0o644)
                assert (refused.value.where, refused.value.what) == (where, what)
    finally:
        os.close(src)
    assert _contents(outside) == {"keep.txt": "keep\n"} and (root / "link.txt").is_symlink()


def test_replace_file_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.txt").write_text("old\n")
    src = os.open(tmp_path, os.O_RDONLY)  # a source that cannot be read (EISDIR): it fails
    try:
        with TreeWriter(root) as out, pytest.raises(OSError):
            out.replace_file("f.txt", src, 0o644)
    finally:
        os.close(src)
    assert (root / "f.txt").read_text() == "old\n" and os.listdir(root) == ["f.txt"]
