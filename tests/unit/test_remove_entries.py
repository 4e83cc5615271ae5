"""remove_entries: what a passed case's stage dir loses before it becomes the output dir
(its staged inputs): files, links and whole trees go; a link is removed, never followed."""

from __future__ import annotations

import os
from pathlib import Path

from assay.compare.beneath import open_dir
from assay.files import remove_entries


def _remove(stage: Path, names: set[str] | list[str]) -> None:
    fd = open_dir(str(stage))
    try:
        remove_entries(fd, names)
    finally:
        os.close(fd)


def test_files_links_and_trees_go_and_what_links_point_to_stays(tmp_path: Path) -> None:
    outside = tmp_path / "outside"  # what links point to: must survive
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "keep.txt").write_text("keep")
    (outside / "file.txt").write_text("keep")
    stage = tmp_path / "sandbox" / "stage"
    (stage / "tree" / "sub").mkdir(parents=True)
    (stage / "tree" / "sub" / "x").write_text("x")
    (stage / "tree" / "link").symlink_to(outside)
    (stage / "in.txt").write_text("1")
    (stage / "ro.txt").write_text("1")
    (stage / "ro.txt").chmod(0o444)
    (stage / "dirlink").symlink_to(outside / "deep")
    (stage / "filelink").symlink_to(outside / "file.txt")
    (stage / "dangling").symlink_to(tmp_path / "nothing")
    (stage / "out.txt").write_text("kept")
    gone = {"tree", "in.txt", "ro.txt", "dirlink", "filelink", "dangling", "not-there"}
    _remove(stage, gone)
    assert sorted(os.listdir(stage)) == ["out.txt"]
    assert (outside / "deep" / "keep.txt").read_text() == "keep"
    assert (outside / "file.txt").read_text() == "keep"


def test_a_name_that_is_gone_already_is_no_error(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    _remove(stage, ["never-made"])
    assert os.listdir(stage) == []


def test_a_stage_dir_swapped_for_a_link_after_it_was_opened_loses_nothing_elsewhere(
    tmp_path: Path,
) -> None:
    """The chain cleanup met: the stage dir opened, then (a process the job left) moved
    away and a link to another directory put at its name. Removing by the name removed
    that directory's files; the descriptor keeps to the stage dir itself."""
    outside = tmp_path / "outside"
    (outside / "tree").mkdir(parents=True)
    (outside / "in.txt").write_text("keep")
    (outside / "tree" / "x").write_text("keep")
    stage = tmp_path / "stage"
    (stage / "tree").mkdir(parents=True)
    (stage / "in.txt").write_text("1")
    (stage / "tree" / "x").write_text("1")
    fd = open_dir(str(stage))
    try:
        stage.rename(tmp_path / "moved")
        stage.symlink_to(outside)
        remove_entries(fd, ["in.txt", "tree"])
    finally:
        os.close(fd)
    assert (outside / "in.txt").read_text() == "keep"
    assert (outside / "tree" / "x").read_text() == "keep"
    assert os.listdir(tmp_path / "moved") == []  # (the stage dir itself lost them)
