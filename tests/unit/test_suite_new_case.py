"""The verdict of a suite case without expected outputs yet (a new case): it fails at the
compare stage naming what is missing, where its outputs are and how to accept them."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.define.output import Output
from assay.define.suite_new import compare_case
from assay.define.suite_test import CaseDir, CaseFile
from assay.define.test import CaseInfo
from assay.errors import SanityError


def _run(tmp_path: Path, outputs: dict[str, str]) -> tuple[Output, CaseInfo]:
    stage, kept = tmp_path / "stage", tmp_path / "output"
    stage.mkdir(parents=True)
    for name, text in outputs.items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text(text)
    out = Output(stage, stage / "assay-run.out", stage / "assay-run.err", 0)
    out.not_outputs = ["in.txt", "assay-run.out", "assay-run.err", "assay-run.sh"]
    info = CaseInfo("s[case=b]", "0123abcd", "s[case=b]", "local", "default", "x", stage, kept)
    return out, info


def test_a_case_without_expected_dir_fails_naming_it_and_the_fix(tmp_path: Path) -> None:
    case = CaseDir("b", tmp_path / "cases" / "b")
    case.path.mkdir(parents=True)
    out, info = _run(tmp_path, {"in.txt": "x\n", "out.txt": "x\n", "assay-run.sh": "cp\n"})
    with pytest.raises(SanityError) as exc:
        compare_case(out, case, info, case.path / "expected", {"files": ["out.txt"]})
    reason = str(exc.value)
    assert reason.startswith(f"no expected outputs yet: {case.path / 'expected'} does not exist; ")
    assert f"check this run's output {tmp_path / 'output' / 'out.txt'} and" in reason
    assert reason.endswith("accept it with `assay bless --case 0123abcd`")
    assert "out.txt: no expected file yet" in str(exc.value.details)
    (verdict,) = out.comparisons
    assert verdict["ok"] is False and verdict["errors"] == []
    assert [(f["file"], f["ok"]) for f in verdict["files"]] == [("out.txt", False)]
    assert verdict["no_expected"] == {
        "base": str(case.path),
        "files": {"out.txt": "expected/out.txt"},
    }


def test_globs_without_expected_dir_take_the_matching_outputs_not_the_inputs(
    tmp_path: Path,
) -> None:
    case = CaseDir("b", tmp_path / "cases" / "b")
    case.path.mkdir(parents=True)
    made = {"in.txt": "x", "r.csv": "1", "sub/s.csv": "2", "log.txt": "l"}
    out, info = _run(tmp_path, made)
    with pytest.raises(SanityError) as exc:
        compare_case(out, case, info, case.path / "expected", {"files": ["*.csv", "sub/*"]})
    assert (
        f"check this run's outputs in {tmp_path / 'output'} (r.csv, sub/s.csv) and accept them"
        in (str(exc.value))
    )
    (verdict,) = out.comparisons
    assert verdict["no_expected"]["files"] == {
        "r.csv": "expected/r.csv",
        "sub/s.csv": "expected/sub/s.csv",
    }
    # Without files: every output, never an input nor assay's own files.
    out2, _ = _run(tmp_path / "2", made)
    with pytest.raises(SanityError):
        compare_case(out2, case, info, case.path / "expected", {})
    assert sorted(out2.comparisons[0]["no_expected"]["files"]) == ["log.txt", "r.csv", "sub/s.csv"]


def test_a_missing_named_file_fails_beside_the_ones_compared(tmp_path: Path) -> None:
    case = CaseDir("b", tmp_path / "cases" / "b")
    (case.path / "expected").mkdir(parents=True)
    (case.path / "expected" / "out.txt").write_text("1\n")
    out, info = _run(tmp_path, {"out.txt": "2\n", "log.txt": "l\n"})
    with pytest.raises(SanityError) as exc:
        compare_case(out, case, info, case.path / "expected", {"files": ["out.txt", "log.txt"]})
    reason = str(exc.value)
    assert reason.startswith(f"no expected outputs yet: {case.path / 'expected/log.txt'} does ")
    assert "; and out.txt line 1" in reason  # the difference of the file it has
    (verdict,) = out.comparisons
    assert {f["file"]: f["ok"] for f in verdict["files"]} == {"out.txt": False, "log.txt": False}
    assert verdict["no_expected"]["files"] == {"log.txt": "expected/log.txt"}


def test_a_pair_without_its_expected_file_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    case = CaseFile("b", tmp_path / "t" / "b.txt", tmp_path / "t" / "b.out")
    out, info = _run(tmp_path, {"b.out": "B\n"})
    with pytest.raises(SanityError, match=r"^no expected outputs yet: .*/t/b\.out does not exist"):
        compare_case(out, case, info, case.expected, {})
    assert out.comparisons[0]["no_expected"] == {
        "base": str(tmp_path / "t"),
        "files": {"b.out": "b.out"},
    }


def test_other_comparison_problems_are_said_as_before(tmp_path: Path) -> None:
    case = CaseDir("b", tmp_path / "cases" / "b")
    (case.path / "expected").mkdir(parents=True)
    (case.path / "expected" / "out.txt").write_text("1\n")
    out, info = _run(tmp_path, {"out.txt": "1\n"})
    with pytest.raises(SanityError, match=r"^comparison: files: '\*\.csv' matches nothing"):
        compare_case(out, case, info, case.path / "expected", {"files": ["*.csv"]})
    assert "no_expected" not in out.comparisons[0]


def test_an_empty_expected_dir_is_a_new_case_too(tmp_path: Path) -> None:
    case = CaseDir("b", tmp_path / "cases" / "b")
    (case.path / "expected").mkdir(parents=True)
    out, info = _run(tmp_path, {"out.txt": "1\n"})
    with pytest.raises(SanityError, match=r"^no expected outputs yet: .*/expected holds no files;"):
        compare_case(out, case, info, case.path / "expected", {})
    assert out.comparisons[0]["no_expected"]["files"] == {"out.txt": "expected/out.txt"}
