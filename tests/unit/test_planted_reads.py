"""Units of the reads that never follow a job's link: keep_files' copy where a hard link
cannot be made, and a local Slurm status file."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path, PurePosixPath

import pytest

from assay import files
from assay.schedulers.base import read_status
from assay.transports.local import LocalTransport


def _outside(tmp_path: Path, text: str) -> Path:
    (tmp_path / "outside").mkdir()
    target = tmp_path / "outside" / "target"
    target.write_text(text)
    return target


def test_link_or_copy_copies_a_link_as_the_link_across_file_systems(tmp_path, monkeypatch):
    target = _outside(tmp_path, "secret\n")
    src, dst = tmp_path / "leak.txt", tmp_path / "out" / "leak.txt"
    src.symlink_to(target)
    dst.parent.mkdir()

    def fake_link_across_disks(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(files.os, "link", fake_link_across_disks)
    files.link_or_copy(src, dst)
    assert dst.is_symlink() and os.readlink(dst) == str(target)


def test_link_or_copy_replaces_a_dangling_link_at_its_target(tmp_path):
    src, dst = tmp_path / "a.txt", tmp_path / "b.txt"
    src.write_text("mine\n")
    dst.symlink_to(tmp_path / "nowhere")
    files.link_or_copy(src, dst)
    assert not dst.is_symlink() and dst.read_text() == "mine\n"


def _status(job: str) -> str:
    return json.dumps({"job": job, "exit": 0})


def test_a_local_status_file_is_read(tmp_path):
    path = tmp_path / "assay-run.out.status"
    path.write_text(_status("7"))
    got = asyncio.run(read_status(LocalTransport(), PurePosixPath(path), "7"))
    assert got == {"job": "7", "exit": 0}


@pytest.mark.parametrize("plant", ["symlink", "fifo"])
def test_a_local_status_file_is_never_read_through_what_a_job_planted(tmp_path, plant):
    path = tmp_path / "assay-run.out.status"
    if plant == "symlink":
        path.symlink_to(_outside(tmp_path, _status("7")))
    else:
        os.mkfifo(path)  # (opened at once and refused: never waited on)
    assert asyncio.run(read_status(LocalTransport(), PurePosixPath(path), "7")) is None
