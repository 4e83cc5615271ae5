"""A new case (a case directory without ``expected/`` yet), as a user adds one: ``assay run``
runs the other cases as before and fails the new one naming what is missing; ``assay
bless`` creates its expected outputs from the run's, never through a symbolic link; the
next run passes. Real processes, real files."""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import pytest

from assay import bless
from assay.bless_write import NotBlessed
from assay.results.report import schema
from tests.conftest import run_assay

SUITE = """\
[suite]
name = "copy"
command = "cp in.txt out.txt; echo 1,2 > r.csv; echo a,b > sub.csv"
cases = "cases/*"
expected = "{expected}"

[suite.compare]
files = {files}
"""


def _suite(root: Path, expected: str = "expected", files: str = '["out.txt"]') -> Path:
    (root / "cases" / "old" / expected).mkdir(parents=True)
    (root / "cases" / "old" / "in.txt").write_text("old\n")
    for name, text in (("out.txt", "old\n"), ("r.csv", "1,2\n"), ("sub.csv", "a,b\n")):
        (root / "cases" / "old" / expected / name).write_text(text)
    (root / "cases" / "new").mkdir()
    (root / "cases" / "new" / "in.txt").write_text("new\n")
    path = root / "copy.suite.toml"
    path.write_text(SUITE.format(expected=expected, files=files))
    return path


def test_a_new_case_fails_alone_then_bless_creates_its_expected_outputs(tmp_path: Path) -> None:
    _suite(tmp_path)
    result = run_assay("run", "copy.suite.toml", "--plain", cwd=tmp_path)
    assert result.code == 1, result
    assert result.report["problems"] == []
    assert result.case("copy[case=old]")["status"] == "passed"
    new = result.case("copy[case=new]")
    assert new["status"] == "failed" and new["failure"]["stage"] == "sanity"
    output = os.path.relpath(new["output_dir"], tmp_path)
    assert new["failure"]["reason"] == (
        "no expected outputs yet: cases/new/expected does not exist; check this run's output "
        f"{output}/out.txt and accept it with `assay bless --case {new['id']}`"
    )
    (verdict,) = new["comparisons"]
    assert verdict["ok"] is False
    jsonschema.validate(result.report, schema())
    assert (Path(new["output_dir"]) / "out.txt").read_text() == "new\n"  # kept
    assert "no expected outputs yet" in result.stdout

    blessed = run_assay("bless", "--yes", "--case", new["id"], cwd=tmp_path)
    assert blessed.code == 0, blessed
    assert f"{output}/out.txt -> cases/new/expected/out.txt" in blessed.stdout
    assert (tmp_path / "cases/new/expected/out.txt").read_text() == "new\n"
    assert sorted(os.listdir(tmp_path / "cases/new/expected")) == ["out.txt"]

    again = run_assay("run", "copy.suite.toml", "--plain", cwd=tmp_path)
    assert again.code == 0, again


def test_failed_reruns_and_bless_by_name_take_the_new_case(tmp_path: Path) -> None:
    _suite(tmp_path, expected="ref/expected", files='["*.csv"]')
    first = run_assay("run", "copy.suite.toml", "--plain", cwd=tmp_path)
    assert first.code == 1, first
    rerun = run_assay("run", "copy.suite.toml", "--failed", "--plain", cwd=tmp_path)
    assert [c["name"] for c in rerun.report["cases"]] == [first.case("copy[case=new]")["name"]]
    blessed = run_assay("bless", "--yes", "-n", "copy", cwd=tmp_path)
    assert blessed.code == 0, blessed
    # The outputs the glob selects (not out.txt), in the directories bless made.
    assert sorted(os.listdir(tmp_path / "cases/new/ref/expected")) == ["r.csv", "sub.csv"]
    again = run_assay("run", "copy.suite.toml", "--plain", cwd=tmp_path)
    assert again.code == 0, again


@pytest.mark.parametrize("link", ["ref", "ref/expected"])
def test_bless_refuses_a_link_on_the_way_to_the_new_expected_dir(tmp_path: Path, link: str) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    _suite(work, expected="ref/expected")
    assert run_assay("run", "copy.suite.toml", "--plain", cwd=work).code == 1
    (work / "cases/new" / link).parent.mkdir(parents=True, exist_ok=True)
    (work / "cases/new" / link).symlink_to(outside)
    blessed = run_assay("bless", "--yes", cwd=work)
    assert blessed.code == 1, blessed
    assert f"cases/new/{link} is a symbolic link; bless does not write through links" in (
        blessed.stdout
    )
    assert list(outside.iterdir()) == []


def test_a_link_swapped_in_after_the_plan_is_refused_when_writing(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    _suite(work)
    assert run_assay("run", "copy.suite.toml", "--plain", cwd=work).code == 1
    found = bless.plan(work / ".assay" / "latest" / "report.json")
    assert [c.target for c in found.copies] == [work / "cases/new/expected/out.txt"]
    (work / "cases/new/expected").symlink_to(outside)
    with pytest.raises(NotBlessed, match="is a symbolic link"):
        bless.apply(found.copies)
    assert list(outside.iterdir()) == []


def test_a_new_case_whose_run_failed_is_not_blessed(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    suite.write_text(suite.read_text().replace("sub.csv", "sub.csv; exit 3"))
    result = run_assay("run", "copy.suite.toml", "--plain", cwd=tmp_path)
    new = result.case("copy[case=new]")
    assert new["status"] == "failed" and new["failure"]["reason"].startswith("exit code 3")
    blessed = run_assay("bless", "--yes", cwd=tmp_path)
    assert blessed.code == 1, blessed
    assert "nothing to bless" in blessed.stdout
    assert not (tmp_path / "cases/new/expected").exists()
