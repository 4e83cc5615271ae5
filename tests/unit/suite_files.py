"""What the new-user suite tests share: a suite file that must fail to load, and its
problems."""

from __future__ import annotations

from pathlib import Path

from assay.define.suite import compile_suite
from assay.load import LoadProblem


def make_home(tmp_path: Path) -> Path:
    """A directory with one case (``cases/a``, its expected ``out``) for a suite file."""
    (tmp_path / "cases" / "a" / "expected").mkdir(parents=True)
    (tmp_path / "cases" / "a" / "expected" / "out").write_text("hi\n")
    return tmp_path


def load_problems(home: Path, text: str) -> list[LoadProblem]:
    """The problems of ``text`` as ``home/m.suite.toml``, which must make no test."""
    path = home / "m.suite.toml"
    path.write_text(text)
    classes, problems = compile_suite(path)
    assert not classes
    return problems
