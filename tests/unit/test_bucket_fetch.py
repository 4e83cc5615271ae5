"""The in-job fetcher against a list it should not trust blindly (all inside tmp_path)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assay.run import bucket_fetch


def test_a_file_is_never_written_through_a_link_of_the_list(tmp_path: Path) -> None:
    """A link ``a`` to a folder outside and a file ``a/x``: each legal alone; the file must
    not land outside through the link (links are made last, files only in made dirs)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    manifest = {
        "name": "x@1",
        "where": "s3://b/p",
        "target": str(tmp_path / "fetched" / "tree"),
        "expires": time.time() + 60,
        "dirs": [],
        "links": [["a", str(outside)]],
        "files": [
            {"path": "a/x", "exec": False, "objects": [["blobs/0", 1, "0", "http://127.0.0.1:9/"]]}
        ],
    }
    with pytest.raises(OSError):
        bucket_fetch.fetch(manifest)
    assert list(outside.iterdir()) == []
    assert list((tmp_path / "fetched").iterdir()) == []  # nothing half-made


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "a/../../x", ""])
def test_a_path_outside_the_tree_is_refused(tmp_path: Path, bad: str) -> None:
    manifest = {
        "name": "x@1",
        "where": "s3://b/p",
        "target": str(tmp_path / "fetched" / "tree"),
        "expires": time.time() + 60,
        "dirs": [],
        "links": [],
        "files": [{"path": bad, "exec": False, "objects": []}],
    }
    with pytest.raises(bucket_fetch.FetchError, match="outside its tree"):
        bucket_fetch.fetch(manifest)
    assert not (tmp_path / "x").exists()
