"""assay.planted: a name a job may have planted something at is written only as a
regular file of its own; links, hard links and FIFOs are removed, never written through.
Real files, links and FIFOs in tmp_path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assay import planted


def _canary(tmp_path: Path) -> Path:
    canary = tmp_path / "canary"
    canary.write_text("precious\n")
    return canary


def _write(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _own_file(path: Path) -> bool:
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


@pytest.mark.parametrize("make", ["symlink", "hardlink"])
def test_create_replaces_a_link_and_leaves_its_target_alone(tmp_path, make):
    canary = _canary(tmp_path)
    name = tmp_path / "assay-run.sh"
    if make == "symlink":
        name.symlink_to(canary)
    else:
        os.link(canary, name)
    _write(planted.create(name), b"new\n")
    assert canary.read_text() == "precious\n"
    assert name.read_text() == "new\n" and _own_file(name)


def test_create_replaces_a_link_to_a_missing_file_without_making_it(tmp_path):
    name = tmp_path / "assay-run.sh"
    name.symlink_to(tmp_path / "made-through-the-link")
    _write(planted.create(name), b"new\n")
    assert not (tmp_path / "made-through-the-link").exists()
    assert _own_file(name)


@pytest.mark.parametrize(
    ("make", "found"),
    [
        ("symlink", "a symbolic link"),
        ("hardlink", "a hard link to another file (2 names)"),
        ("fifo", "a FIFO"),
    ],
)
def test_append_replaces_what_was_planted_and_says_what_it_was(tmp_path, make, found):
    canary = _canary(tmp_path)
    stage = tmp_path / "stage"
    stage.mkdir()
    name = stage / "assay-python.out"
    if make == "symlink":
        name.symlink_to(canary)
    elif make == "hardlink":
        os.link(canary, name)
    else:
        os.mkfifo(name)
    fd, what = planted.append(name)
    _write(fd, b"printed\n")
    assert what == found
    assert canary.read_text() == "precious\n"
    assert name.read_text() == "printed\n" and _own_file(name)


def test_append_appends_to_a_regular_file_and_makes_a_missing_one(tmp_path):
    name = tmp_path / "assay-python.out"
    fd, what = planted.append(name)
    _write(fd, b"one\n")
    fd, again = planted.append(name)
    _write(fd, b"two\n")
    assert (what, again) == (None, None)
    assert name.read_text() == "one\ntwo\n"


def test_append_refuses_a_directory_that_is_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "stage").symlink_to(outside)
    with pytest.raises(OSError):
        planted.append(tmp_path / "stage" / "assay-python.out")
    assert list(outside.iterdir()) == []


def test_append_refuses_a_directory_at_the_name(tmp_path):
    (tmp_path / "assay-python.out").mkdir()
    with pytest.raises(IsADirectoryError):
        planted.append(tmp_path / "assay-python.out")


def test_tail_reads_a_regular_file_but_not_through_a_link_or_a_fifo(tmp_path):
    from assay.files import tail

    canary = _canary(tmp_path)
    (tmp_path / "link").symlink_to(canary)
    os.mkfifo(tmp_path / "fifo")  # (opened blocking, this waited for a writer forever)
    assert tail(canary) == "precious"
    assert tail(tmp_path / "link") is None
    assert tail(tmp_path / "fifo") is None
