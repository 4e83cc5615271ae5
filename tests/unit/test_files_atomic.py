"""assay.files.write_atomic: readers see the old file or the new one, never half of it;
its temporary file is made as tempfile.mkstemp makes one (without importing tempfile)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from assay import files
from assay.files import write_atomic


def test_the_file_is_written_whole_and_readable_as_the_umask_allows(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "sub" / "report.json", "{}\n")
    finally:
        os.umask(old)
    path = tmp_path / "sub" / "report.json"
    assert path.read_text() == "{}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path / "sub") == ["report.json"]


def test_bytes_replace_an_old_file_and_nothing_else_is_left(tmp_path):
    path = tmp_path / "summary.txt"
    path.write_text("old")
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["summary.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(path, 123)  # type: ignore[arg-type]
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["report.json"]


def test_a_taken_temporary_name_is_never_written_through(tmp_path, monkeypatch):
    """A file or symlink already at the random name (planted, or a collision) is left
    alone: the next name is taken, as mkstemp does."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    names = iter([b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(files.os, "urandom", lambda n: next(names))
    os.symlink(victim, tmp_path / f".report.json.{'00' * 6}")
    write_atomic(tmp_path / "report.json", "new")
    assert victim.read_text() == "keep"
    assert (tmp_path / "report.json").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["victim", "report.json", f".report.json.{'00' * 6}"]
    )


def test_concurrent_writers_each_leave_a_whole_file(tmp_path):
    path = tmp_path / "state"
    texts = [str(i) * 10_000 for i in range(8)]
    threads = [threading.Thread(target=write_atomic, args=(path, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in texts and os.listdir(tmp_path) == ["state"]


@pytest.mark.parametrize(("mode", "umask", "made"), [(0o600, 0o022, 0o600), (0o644, 0o002, 0o644)])
def test_a_mode_is_given_to_the_file_under_the_umask(tmp_path, mode, umask, made):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "kept", b"data", mode=mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "kept").stat().st_mode) == made
    assert (tmp_path / "kept").read_bytes() == b"data"
