"""A config file read twice in one run (to connect to its SSH hosts early, then to plan) is
parsed once; any change of its text is read anew."""

from __future__ import annotations

from pathlib import Path

from assay.config import load_config

TEXT = """[systems.here]
hostnames = ["*"]

[systems.here.partitions.{name}]
"""


def test_the_same_text_gives_the_same_config_and_a_changed_one_a_new_config(
    tmp_path: Path,
) -> None:
    path = tmp_path / "assay.toml"
    path.write_text(TEXT.format(name="one"))
    first = load_config(str(path))
    assert load_config(str(path)) is first
    path.write_text(TEXT.format(name="two"))  # (same size, maybe the same mtime: the text counts)
    second = load_config(str(path))
    assert second is not first
    assert [p.name for p in second.partitions("here")] == ["two"]
    assert [p.name for p in first.partitions("here")] == ["one"]


def test_the_same_text_in_another_file_is_parsed_for_that_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "assay.toml").write_text(TEXT.format(name="p"))
    a = load_config(str(tmp_path / "a" / "assay.toml"))
    b = load_config(str(tmp_path / "b" / "assay.toml"))
    assert a.source != b.source and a is not b
