"""``expected = false`` run for real: input files without expected outputs, each a case
whose exit code decides (toml-test's invalid cases: the parser must refuse every file)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_assay

SUITE = """\
[suite]
name = "refuse"
cases = "invalid/**/*.toml"
expected = false                  # no expected outputs: the exit code decides
exit_codes = [1]
skip_exit_codes = [77]
command = "$ASSAY_BUILD/parse.sh {input}"
build = "bin"
"""

# A stand-in parser: refuses (exit 1) a file holding ",,", accepts the others, and says
# 77 for a file it cannot judge.
PARSER = """\
#!/bin/sh
case "$(cat "$1")" in
  *,,*) echo "refused: double comma" >&2; exit 1 ;;
  *skip*) echo "no datetime support" >&2; exit 77 ;;
  *) echo "accepted $1"; exit 0 ;;
esac
"""


def _suite(tmp_path: Path) -> Path:
    files = {
        "invalid/array/double-comma.toml": "a = [1,,2]\n",
        "invalid/table/comma.toml": "[t]\nx = {a=1,,}\n",
        "invalid/key/no-eq.toml": "key value\n",  # the stand-in accepts it: a failure
        "invalid/datetime/offset.toml": "skip\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "parse.sh").write_text(PARSER)
    (tmp_path / "bin" / "parse.sh").chmod(0o755)
    (tmp_path / "refuse.suite.toml").write_text(SUITE)
    return tmp_path


def test_each_input_is_judged_by_its_exit_code_alone(tmp_path):
    home = _suite(tmp_path)
    result = run_assay("run", "refuse.suite.toml", "--plain", cwd=home)
    assert result.code == 1, result
    status = {c["params"]["case"]: c["status"] for c in result.report["cases"]}
    assert status == {
        "double-comma": "passed",
        "comma": "passed",
        "no-eq": "failed",
        "offset": "skipped",
    }
    failed = result.case("refuse[case=no-eq]")
    assert failed["failure"]["reason"] == "exit code 0 (expected exit code 1)"
    assert all(c["comparisons"] == [] for c in result.report["cases"])
    assert "rerun:     assay run refuse.suite.toml --case" in result.stdout
