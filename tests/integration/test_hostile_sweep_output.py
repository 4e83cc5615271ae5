"""A sweep's rendered templates are written into each point's stage dir, and nowhere else:
an ``output`` name that leaves it (absolute, ``..``), that names nothing (``""``, ``"."``)
or that is one of assay's own files is a load problem naming the key; a name in a
subdirectory gets that subdirectory; a link staged from the sweep's ``inputs`` at the
output's name (or at its directory) is not written through. Every link's target is in a
sandbox deep under this test's tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _suite(tmp_path: Path, output: str, inputs: bool = False) -> Path:
    (tmp_path / "in.j2").write_text("v={{ a }}\n")
    extra = 'inputs = "inputs"\n' if inputs else ""
    (tmp_path / "s.suite.toml").write_text(
        '[suite]\ncommand = "cat conf/x.cfg 2>/dev/null || cat x.cfg"\n'
        f'[[suite.sweep]]\ntemplate = "in.j2"\noutput = "{output}"\n{extra}a = [1]\n'
    )
    return tmp_path


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox" / "a" / "b"
    path.mkdir(parents=True)
    (path / "target.txt").write_text("orig\n")
    return path


@pytest.mark.parametrize(
    "output", ["SANDBOX/abs.cfg", "../../../../sandbox/a/b/up.cfg", "", ".", "assay-run.sh"]
)
def test_an_output_name_outside_the_stage_dir_or_of_assays_own_is_a_load_problem(
    assay_cli, tmp_path, sandbox, output
):
    output = output.replace("SANDBOX", str(sandbox))
    _suite(tmp_path, output)
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert sorted(p.name for p in sandbox.iterdir()) == ["target.txt"]
    assert result.code == 1, result
    assert f"suite.sweep[0].output: {output!r} is not a file name inside the stage dir" in (
        result.stdout
    ), result.stdout
    assert "Error" not in result.stdout


def test_an_output_in_a_subdirectory_gets_that_subdirectory(assay_cli, tmp_path):
    _suite(tmp_path, "conf/x.cfg")
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert result.code == 0, result.stdout


@pytest.mark.parametrize("where", ["x.cfg", "conf"])
def test_a_staged_link_at_the_outputs_name_is_not_written_through(
    assay_cli, tmp_path, sandbox, where
):
    _suite(tmp_path, "conf/x.cfg" if where == "conf" else "x.cfg", inputs=True)
    (tmp_path / "inputs").mkdir()
    os.symlink(sandbox / "target.txt" if where == "x.cfg" else sandbox, tmp_path / "inputs" / where)
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert (sandbox / "target.txt").read_text() == "orig\n"
    assert sorted(p.name for p in sandbox.iterdir()) == ["target.txt"]
    assert "Traceback" not in result.stdout + result.stderr
