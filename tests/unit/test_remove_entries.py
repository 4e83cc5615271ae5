"""remove_entries: what a passed case's stage dir loses before it becomes the output dir
(its staged inputs): files, links and whole trees go; a link is removed, never followed."""

from __future__ import annotations

import os
from pathlib import Path

from assay.files import remove_entries


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
    remove_entries(stage, gone)
    assert sorted(os.listdir(stage)) == ["out.txt"]
    assert (outside / "deep" / "keep.txt").read_text() == "keep"
    assert (outside / "file.txt").read_text() == "keep"


def test_a_name_that_is_gone_already_is_no_error(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    remove_entries(stage, ["never-made"])
    assert os.listdir(stage) == []
