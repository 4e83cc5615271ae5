"""A test's sources (or a suite case's files) staged into the stage dir before assay writes
its own files there (``assay-run.sh``, ``assay-run.out``, ``.assay-fetch.py``...): a source
entry of such a name, a symlink above all, must not make assay write its scripts, outputs or
download links through it, out of the stage dir. The names are assay's: such a source fails
its case at setup, naming the entry and the fix. Every link's target is in a sandbox deep
under this test's tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST = """
import assay


class X(assay.Test):
    sources = "src/"
    build = "true"
    command = "echo hi"

    def sanity(self, out):
        out.expect("hi")
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox" / "a" / "b"
    path.mkdir(parents=True)
    (path / "target.txt").write_text("orig\n")
    return path


@pytest.mark.parametrize("name", ["assay-run.sh", "assay-build.sh", "assay-run.out"])
def test_a_source_symlink_named_like_an_assay_file_is_refused(
    assay_cli, write, tmp_path, sandbox, name
):
    src = tmp_path / "src"
    src.mkdir()
    (src / "input.txt").write_text("data\n")
    os.symlink(sandbox / "target.txt", src / name)
    write("test_x.py", TEST)
    result = assay_cli("run", "test_x.py", "--plain")
    assert (sandbox / "target.txt").read_text() == "orig\n"
    assert sorted(p.name for p in sandbox.iterdir()) == ["target.txt"]
    assert result.code == 1, result.stdout + result.stderr
    shown = result.stdout
    assert "setup" in shown and f"sources: {name!r}" in shown, shown
    assert "names assay keeps for its own files" in shown and "rename it" in shown
    assert "Traceback" not in shown + result.stderr


def test_a_suite_case_file_named_like_an_assay_file_is_refused(assay_cli, write, tmp_path, sandbox):
    case = tmp_path / "cases" / "c1"
    (case / "expected").mkdir(parents=True)
    (case / "expected" / "out.txt").write_text("hi\n")
    os.symlink(sandbox / "target.txt", case / "assay-run.out")
    write(
        "s.suite.toml",
        '[suite]\ncases = "cases/*"\ncommand = "echo hi > out.txt"\n'
        '[suite.compare]\nfiles = ["out.txt"]\n',
    )
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert (sandbox / "target.txt").read_text() == "orig\n"
    assert result.code == 1 and "'assay-run.out'" in result.stdout, result.stdout


def test_other_names_and_nested_assay_names_are_staged(assay_cli, write, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "my-assay-run.sh").write_text("x\n")
    (src / "sub" / "assay-run.sh").write_text("x\n")  # not in the stage dir's top level
    write("test_x.py", TEST)
    result = assay_cli("run", "test_x.py", "--plain")
    assert result.code == 0, result.stdout + result.stderr


def test_sources_holding_the_session_prefix_are_refused(assay_cli, write, tmp_path):
    """sources = "." beside the test once copied .assay/ (every earlier session, and this
    one's own stage dirs) into each stage dir, growing with every run."""
    write("proj/test_x.py", TEST.replace('sources = "src/"', 'sources = "."'))
    project = tmp_path / "proj"
    result = assay_cli("run", "test_x.py", "--plain", cwd=project)
    assert result.code == 1, result.stdout
    reason = result.case("X")["failure"]["reason"]
    assert "sources: '.' holds this run's session directory" in reason, reason
    assert "--prefix" in reason
    moved = assay_cli("run", "test_x.py", "--plain", "--prefix", str(tmp_path / "p"), cwd=project)
    assert moved.code == 0, moved.stdout


@pytest.mark.parametrize("how", ["link", "parent", "missing"])
def test_sources_reaching_the_session_through_a_link_are_refused(assay_cli, write, tmp_path, how):
    """The check stats the source against the stage root's directories (found once): a
    link to the project directory, or to a directory above it, is that directory."""
    write("proj/test_x.py", TEST.replace('sources = "src/"', 'sources = "lnk"'))
    project = tmp_path / "proj"
    if how != "missing":
        (project / "lnk").symlink_to(project if how == "link" else tmp_path)
    result = assay_cli("run", "test_x.py", "--plain", cwd=project)
    assert result.code == 1, result.stdout
    if how == "missing":  # found when the file is loaded
        (problem,) = result.report["problems"]
        said = f"sources: 'lnk' not found (looked for {project / 'lnk'})"
        assert problem["message"].endswith(said), problem
    else:
        reason = result.case("X")["failure"]["reason"]
        assert "sources: 'lnk' holds this run's session directory" in reason, reason
