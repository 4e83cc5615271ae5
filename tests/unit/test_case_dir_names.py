"""A case directory refused for one of its entries is told what is wrong with that entry: a
file whose name is not UTF-8 is not called a symlink and given a symlink's fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.store import StoreError
from assay.store.copystage import plan_copy
from tests.conftest import write_tree


def _refusal(root: Path) -> str:
    with pytest.raises(StoreError) as caught:
        plan_copy(root, ())
    return str(caught.value)


def test_a_file_whose_name_is_not_utf8_is_named_as_a_file(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "case", {"in.txt": "1\n", "expected/out.txt": "1\n"})
    (root / "expected" / os.fsdecode(b"e\xfd.txt")).write_text("x")
    message = _refusal(root)
    assert message.endswith("has a name that is not valid UTF-8; rename it"), message
    assert "symlink" not in message and "link" not in message, message


def test_a_link_out_still_gets_the_links_fix(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "case", {"in.txt": "1\n"})
    (root / "data").symlink_to("../../elsewhere")
    message = _refusal(root)
    assert "symlink 'data' points outside" in message, message
    assert "a relative link must stay inside the directory" in message, message
