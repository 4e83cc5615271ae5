"""Suite files end to end: the shipped example, real regressions caught with precise
messages, malformed suites reported without stopping the others, bless, partitions per tag."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_assay

EXAMPLE = ROOT / "examples" / "byo-solver"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of the example, to break."""
    copy = tmp_path / "byo"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".assay"))
    return copy


def test_the_example_passes_with_its_sweep_and_scaling_table(example):
    result = run_assay("run", str(example), "--plain", cwd=example, timeout=300)
    assert result.code == 0, result
    names = [c["name"] for c in result.report["cases"]]
    assert sum(n.startswith("solver[case=") for n in names) == 21
    assert sum(n.startswith("solver-mesh[") for n in names) == 5  # 3 x 2 minus one excluded
    (table,) = result.report["scaling"]
    assert table["test"] == "solver-scaling" and table["parameter"] == "cpus_per_task"
    assert [row["size"] for row in table["rows"]] == [1, 2]
    assert table["rows"][0]["speedup"] == 1.0 and table["rows"][1]["speedup"] > 0
    assert "scaling of solver-scaling[case=scaling-cg]" in result.stdout
    # The build was unpacked once for all 28 suite cases: one checkout in the store.
    assert len(list((example / ".store" / "checkouts").iterdir())) == 1
    case = result.case("solver[case=cg-n50-a1]")
    assert {m["name"] for m in case["metrics"]} == {"iterations", "solve_time"}
    assert case["comparisons"][0]["ok"] is True
    assert set(case["tags"]) == {"byo", "short"}
    assert set(result.case("solver[case=cg-n1000-a1]")["tags"]) == {"byo", "long"}


def _rebuild(example: Path, old: str, new: str) -> None:
    source = example / "build-solver/src/solver.c"
    text = source.read_text()
    assert old in text
    source.write_text(text.replace(old, new))


def test_a_numeric_regression_is_caught_with_file_line_column_and_errors(example):
    # A 1% change of the reaction term: far above the 1e-6 tolerance.
    _rebuild(example, "b = 2.0 / h2 + in->alpha;", "b = 2.0 / h2 + in->alpha * 1.01;")
    result = run_assay(
        "run", str(example), "-n", "BuildSolver|cg-n50-a10|thomas-n10-a0", "--plain", cwd=example
    )
    assert result.code == 1, result
    bad = result.case("solver[case=cg-n50-a10]")
    assert bad["failure"]["stage"] == "sanity"
    reason = bad["failure"]["reason"]
    # Where the first difference is, then how many and the largest error.
    assert re.match(
        r"result\.csv line (\d+), column 'u': expected [0-9.e+-]+, got [0-9.e+-]+ \(abs error "
        r"[0-9.e+-]+ > atol 1e-12, rel error [0-9.e+-]+ > rtol 1e-06\); 50 values differ in "
        r"50 rows, max rel error [0-9.e+-]+ at line \d+, column 'u'$",
        reason,
    ), reason
    details = bad["failure"]["details"]
    assert re.search(
        r"line \d+, column 'u': expected [0-9.e+-]+, got [0-9.e+-]+ \(abs error [0-9.e+-]+ > "
        r"atol 1e-12, rel error [0-9.e+-]+ > rtol 1e-06\)",
        details,
    )
    (verdict,) = bad["comparisons"]
    (csv_entry,) = [f for f in verdict["files"] if f["file"] == "result.csv"]
    assert csv_entry["differing_values"] == 50 and 1e-4 < csv_entry["max_rel_error"] < 0.1
    # alpha = 0 cases do not see the change: they still pass.
    assert result.case("solver[case=thomas-n10-a0]")["status"] == "passed"


def _with_command_tail(example: Path, tail: str) -> None:
    suite = example / "solver.suite.toml"
    line = 'command = "$ASSAY_BUILD/bin/solver --input input.json --out result.csv"\nenv'
    text = suite.read_text()
    assert line in text
    suite.write_text(text.replace(line, line.replace('csv"', f'csv && {tail}"'), 1))


def test_a_missing_file_is_caught(example):
    _with_command_tail(example, "rm result.csv")
    result = run_assay(
        "run", str(example), "-n", "BuildSolver|thomas-n10-a1", "--plain", cwd=example
    )
    case = result.case("solver[case=thomas-n10-a1]")
    assert case["failure"]["reason"] == "result.csv: missing"
    assert "result.csv: missing from the actual outputs" in case["failure"]["details"]


def test_an_extra_line_is_caught(example):
    _with_command_tail(example, "echo warning: mesh too coarse >> log.txt")
    result = run_assay(
        "run", str(example), "-n", "BuildSolver|thomas-n10-a1", "--plain", cwd=example
    )
    case = result.case("solver[case=thomas-n10-a1]")
    assert case["status"] == "failed"
    assert case["failure"]["reason"].startswith("log.txt line ")
    assert case["failure"]["reason"].endswith(": extra line in actual: 'warning: mesh too coarse'")
    assert "warning: mesh too coarse" in case["failure"]["details"]


def test_bless_accepts_an_intended_change(example):
    _rebuild(example, "b = 2.0 / h2 + in->alpha;", "b = 2.0 / h2 + in->alpha * 1.01;")
    selection = ["-n", "BuildSolver|cg-n50-a10"]
    first = run_assay("run", str(example), *selection, "--plain", cwd=example)
    assert first.code == 1
    refused = run_assay("bless", cwd=example)
    assert refused.code == 2 and "pass --yes" in refused.stderr
    expected = example / "cases/cg-n50-a10/expected/result.csv"
    before = expected.read_text()
    blessed = run_assay("bless", "--yes", cwd=example)
    assert blessed.code == 0, blessed
    assert "cases/cg-n50-a10/expected/result.csv" in blessed.stdout
    assert expected.read_text() != before
    again = run_assay("run", str(example), *selection, "--plain", cwd=example)
    assert again.code == 0, again


BAD_SUITES = {
    "wrong key": (
        '[suite]\ncommand = "true"\ncases = "cases/*"\ncomand = "x"\n',
        "suite: unknown key 'comand' (did you mean 'command'?)",
    ),
    "missing build": (
        '[suite]\ncommand = "true"\ncases = "cases/*"\nbuild = "nowhere/build.tar.gz"\n',
        "suite.build: ",
    ),
    "compare names a file outside the cases": (
        '[suite]\ncommand = "true"\ncases = "cases/*"\n[suite.compare]\nfiles = ["/etc/x"]\n',
        "suite.compare.files: '/etc/x' is not a path inside a case's expected outputs",
    ),
    "template error": (
        '[suite]\ncommand = "true"\n[[suite.sweep]]\ntemplate = "broken.j2"\nn = [1]\n',
        "suite.sweep[0].template: broken.j2:2: template error:",
    ),
    "bad regex in compare": (
        '[suite]\ncommand = "true"\ncases = "cases/*"\n[suite.compare]\nignore = ["("]\n',
        "suite.compare: ignore[0]: bad regex '(': missing ), unterminated subpattern",
    ),
    "typo in a compare rule": (
        '[suite]\ncommand = "true"\ncases = "cases/*"\n[suite.compare]\n'
        'rules = [{match = "*.txt", fromat = "text"}]\n',
        "suite.compare: rules[0].fromat: unknown key",
    ),
    "template uses an unknown name": (
        '[suite]\ncommand = "true"\n[[suite.sweep]]\ntemplate = "unknown.j2"\nn = [1]\n',
        "unknown.j2 uses mesh, which the sweep does not define",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SUITES))
def test_a_malformed_suite_is_reported_and_the_others_still_run(tmp_path, case):
    text, message = BAD_SUITES[case]
    (tmp_path / "cases/c1/expected").mkdir(parents=True)
    (tmp_path / "cases/c1/expected/out.txt").write_text("1\n")
    (tmp_path / "broken.j2").write_text("n = {{ n }}\n{% if %}\n")
    (tmp_path / "unknown.j2").write_text("n = {{ n }}, mesh = {{ mesh }}\n")
    (tmp_path / "bad.suite.toml").write_text(text)
    (tmp_path / "good.suite.toml").write_text(
        '[suite]\ncommand = "cp ../../../../cases/c1/expected/out.txt . 2>/dev/null; '
        'echo 1 > out.txt"\ncases = "cases/*"\n[suite.compare]\nfiles = ["out.txt"]\n'
    )
    result = run_assay("run", ".", "--plain", cwd=tmp_path)
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    (problem,) = result.report["problems"]
    assert problem["location"].startswith("bad.suite.toml")
    assert message in problem["message"], problem
    assert result.case("good[case=c1]")["status"] == "passed"


def test_problem_lines_point_at_the_key(tmp_path):
    (tmp_path / "cases/c1/expected").mkdir(parents=True)
    (tmp_path / "x.suite.toml").write_text(
        '[suite]\ncommand = "true"\ncases = "cases/*"\n\n[suite.compare]\n'
        'rtol = 1e-6\nfiles = ["../missing.csv"]\n'
    )
    result = run_assay("list", ".", cwd=tmp_path)
    assert result.code == 1
    assert "x.suite.toml:7: suite.compare.files: '../missing.csv' is not a path" in result.stderr


def test_a_python_test_can_use_the_comparison_engine(tmp_path, write):
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref/out.txt").write_text("energy = 1.000000\n")
    write(
        "test_py_compare.py",
        """
        import assay

        class Energy(assay.Test):
            value = assay.parameter(["1.0000001", "1.01"])
            command = "echo 'energy = {value}' > out.txt"

            def sanity(self, out):
                verdict = out.compare("ref", files=["out.txt"], rtol=1e-6)
                assert verdict["ok"]
        """,
    )
    result = run_assay("run", "test_py_compare.py", "--plain", cwd=tmp_path)
    assert result.case("Energy[value=1.0000001]")["status"] == "passed"
    bad = result.case("Energy[value=1.01]")
    assert bad["failure"]["reason"] == (
        "out.txt line 1, token 3: expected 1.000000, got 1.01 (abs error 0.01 > atol 0, rel "
        "error 0.01 > rtol 1e-06)"
    )


def test_tag_partitions_place_cases_on_their_partitions(tmp_path):
    (tmp_path / "assay.toml").write_text(
        "[systems.here]\n[systems.here.partitions.quick]\n[systems.here.partitions.batch]\n"
    )
    for name in ("small-1", "big-1"):
        (tmp_path / "cases" / name).mkdir(parents=True)
    (tmp_path / "s.suite.toml").write_text(
        '[suite]\ncommand = "true"\ncases = "cases/*"\ntags = ["mine"]\n'
        '[suite.tag_partitions]\nshort = ["here:quick"]\nlong = ["here:batch"]\n'
        '[[suite.groups]]\ncases = ["big-*"]\ntags = ["long"]\n'
        '[[suite.groups]]\ncases = ["*"]\ntags = ["short"]\n'
    )
    listing = json.loads(run_assay("list", ".", "--json", cwd=tmp_path).stdout)
    placed = {c["variant"]: c["partition"] for c in listing["cases"]}
    assert placed == {"s[case=small-1]": "quick", "s[case=big-1]": "batch"}
    long_only = json.loads(run_assay("list", ".", "--json", "-t", "long", cwd=tmp_path).stdout)
    assert [c["variant"] for c in long_only["cases"]] == ["s[case=big-1]"]


def test_overlays_are_unpacked_on_top_of_the_build(tmp_path):
    def pack(name: str, files: dict[str, str]) -> None:
        tree = tmp_path / f"tree-{name}"
        for rel, text in files.items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_text(text)
        with tarfile.open(tmp_path / name, "w:gz") as tar:
            tar.add(tree, arcname=".")

    pack("base.tar.gz", {"share/version": "1.4\n", "share/data": "d\n"})
    pack("delta.tar.gz", {"share/version": "1.4.1\n"})
    (tmp_path / "cases/c/expected").mkdir(parents=True)
    (tmp_path / "cases/c/expected/out.txt").write_text("1.4.1\nd\n")
    (tmp_path / "s.suite.toml").write_text(
        '[suite]\nbuild = "base.tar.gz"\noverlays = ["delta.tar.gz"]\ncases = "cases/*"\n'
        'command = "cat $ASSAY_BUILD/share/version $ASSAY_BUILD/share/data > out.txt"\n'
        '[suite.compare]\nfiles = ["out.txt"]\n'
    )
    result = run_assay("run", ".", "--plain", cwd=tmp_path)
    assert result.code == 0, result
