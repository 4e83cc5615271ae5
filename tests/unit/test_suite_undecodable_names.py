"""A case whose file or directory name is not UTF-8 (bytes such as ``\\xff``, which Python
holds as lone surrogates) is a load error naming it, with the bytes escaped: before, the
suite failed to load with a bare "'utf-8' codec can't encode characters in position 7-8:
surrogates not allowed", naming neither the file nor the fix."""

from __future__ import annotations

import os
from pathlib import Path

from assay.session import Request, prepare


def _problems(home: Path, text: str) -> list[str]:
    (home / "s.suite.toml").write_text(text)
    return [str(p) for p in prepare(Request(paths=[str(home / "s.suite.toml")])).problems]


def test_a_pair_input_named_with_bytes_that_are_not_utf8_is_named_escaped(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    for suffix in (b".txt", b".out"):
        (tmp_path / "t" / os.fsdecode(b"\xff\xfe" + suffix)).write_text("x\n")
    (tmp_path / "t" / "fine.txt").write_text("x\n")
    text = '[suite]\nname = "s"\ncases = "t/*.txt"\nexpected = "{stem}.out"\ncommand = "true"\n'
    (problem,) = _problems(tmp_path, text)
    assert problem.endswith(
        f"s.suite.toml:3: suite.cases: input {tmp_path}/t/\\xff\\xfe.txt: its name is not UTF-8 "
        "text, which case names, commands and reports are; rename it"
    ), problem


def test_a_case_directory_named_with_bytes_that_are_not_utf8_is_named_escaped(
    tmp_path: Path,
) -> None:
    (tmp_path / "cases" / os.fsdecode(b"c\xe9")).mkdir(parents=True)
    (tmp_path / "cases" / "ok").mkdir()
    text = '[suite]\nname = "s"\ncases = "cases/*"\ncommand = "true"\n'
    (problem,) = _problems(tmp_path, text)
    assert f"suite.cases: case directory {tmp_path}/cases/c\\xe9: its name is not UTF-8" in problem
