"""A file the comparison looked at, swapped for a FIFO before it is read (by a process a
case left behind, or by another case running meanwhile): every reader refuses it at once,
never waiting for a writer (which would hang the whole run)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from assay.compare import binary, engine, jsondoc, tables, text
from assay.compare.options import Options
from assay.compare.result import Result
from tests.unit.fifo_guard import without_waiting


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "expected.txt").write_text("[1, 2]\n")  # JSON, CSV and text alike
    os.mkfifo(tmp_path / "actual.txt")
    return str(tmp_path / "expected.txt"), str(tmp_path / "actual.txt")


@pytest.mark.parametrize(
    "reader",
    [
        lambda e, a: text.compare_text(e, a, Result("f", "text", 10), Options()),
        lambda e, a: binary.compare_binary(e, a, Result("f", "binary", 10), Options()),
        lambda e, a: tables.compare_csv(e, a, Result("f", "csv", 10), Options()),
        lambda e, a: jsondoc.compare_json(e, a, Result("f", "json", 10), Options()),
        lambda e, a: binary.sniff(a),
    ],
    ids=["text", "binary", "csv", "json", "sniff"],
)
def test_every_reader_refuses_a_fifo_at_once(files: tuple[str, str], reader: Any) -> None:
    expected, actual = files
    raised = without_waiting(Path(actual), lambda: reader(expected, actual))
    assert isinstance(raised, ValueError)
    assert str(raised) == f"{actual} is a FIFO, not a regular file"


def test_the_whole_read_of_a_small_file_returns_at_once_from_a_fifo(files: tuple[str, str]) -> None:
    # (Nothing to read: the sizes differ from the look's, and the long way refuses it.)
    read: list[bytes] = []
    _, actual = files
    assert without_waiting(Path(actual), lambda: read.append(engine._read(actual, 100))) is None
    assert read == [b""]


def test_an_output_swapped_for_a_fifo_after_the_look_is_not_what_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain in the engine: out.txt is a file when looked at, a FIFO at its name when
    read (a fake look injects the swap there: a real race cannot be made to land on
    demand). The engine reads the file it opened and looked at, never its name again:
    the swap changes nothing (it once failed the comparison; before that, it hung)."""
    (tmp_path / "expected").mkdir()
    (tmp_path / "actual").mkdir()
    (tmp_path / "expected/out.txt").write_text("value 1\n")
    out = tmp_path / "actual/out.txt"
    out.write_text("value 1\n")
    real_look = engine.not_a_file

    def look_then_swap_for_a_fifo(path: str, info: Any = None) -> str | None:
        kind = real_look(path, info)
        if path == str(out):
            out.unlink()
            os.mkfifo(out)
        return kind

    monkeypatch.setattr(engine, "not_a_file", look_then_swap_for_a_fifo)
    verdict: dict[str, Any] = {}
    spec = {
        "version": 1,
        "expected": str(tmp_path / "expected"),
        "actual": str(tmp_path / "actual"),
    }
    raised = without_waiting(out, lambda: verdict.update(engine.compare(spec)))
    assert raised is None
    assert os.path.exists(out) and not out.is_file()  # (the swap was made)
    assert verdict["ok"], verdict
    assert [e["file"] for e in verdict["files"]] == ["out.txt"]
