"""Passed cases' empty stdout and stderr files, moved into later cases' stage dirs: only
regular, empty files of one name are offered, and nothing is moved or removed through an
output dir that a link replaced meanwhile. Real files and directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay.compare.beneath import identity
from assay.run import spares as spares_module
from assay.run.scripts import RUN_ERR, RUN_OUT
from assay.run.spares import SpareFiles, empty_outputs

SECRET = "not the runner's\n"


def _output_dir(root: Path, name: str = "done") -> tuple[Path, tuple[int, int]]:
    """An output dir holding an empty stdout and stderr file, and its identity."""
    out = root / name
    out.mkdir()
    for file in (RUN_OUT, RUN_ERR):
        (out / file).write_bytes(b"")
    return out, identity(os.stat(out))


def _offered(out: Path) -> list[str]:
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return empty_outputs(fd, set(os.listdir(fd)))
    finally:
        os.close(fd)


def test_a_later_stage_dir_gets_the_files_and_they_leave_the_output_dir(tmp_path):
    out, ident = _output_dir(tmp_path)
    inodes = {os.stat(out / RUN_OUT).st_ino, os.stat(out / RUN_ERR).st_ino}
    spares = SpareFiles()
    spares.offer(out, ident, _offered(out))
    assert len(spares) == 2
    stage = tmp_path / "stage"
    stage.mkdir()
    assert sorted(spares.take(stage)) == [RUN_ERR, RUN_OUT]
    assert os.listdir(out) == [] and len(spares) == 0
    assert {os.stat(stage / RUN_OUT).st_ino, os.stat(stage / RUN_ERR).st_ino} == inodes


@pytest.mark.parametrize("kind", ["written", "symlink", "hard link", "fifo", "directory"])
def test_only_regular_empty_files_of_one_name_are_offered(tmp_path, kind):
    out, _ = _output_dir(tmp_path)
    (out / RUN_ERR).unlink()
    if kind == "written":
        (out / RUN_ERR).write_text("a line\n")
    elif kind == "symlink":
        (tmp_path / "empty").write_bytes(b"")
        (out / RUN_ERR).symlink_to(tmp_path / "empty")
    elif kind == "hard link":
        (tmp_path / "empty").write_bytes(b"")
        os.link(tmp_path / "empty", out / RUN_ERR)
    elif kind == "fifo":
        os.mkfifo(out / RUN_ERR)
    else:
        (out / RUN_ERR).mkdir()
    assert _offered(out) == [RUN_OUT]


def test_nothing_is_taken_through_an_output_dir_a_link_replaced(tmp_path):
    out, ident = _output_dir(tmp_path)
    spares = SpareFiles()
    spares.offer(out, ident, _offered(out))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / RUN_OUT).write_text(SECRET)
    (outside / RUN_ERR).write_text(SECRET)
    out.rename(tmp_path / "moved")
    out.symlink_to(outside)
    stage = tmp_path / "stage"
    stage.mkdir()
    assert spares.take(stage) == []
    assert os.listdir(stage) == [] and len(spares) == 0
    assert sorted(os.listdir(outside)) == [RUN_ERR, RUN_OUT]
    spares.remove()
    assert (outside / RUN_OUT).read_text() == SECRET


def test_nothing_is_taken_from_another_directory_put_at_its_name(tmp_path):
    out, ident = _output_dir(tmp_path)
    spares = SpareFiles()
    spares.offer(out, ident, _offered(out))
    out.rename(tmp_path / "moved")
    _output_dir(tmp_path, "done")  # the same name, another directory
    stage = tmp_path / "stage"
    stage.mkdir()
    assert spares.take(stage) == []
    assert sorted(os.listdir(out)) == [RUN_ERR, RUN_OUT]


def test_a_file_linked_since_it_was_offered_is_not_taken(tmp_path):
    out, ident = _output_dir(tmp_path)
    spares = SpareFiles()
    spares.offer(out, ident, _offered(out))
    os.link(out / RUN_ERR, tmp_path / "peek")
    stage = tmp_path / "stage"
    stage.mkdir()
    assert spares.take(stage) == [RUN_ERR]  # the stdout file, as the job's stderr
    assert os.stat(stage / RUN_ERR).st_ino != os.stat(tmp_path / "peek").st_ino
    assert (out / RUN_ERR).exists()


def test_remove_leaves_nothing_waiting_and_removes_only_those_files(tmp_path):
    out, ident = _output_dir(tmp_path)
    (out / "assay-run.sh").write_text("#!/bin/bash\n")
    spares = SpareFiles()
    spares.offer(out, ident, _offered(out))
    spares.remove()
    assert os.listdir(out) == ["assay-run.sh"] and len(spares) == 0
    stage = tmp_path / "stage"
    stage.mkdir()
    assert spares.take(stage) == []


def test_room_is_bounded(tmp_path):
    spares = SpareFiles(limit=2)
    out, ident = _output_dir(tmp_path)
    assert spares.room()
    spares.offer(out, ident, _offered(out))
    assert not spares.room()


@pytest.mark.parametrize("swap", ["link", "other directory"])
def test_a_stage_dir_replaced_at_its_path_gets_nothing_moved_to_where_it_leads(tmp_path, swap):
    # Stage dirs are siblings: another case's job can swap a link in at the path of the
    # next case's stage dir; the files go into the directory setup made, or nowhere.
    out, ident = _output_dir(tmp_path)
    spares = SpareFiles()
    spares.offer(out, ident, _offered(out))
    stage = tmp_path / "stage"
    stage.mkdir()
    made = identity(os.stat(stage))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / RUN_OUT).write_text(SECRET)
    other = tmp_path / "other"
    other.mkdir()  # made while the stage dir exists: not its inode number reused
    stage.rmdir()
    if swap == "link":
        stage.symlink_to(elsewhere)
    else:
        other.rename(stage)
    assert spares.take(stage, made) == []
    assert (elsewhere / RUN_OUT).read_text() == SECRET
    assert sorted(os.listdir(elsewhere)) == [RUN_OUT]
    assert len(spares) == 2  # still waiting for a stage dir that is the one made


@pytest.mark.parametrize("planted", ["hard link", "symlink"])
def test_a_file_swapped_between_the_check_and_the_move_is_not_given_to_the_job(
    tmp_path, monkeypatch, planted
):
    # A process still running swaps a hard link to a file of the user's (or a symbolic
    # link) in at a spare's name after it was checked, before it is moved: the job would
    # truncate that file and write its stdout into it. The swap is injected at the rename
    # (a race a real process cannot be made to win on demand).
    out, ident = _output_dir(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text(SECRET)
    spares = SpareFiles()
    spares.offer(out, ident, [RUN_OUT])
    real_rename = os.rename

    def faultinjecting_swap_before_rename(src, dst, *, src_dir_fd, dst_dir_fd):  # type: ignore[no-untyped-def]
        os.unlink(src, dir_fd=src_dir_fd)
        if planted == "hard link":
            os.link(victim, src, dst_dir_fd=src_dir_fd)
        else:
            os.symlink(victim, src, dir_fd=src_dir_fd)
        real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(spares_module.os, "rename", faultinjecting_swap_before_rename)
    stage = tmp_path / "stage"
    stage.mkdir()
    assert spares.take(stage, names=(RUN_OUT,)) == []
    assert not os.path.lexists(stage / RUN_OUT)  # the job makes its own
    assert victim.read_text() == SECRET and os.stat(victim).st_nlink == 1


def test_a_file_open_for_writing_is_neither_offered_nor_taken(tmp_path):
    # A process a case left behind (one that cleared its environment and left the job's
    # session, which lives until the session ends) still holds the job's stdout: what it
    # writes would land in a later case's output. Here the test holds the descriptors.
    out, ident = _output_dir(tmp_path)
    with open(out / RUN_OUT, "ab") as held:
        assert _offered(out) == [RUN_ERR]
        spares = SpareFiles()
        spares.offer(out, ident, [RUN_OUT, RUN_ERR])  # (offered before it was opened)
        stage = tmp_path / "stage"
        stage.mkdir()
        assert spares.take(stage) == [RUN_ERR]
        held.write(b"late\n")
    assert (out / RUN_OUT).read_bytes() == b"late\n"  # left where it was
    assert os.listdir(stage) == [RUN_ERR] and (stage / RUN_ERR).read_bytes() == b""


def test_a_file_opened_for_writing_after_it_was_offered_is_not_given_to_the_job(tmp_path):
    out, ident = _output_dir(tmp_path)
    spares = SpareFiles()
    spares.offer(out, ident, _offered(out))
    stage = tmp_path / "stage"
    stage.mkdir()
    held = os.stat(out / RUN_ERR).st_ino
    writer = os.open(out / RUN_ERR, os.O_RDWR)
    try:
        assert spares.take(stage, names=(RUN_OUT,)) == [RUN_OUT]
    finally:
        os.close(writer)
    assert os.listdir(stage) == [RUN_OUT]
    assert os.stat(stage / RUN_OUT).st_ino != held  # the other one: the held one is refused
    assert os.stat(out / RUN_ERR).st_ino == held and len(spares) == 0


_BREAK = """
import os, signal, subprocess, sys
from assay.run.spares import _no_writer
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGIO, signal.SIGURG})
fd = os.open(sys.argv[1], os.O_RDONLY)
assert _no_writer(fd)  # the lease is held until fd closes
opener = "import sys; open(sys.argv[1], 'ab')"
writer = subprocess.Popen([sys.executable, "-c", opener, sys.argv[1]])
got = signal.sigtimedwait({signal.SIGIO, signal.SIGURG}, 60)
os.close(fd)
print(signal.Signals(got.si_signo).name if got else "none", writer.wait())
"""


def test_a_writer_opening_the_file_while_it_is_looked_at_does_not_end_the_runner(tmp_path):
    # A process that opens the file for writing in the moment the lease is held breaks
    # it, and the kernel signals the lease's holder: SIGIO, whose default action ends the
    # process, unless another signal is asked for. A process of its own holds the lease
    # here (the signal goes to the whole process), with the signals blocked to see which.
    (tmp_path / "f").write_bytes(b"")
    found = subprocess.run(
        [sys.executable, "-c", _BREAK, str(tmp_path / "f")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.stdout.split() == ["SIGURG", "0"], found
