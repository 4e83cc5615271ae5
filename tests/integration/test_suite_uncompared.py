"""Expected outputs are compared even when the suite file has no [suite.compare]: a case
directory's expected/ and a sweep's `expected` were left uncompared, and every case passed
whatever it wrote (found by a new user's suite of Python-Markdown's cases, each
cases/NAME/in.txt beside cases/NAME/expected/out.html)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CliResult, write_tree


def _run(assay_cli, root: Path, files: dict[str, str]) -> CliResult:
    write_tree(root, files)
    return assay_cli("run", "s.suite.toml", "--plain")


def test_a_case_directory_with_expected_outputs_is_compared_without_a_compare_table(
    tmp_path, assay_cli
):
    result = _run(
        assay_cli,
        tmp_path,
        {
            "cases/good/in.txt": "hi\n",
            "cases/good/expected/out.txt": "hi\n",
            "cases/bad/in.txt": "hi\n",
            "cases/bad/expected/out.txt": "bye\n",
            "s.suite.toml": '[suite]\ncases = "cases/*"\ncommand = "cp in.txt out.txt"\n',
        },
    )
    assert result.code == 1, result
    assert result.case("s[case=good]")["status"] == "passed"
    bad = result.case("s[case=bad]")
    assert bad["status"] == "failed"
    assert bad["failure"]["reason"] == "out.txt line 1, token 1: expected 'bye', got 'hi'"


def test_cases_without_expected_outputs_still_check_the_exit_code_alone(tmp_path, assay_cli):
    result = _run(
        assay_cli,
        tmp_path,
        {
            "cases/a/in.txt": "hi\n",
            "s.suite.toml": '[suite]\ncases = "cases/*"\ncommand = "cp in.txt out.txt"\n',
        },
    )
    assert result.code == 0, result
    assert result.case("s[case=a]")["comparisons"] == []


def test_a_sweep_with_expected_outputs_is_compared_without_a_compare_table(tmp_path, assay_cli):
    result = _run(
        assay_cli,
        tmp_path,
        {
            "exp/1/out": "n 1\n",
            "exp/2/out": "n 99\n",
            "s.suite.toml": (
                '[suite]\ncommand = "true"\n[[suite.sweep]]\nn = [1, 2]\n'
                'command = "echo n {n} > out"\nexpected = "exp/{n}"\n'
            ),
        },
    )
    assert result.code == 1, result
    assert result.case("s-sweep[n=1]")["status"] == "passed"
    bad = result.case("s-sweep[n=2]")
    assert bad["failure"]["reason"].startswith("out line 1, token 2: expected 99, got 2 ")
