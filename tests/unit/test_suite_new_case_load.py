"""A suite case without expected outputs yet (a new case) does not stop the suite from
loading: only suite-wide problems do (the case itself fails when it runs:
test_suite_new_case.py)."""

from __future__ import annotations

from pathlib import Path

from assay.define.suite import compile_suite
from tests.conftest import write_tiny_suite


def _cases(classes: list[type]) -> list[str]:
    (cls,) = classes
    return sorted(str(c) for c in vars(cls)["case"].values)


def test_a_case_without_expected_dir_does_not_stop_the_suite(tmp_path: Path) -> None:
    write_tiny_suite(tmp_path, ["c1", "c2"])
    (tmp_path / "cases" / "new").mkdir()
    (tmp_path / "cases" / "new" / "in.txt").write_text("new\n")
    classes, problems = compile_suite(tmp_path / "tiny.suite.toml")
    assert problems == []
    assert _cases(classes) == ["c1", "c2", "new"]


def test_a_case_lacking_a_named_file_does_not_stop_the_suite(tmp_path: Path) -> None:
    write_tiny_suite(tmp_path, ["c1", "c2"])
    (tmp_path / "cases" / "c2" / "expected" / "out.txt").unlink()
    classes, problems = compile_suite(tmp_path / "tiny.suite.toml")
    assert problems == []
    assert _cases(classes) == ["c1", "c2"]


def test_a_pair_without_its_expected_file_does_not_stop_the_suite(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    for stem in ("a", "b"):
        (tmp_path / "t" / f"{stem}.txt").write_text(f"{stem}\n")
    (tmp_path / "t" / "a.out").write_text("a\n")
    (tmp_path / "p.suite.toml").write_text(
        '[suite]\ncases = "t/*.txt"\nexpected = "{stem}.out"\ncommand = "cp {input} {output}"\n'
    )
    classes, problems = compile_suite(tmp_path / "p.suite.toml")
    assert problems == []
    assert _cases(classes) == ["a", "b"]


def test_suite_wide_problems_are_still_load_errors_without_any_expected_outputs(
    tmp_path: Path,
) -> None:
    """No case has expected outputs to check the spec against: what needs none is checked."""
    (tmp_path / "cases" / "new").mkdir(parents=True)
    (tmp_path / "s.suite.toml").write_text(
        '[suite]\ncases = "cases/*"\ncommand = "true"\n[suite.compare]\n'
        'files = ["/etc/passwd", "ok.txt"]\nignore = ["("]\n'
        'rules = [{match = "*.txt", fromat = "text"}]\n'
    )
    classes, problems = compile_suite(tmp_path / "s.suite.toml")
    said = [f"{p.key}: {p.message}" for p in problems]
    assert classes == []
    assert any("suite.compare: ignore[0]: bad regex '('" in p for p in said), said
    assert any("suite.compare: rules[0].fromat: unknown key" in p for p in said), said
    assert any(
        "suite.compare.files: '/etc/passwd' is not a path inside a case's expected outputs" in p
        for p in said
    ), said
    assert not any("expected" in p and "does not exist" in p for p in said), said
    assert len(said) == 3, said


def test_an_absolute_file_is_a_load_error_with_expected_outputs_too(tmp_path: Path) -> None:
    write_tiny_suite(tmp_path, ["c1"])
    text = (tmp_path / "tiny.suite.toml").read_text()
    (tmp_path / "tiny.suite.toml").write_text(text.replace('"out.txt"', '"../../x.txt"'))
    classes, problems = compile_suite(tmp_path / "tiny.suite.toml")
    assert classes == []
    (said,) = [f"{p.key}: {p.message}" for p in problems]
    assert "suite.compare.files: '../../x.txt' is not a path inside" in said


def test_pairs_refuse_files_without_any_expected_file_too(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_text("a\n")
    (tmp_path / "p.suite.toml").write_text(
        '[suite]\ncases = "t/*.txt"\nexpected = "{stem}.out"\ncommand = "cp {input} {output}"\n'
        '[suite.compare]\nfiles = ["a.out"]\n'
    )
    classes, problems = compile_suite(tmp_path / "p.suite.toml")
    assert classes == []
    assert [f"{p.key}: {p.message}" for p in problems] == [
        "suite.compare: files, complete: only for an expected directory; remove them"
    ]
