"""A passed case's copied inputs, emptied, become later cases' run scripts
(src/assay/run/spares.py): only a regular file of one name, its own, is emptied (never
a store object's other name, what a link leads to, or another user's file); a script is
written only into a file spares itself put beside it, with a new file's mode. Real files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assay import procstate
from assay.compare.beneath import identity
from assay.run import scripts
from assay.run.spares import WITH_SCRIPT, SpareFiles, emptied_inputs

TEXT = "#!/bin/bash\necho the script\n"


def _done(root: Path) -> tuple[Path, tuple[int, int]]:
    """An output dir holding a read-only input copy, and its identity."""
    out = root / "done"
    out.mkdir()
    (out / "in.txt").write_text("the input\n")
    (out / "in.txt").chmod(0o444)
    return out, identity(os.stat(out))


def _emptied(out: Path, names: list[str], mode: int = 0o644) -> list[str]:
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return emptied_inputs(fd, names, mode)
    finally:
        os.close(fd)


def test_an_input_copy_is_emptied_and_becomes_a_later_cases_run_script(tmp_path):
    out, ident = _done(tmp_path)
    inode = os.stat(out / "in.txt").st_ino
    spares = SpareFiles()
    offered = _emptied(out, ["in.txt"], spares.mode())
    assert offered == ["in.txt"]
    assert (out / "in.txt").read_bytes() == b""
    spares.offer(out, ident, offered)
    later = tmp_path / "later"
    later.mkdir()
    assert spares.take(later, names=(scripts.SPARE_SCRIPT,)) == [scripts.SPARE_SCRIPT]
    scripts.write(later / scripts.RUN_SCRIPT, TEXT)
    written = os.stat(later / scripts.RUN_SCRIPT)
    assert written.st_ino == inode  # no new file
    assert (later / scripts.RUN_SCRIPT).read_text() == TEXT
    assert stat.S_IMODE(written.st_mode) == 0o666 & ~procstate.read_umask()
    assert sorted(os.listdir(later)) == [scripts.RUN_SCRIPT]


def test_the_script_goes_into_the_file_taken_last_after_stdout_and_stderr(tmp_path):
    out, ident = _done(tmp_path)
    for name in (scripts.RUN_OUT, scripts.RUN_ERR):
        (out / name).write_bytes(b"")
    inode = os.stat(out / "in.txt").st_ino
    spares = SpareFiles()
    offered = _emptied(out, ["in.txt"], spares.mode())
    spares.offer(out, ident, [*offered, scripts.RUN_OUT, scripts.RUN_ERR])
    stage = tmp_path / "stage"
    stage.mkdir()
    got = spares.take(stage, names=WITH_SCRIPT)
    assert sorted(got) == sorted(WITH_SCRIPT)
    scripts.write(stage / scripts.RUN_SCRIPT, TEXT)
    assert os.stat(stage / scripts.RUN_SCRIPT).st_ino == inode
    assert sorted(os.listdir(stage)) == sorted(
        [scripts.RUN_SCRIPT, scripts.RUN_OUT, scripts.RUN_ERR]
    )
    assert os.listdir(out) == []


@pytest.mark.parametrize("kind", ["hard link", "symlink", "fifo", "directory", "other user"])
def test_only_a_regular_file_of_one_name_owned_by_the_runner_is_emptied(tmp_path, kind):
    out, _ = _done(tmp_path)
    elsewhere = tmp_path / "store-object"
    elsewhere.write_text("an object of the store\n")
    (out / "in.txt").unlink()
    if kind == "hard link":  # a store-linked input: the store's object must stay whole
        os.link(elsewhere, out / "in.txt")
    elif kind == "symlink":
        (out / "in.txt").symlink_to(elsewhere)
    elif kind == "fifo":
        os.mkfifo(out / "in.txt")
    elif kind == "directory":
        (out / "in.txt").mkdir()
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        (out / "in.txt").write_text("given away\n")
        os.chown(out / "in.txt", 65534, 65534)
    assert _emptied(out, ["in.txt"]) == []
    assert elsewhere.read_text() == "an object of the store\n"
    if kind == "other user":
        assert (out / "in.txt").read_text() == "given away\n"


def test_a_spare_name_assay_did_not_fill_is_not_written_into(tmp_path):
    """A regular file a job put at the spare's name (it could keep it open, and read or
    change the script later): the script is a new file, the planted one untouched."""
    stage = tmp_path / "stage"
    stage.mkdir()
    planted = stage / scripts.SPARE_SCRIPT
    planted.write_text("planted\n")
    inode = os.stat(planted).st_ino
    scripts.write(stage / scripts.RUN_SCRIPT, TEXT)
    assert os.stat(stage / scripts.RUN_SCRIPT).st_ino != inode
    assert planted.read_text() == "planted\n"
    assert (stage / scripts.RUN_SCRIPT).read_text() == TEXT


def test_a_placed_spare_given_a_second_name_since_is_not_written_into(tmp_path):
    out, ident = _done(tmp_path)
    spares = SpareFiles()
    spares.offer(out, ident, _emptied(out, ["in.txt"], spares.mode()))
    stage = tmp_path / "stage"
    stage.mkdir()
    assert spares.take(stage, names=(scripts.SPARE_SCRIPT,)) == [scripts.SPARE_SCRIPT]
    os.link(stage / scripts.SPARE_SCRIPT, tmp_path / "peek")
    scripts.write(stage / scripts.RUN_SCRIPT, TEXT)
    assert (tmp_path / "peek").read_bytes() == b""
    assert (stage / scripts.RUN_SCRIPT).read_text() == TEXT
