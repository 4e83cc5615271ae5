"""Suite file keys a real reference suite needs: exit codes that may be anything or any
failure, groups that override per-case keys, a comparison command that sees only outputs,
the first difference shown when the exit code already failed a case, sweeps of explicit
points and several templates. Real runs of real suites (``assay run``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, write_tree

Cli = Callable[..., CliResult]

# A parser under test that reads in.txt: it exits 1 when the input says "bad", else writes
# what it read to out.event (cut short when the input says "short").
PARSER = """#!/bin/sh
if grep -q bad in.txt; then echo "parse error" >&2; head -n 1 in.txt > out.event; exit 1; fi
if grep -q short in.txt; then head -n 2 in.txt > out.event; exit 0; fi
cat in.txt > out.event
"""


def _cases(root: Path, cases: dict[str, tuple[str, str]]) -> None:
    """Case directories: name -> (input, expected output)."""
    for name, (given, expected) in cases.items():
        write_tree(root / "cases" / name, {"in.txt": given, "expected/out.event": expected})


@pytest.fixture
def suite(tmp_path: Path) -> Callable[[str], Path]:
    write_tree(tmp_path, {"parse.sh": PARSER}, exe=("parse.sh",))

    def make(body: str) -> Path:
        path = tmp_path / "yaml.suite.toml"
        path.write_text(body)
        return path

    return make


SUITE = """\
[suite]
name = "yaml"
cases = "cases/*"
command = "{root}/parse.sh"
{extra}
[suite.compare]
files = ["out.event"]
{compare}
"""


def _suite(suite: Callable[[str], Path], tmp: Path, extra: str = "", compare: str = "") -> Path:
    return suite(SUITE.format(root=tmp, extra=extra, compare=compare))


# ------------------------------------------------------- a failed exit code, compared anyway


def test_the_first_difference_is_shown_when_the_exit_code_failed_the_case(
    suite, tmp_path, assay_cli: Cli
):
    _cases(tmp_path, {"Y2GN": ("+STR\nbad\n-STR\n", "+STR\n+DOC\n-STR\n")})
    _suite(suite, tmp_path)
    result = assay_cli("run", ".", "--plain")
    case = result.case("yaml[case=Y2GN]")
    failure = case["failure"]
    # The verdict is the exit code's; the outputs were compared for the reader.
    assert failure["reason"] == "exit code 1 (expected exit code 0)"
    assert failure["details"].splitlines()[:5] == [
        "outputs (compared anyway): out.event line 2: actual ends after line 1; expected has "
        "2 more lines, the first: '+DOC'",
        "out.event: 2 lines differ",
        "  line 2: actual ends after line 1; expected has 2 more lines, the first: '+DOC'",
        "    expected: +DOC",
        "    actual:   (no such line)",
    ]
    (verdict,) = case["comparisons"]
    assert verdict["judged"] is False and verdict["ok"] is False
    assert "outputs (compared anyway)" in result.stdout


# ------------------------------------------------------------------------- exit codes


def test_exit_codes_any_and_nonzero(suite, tmp_path, assay_cli: Cli):
    _cases(tmp_path, {"good": ("+A\n", "+A\n"), "bad": ("bad\n", "bad\n")})
    _suite(suite, tmp_path, 'exit_codes = "any"')
    result = assay_cli("run", ".", "--plain")
    assert result.code == 0, result
    _suite(suite, tmp_path, 'exit_codes = "nonzero"')
    result = assay_cli("run", ".", "--plain")
    assert result.case("yaml[case=bad]")["status"] == "passed"
    good = result.case("yaml[case=good]")["failure"]
    assert good["reason"] == "exit code 0 (expected a non-zero exit code)"


def test_an_empty_list_of_exit_codes_is_refused(suite, tmp_path, assay_cli: Cli):
    _cases(tmp_path, {"good": ("+A\n", "+A\n")})
    _suite(suite, tmp_path, "exit_codes = []")
    result = assay_cli("run", ".", "--plain")
    assert result.code == 1
    assert (
        "yaml.suite.toml:5: suite.exit_codes: [] accepts no exit code, so every case would "
        'fail; give the codes that pass (the default is [0]), "any" or "nonzero"'
    ) in result.stdout + result.stderr
    assert result.report["cases"] == []


def test_an_exit_code_past_255_is_refused(suite, tmp_path, assay_cli: Cli):
    """No process exits with 256 (exit(256) is seen as 0): such a list once failed every
    case with 'exit code 0 (expected exit code 256)'."""
    _cases(tmp_path, {"good": ("+A\n", "+A\n")})
    _suite(suite, tmp_path, "exit_codes = [0, 256]")
    result = assay_cli("run", ".", "--plain")
    assert result.code == 1
    assert (
        "yaml.suite.toml:5: suite.exit_codes: 256 is no exit code: a process exits with 0 to "
        "255 (a shell reports a program killed by signal N as 128+N)"
    ) in result.stdout + result.stderr, result
    assert result.report["cases"] == []


def test_an_exit_code_past_255_of_a_python_test_is_refused(tmp_path, assay_cli: Cli):
    (tmp_path / "test_codes.py").write_text(
        "import assay\n\nclass Codes(assay.Test):\n    command = 'true'\n"
        "    exit_codes = {0, 300}\n"
    )
    result = assay_cli("run", "test_codes.py", "--plain")
    assert result.code == 1
    assert "exit_codes holds 300, which is no exit code: a process exits with 0 to 255" in (
        result.stdout + result.stderr
    ), result
    assert "Traceback" not in result.stdout + result.stderr


# ---------------------------------------------------------------------------- groups


def test_groups_set_exit_codes_command_env_and_compare(suite, tmp_path, assay_cli: Cli):
    _cases(
        tmp_path,
        {
            "E01": ("bad 1\n", "bad 1\n"),  # must make the parser fail
            "E02": ("bad 2\n", "bad 2\n"),
            "N01": ("v 1.0\n", "v 1.0\n"),
            "T01": ("ignored\n", "hello world\n"),  # its own command, with its own env
            "X01": ("v 1.00\n", "v 1.0\n"),  # exact text for this one: 1.00 is not 1.0
        },
    )
    _suite(
        suite,
        tmp_path,
        '[[suite.groups]]\ncases = ["E*"]\nexit_codes = "nonzero"\ntags = ["errors"]\n'
        '[[suite.groups]]\ncases = ["T*"]\ncommand = \'echo "$GREETING world" > out.event\'\n'
        'env = { GREETING = "hello" }\n'
        '[[suite.groups]]\ncases = ["X*"]\ncompare = { files = ["out.event"], mode = '
        '"text" }\n',
    )
    result = assay_cli("run", ".", "--plain")
    statuses = {c["params"]["case"]: c["status"] for c in result.report["cases"]}
    assert statuses == {
        "E01": "passed",
        "E02": "passed",
        "N01": "passed",
        "T01": "passed",
        "X01": "failed",
    }, result
    assert "errors" in result.case("yaml[case=E01]")["tags"]
    assert result.case("yaml[case=X01]")["failure"]["reason"] == (
        "out.event line 1, column 6: expected 'v 1.0', got 'v 1.00'"
    )
    listed = assay_cli("list", ".", "-t", "errors")
    assert listed.stdout.count("yaml[case=E0") == 2


def test_a_group_with_an_empty_exit_code_list_is_refused_at_its_line(
    suite, tmp_path, assay_cli: Cli
):
    _cases(tmp_path, {"E01": ("bad\n", "bad\n")})
    _suite(suite, tmp_path, '[[suite.groups]]\ncases = ["E*"]\nexit_codes = []\n')
    result = assay_cli("list", ".")
    assert "yaml.suite.toml:7: suite.groups[0].exit_codes: [] accepts no exit code" in (
        result.stderr
    )


# -------------------------------------------------------- a command that sees only outputs


def test_diff_r_of_expected_and_actual_sees_only_the_outputs(suite, tmp_path, assay_cli: Cli):
    # Inputs (a file and a directory of them) sit beside the outputs in the stage dir, and
    # so do assay's own files: {actual} names a view without them.
    for name, out in (("same", "+A\n"), ("other", "+B\n")):
        write_tree(
            tmp_path / "cases" / name,
            {
                "in.txt": "+A\n",
                "data/mesh.dat": "1 2 3\n",
                "expected/out.event": out,
                "expected/sub/log.txt": "done\n",
            },
        )
    suite(
        f"""\
[suite]
name = "yaml"
cases = "cases/*"
command = "{tmp_path}/parse.sh && mkdir -p sub && echo done > sub/log.txt"
[suite.compare]
command = "diff -r {{expected}} {{actual}}"
"""
    )
    result = assay_cli("run", ".", "--plain")
    assert result.case("yaml[case=same]")["status"] == "passed", result
    other = result.case("yaml[case=other]")["failure"]
    assert other["reason"].startswith("(command): command exited 1: ")
    assert "assay-run" not in other["details"] and "in.txt" not in other["details"]
    assert "mesh.dat" not in other["details"] and "Only in" not in other["details"]
    # The view is gone once the command is done.
    stage_root = Path(result.report["session"]["directory"]) / "stage"
    assert [p.name for p in stage_root.iterdir() if p.name.startswith(".assay-outputs")] == []


def test_complete_lists_only_extra_outputs(suite, tmp_path, assay_cli: Cli):
    _cases(tmp_path, {"A": ("+A\n", "+A\n")})
    _suite(
        suite,
        tmp_path,
        command_tail := "",
        'complete = ["."]',
    )
    assert command_tail == ""
    result = assay_cli("run", ".", "--plain")
    assert result.case("yaml[case=A]")["status"] == "passed", result
    text = (tmp_path / "yaml.suite.toml").read_text()
    (tmp_path / "yaml.suite.toml").write_text(text.replace("parse.sh", "parse.sh; touch new.txt"))
    result = assay_cli("run", ".", "--plain")
    assert result.case("yaml[case=A]")["failure"]["reason"] == "new.txt: extra file"


# ----------------------------------------------------------------------------- sweeps


def test_a_sweep_of_explicit_points_and_several_templates(tmp_path, assay_cli: Cli):
    write_tree(
        tmp_path,
        {
            "mesh.j2": "mesh {{ mesh }}\n",
            "solver.cfg.j2": "solver {{ solver }} precision {{ precision }}\n",
            "doe.csv": "mesh,solver\n32,cg\n64,gmres\n128,cg\n",
            "s.suite.toml": """\
[suite]
name = "s"
command = "cat mesh solver.cfg > out.txt"
[[suite.sweep]]
name = "listed"
points = [{ mesh = 32, solver = "cg" }, { mesh = 64, solver = "gmres" }]
precision = ["single", "double"]
template = ["mesh.j2", "solver.cfg.j2"]
[[suite.sweep]]
name = "doe"
points = "doe.csv"
precision = ["double"]
template = ["mesh.j2", "solver.cfg.j2"]
""",
        },
    )
    listed = assay_cli("list", ".")
    assert listed.code == 0, listed
    names = [line.split("  ", 1)[1].split(" @")[0] for line in listed.stdout.splitlines()[:-1]]
    assert names == [
        "s-listed[precision=single,mesh=32,solver=cg]",
        "s-listed[precision=single,mesh=64,solver=gmres]",
        "s-listed[precision=double,mesh=32,solver=cg]",
        "s-listed[precision=double,mesh=64,solver=gmres]",
        "s-doe[precision=double,mesh=32,solver=cg]",
        "s-doe[precision=double,mesh=64,solver=gmres]",
        "s-doe[precision=double,mesh=128,solver=cg]",
    ]
    result = assay_cli("run", ".", "--plain", "--keep-stage")
    assert result.code == 0, result
    case = result.case("s-doe[precision=double,mesh=128,solver=cg]")
    rendered = (Path(case["stage_dir"]) / "out.txt").read_text()
    assert rendered == "mesh 128\nsolver cg precision double\n"


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (
            'points = [{ mesh = 1, solver = "cg" }, { mesh = 2 }]',
            "suite.sweep[0].points: point 2 does not set the same parameters as point 1 (it "
            "lacks solver)",
        ),
        ('points = "nope.csv"', "nope.csv is not a file"),
        ("points = []", "suite.sweep[0].points: no points"),
        (
            'points = [{ mesh = 1 }]\ntemplate = ["mesh.j2"]\noutput = ["a", "b"]',
            "suite.sweep[0].output: 2 output name(s) for 1 template(s)",
        ),
        ("points = [{ mesh = 1 }, { mesh = 1 }]", "point 2 repeats point 1"),
        ("points = [{ command = 1 }]", "'command' cannot be a parameter name here"),
    ],
)
def test_wrong_points_are_reported_with_the_key(tmp_path, assay_cli: Cli, sweep, message):
    write_tree(
        tmp_path,
        {
            "mesh.j2": "mesh {{ mesh }}\n",
            "s.suite.toml": f'[suite]\ncommand = "true"\n[[suite.sweep]]\n{sweep}\n',
        },
    )
    result = assay_cli("list", ".")
    assert message in result.stderr, result
