"""case_state.child: a case's paths built without parsing, the same as ``/`` builds them."""

from __future__ import annotations

import os
from pathlib import Path, PurePath, PurePosixPath

import pytest

from assay.run.case_state import child


@pytest.mark.parametrize("name", ["Trivial-0a1b2c3d", "assay-run.out", "x_y.z-r2", ".assay-list"])
@pytest.mark.parametrize(
    "base",
    [
        Path("/tmp/s/stage"),
        Path("rel/stage"),
        PurePosixPath("/j"),
        Path("/"),
        Path("//"),
        Path("//net/x"),
        Path("."),
        Path(""),
        Path("a/../b/./c/"),
    ],
)
def test_a_child_is_the_path_slash_gives(base: PurePath, name: str) -> None:
    made = child(base, name)
    assert made == base / name
    # (its text is set as it is made, not at its first str(): the same text)
    assert str(made) == str(base / name)
    assert os.fspath(made) == os.fspath(base / name)
    assert hash(made) == hash(base / name) and made == made.parent / name
    assert sorted([base / "~", made, base / "!"]) == sorted([base / "~", base / name, base / "!"])
    assert type(made) is type(base)
    assert made.parent == base and made.name == name


def test_a_path_class_without_the_shortcut_gets_slash() -> None:
    class Plain(PurePosixPath):
        _make_child_relpath = None  # (a Python whose pathlib lacks it)

    made = child(Plain("/a"), "b")
    assert made == PurePosixPath("/a/b")
