"""A suite reads only files inside its own directory, links resolved (a suite file from a
third party is data: it must not make assay stage, compare or show the user's files
elsewhere). What the suite names is refused at load; links inside a case's directory (its
expected outputs too) at the case's setup, absolute and relative alike. Real runs of
``assay``; the "secret" is a file beside the suite's directory, never to be shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CliResult, run_assay

SECRET = "TOPSECRET-line-one"


def _home(tmp_path: Path) -> tuple[Path, Path]:
    """A suite directory and, beside it, a secret file and a directory of would-be cases."""
    suite = tmp_path / "suite"
    suite.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET}\n")
    outside = tmp_path / "outside"
    (outside / "c1" / "expected").mkdir(parents=True)
    (outside / "c1" / "in.txt").write_text("hi\n")
    (outside / "c1" / "expected" / "out.txt").write_text("hi\n")
    (outside / "x.txt").write_text("hi\n")
    (outside / "x.out").write_text("hi\n")
    return suite, secret


def _run(suite: Path, text: str) -> CliResult:
    (suite / "s.suite.toml").write_text(text)
    return run_assay("run", "s.suite.toml", "--plain", cwd=suite)


def _said(result: CliResult) -> str:
    said = result.stdout + result.stderr
    assert "Traceback" not in said, said
    assert SECRET not in said, said
    return said


def _no_secret_in_the_runs(suite: Path) -> None:
    runs = suite / ".assay"
    for path in runs.rglob("*") if runs.exists() else []:
        if path.is_file() and not path.is_symlink():
            assert SECRET.encode() not in path.read_bytes(), path


PAIRS = """\
[suite]
name = "s"
cases = "{cases}"
expected = "{expected}"
command = "cat {{input}} > {{output}}"
"""

DIRS = """\
[suite]
name = "s"
cases = "{cases}"
command = "cat in.txt > out.txt"
"""


def test_a_pairs_glob_out_of_the_suite_is_refused_at_load(tmp_path):
    suite, _ = _home(tmp_path)
    result = _run(suite, PAIRS.format(cases="../outside/*.txt", expected="{stem}.out"))
    said = _said(result)
    assert result.code != 0, said
    assert (
        f"suite.cases: input {tmp_path}/outside/x.txt is outside the suite's directory {suite}: "
        "a suite reads only files inside its own directory" in said
    ), said
    assert "0 passed, 0 failed" in said


def test_a_pairs_input_that_is_a_relative_link_out_is_refused_naming_where_it_leads(tmp_path):
    suite, secret = _home(tmp_path)
    (suite / "t").mkdir()
    (suite / "t" / "a.txt").symlink_to(Path("..", "..", "secret.txt"))
    (suite / "t" / "a.out").write_text("x\n")
    result = _run(suite, PAIRS.format(cases="t/*.txt", expected="{stem}.out"))
    said = _said(result)
    assert result.code != 0, said
    assert f"input {suite}/t/a.txt, which leads to {secret}, is outside the suite's" in said, said


def test_a_pairs_expected_file_linked_to_a_secret_is_refused_and_never_shown(tmp_path):
    suite, secret = _home(tmp_path)
    (suite / "t").mkdir()
    (suite / "t" / "a.txt").write_text("x\n")
    (suite / "t" / "a.out").symlink_to(secret)
    result = _run(suite, PAIRS.format(cases="t/*.txt", expected="{stem}.out"))
    said = _said(result)
    assert result.code != 0, said
    assert (
        f"suite.expected: expected file {suite}/t/a.out, which leads to {secret}, is outside"
        in said
    ), said
    _no_secret_in_the_runs(suite)


def test_a_file_beside_a_pairs_input_linked_to_a_secret_is_refused_and_never_staged(tmp_path):
    # `beside` stages x.opts with x.txt: a link out there is read as an input is
    suite, secret = _home(tmp_path)
    (suite / "t").mkdir()
    (suite / "t" / "a.txt").write_text("x\n")
    (suite / "t" / "a.out").write_text("x\n")
    (suite / "t" / "a.opts").symlink_to(secret)
    text = PAIRS.format(cases="t/*.txt", expected="{stem}.out")
    text = text.replace(
        'command = "cat {input} > {output}"',
        'beside = ["{stem}.opts"]\ncommand = "cat {input} > {output}; cat a.opts"',
    )
    result = _run(suite, text)
    said = _said(result)
    assert result.code != 0, said
    assert (
        f"suite.beside: file beside an input {suite}/t/a.opts, which leads to {secret}, is "
        "outside" in said
    ), said
    _no_secret_in_the_runs(suite)


def test_a_case_directory_glob_out_of_the_suite_is_refused_at_load(tmp_path):
    suite, _ = _home(tmp_path)
    result = _run(suite, DIRS.format(cases="../outside/*"))
    said = _said(result)
    assert result.code != 0, said
    assert (
        f"suite.cases: case directory {suite}/../outside/c1, which leads to {tmp_path}/outside/c1,"
        " is outside the suite's directory" in said
    ), said


def test_a_case_directory_that_is_a_link_out_is_refused_at_load(tmp_path):
    suite, _ = _home(tmp_path)
    (suite / "cases").mkdir()
    (suite / "cases" / "c1").symlink_to(tmp_path / "outside" / "c1")
    result = _run(suite, DIRS.format(cases="cases/*"))
    said = _said(result)
    assert result.code != 0, said
    assert f"case directory {suite}/cases/c1, which leads to {tmp_path}/outside/c1, is" in said


@pytest.mark.parametrize("how", ["absolute", "relative"])
@pytest.mark.parametrize("where", ["in.txt", "data/in.txt", "expected/out.txt"])
def test_a_link_out_in_a_case_directory_fails_its_setup_absolute_or_relative(tmp_path, how, where):
    """An expected file linked to a secret showed its first line in the failure; an absolute
    link among the inputs was staged (only a relative one was refused)."""
    suite, secret = _home(tmp_path)
    case = suite / "cases" / "c1"
    (case / "expected").mkdir(parents=True)
    (case / "data").mkdir()
    (case / "in.txt").write_text("hi\n")
    (case / "expected" / "out.txt").write_text("hi\n")
    link = case / where
    link.unlink(missing_ok=True)
    link.symlink_to(
        secret if how == "absolute" else Path("../" * (where.count("/") + 3), "secret.txt")
    )
    result = _run(suite, DIRS.format(cases="cases/*"))
    said = _said(result)
    assert result.code == 1, said
    failure = result.case("s[case=c1]")["failure"]
    assert failure["stage"] == "setup", failure
    assert failure["reason"].startswith(
        f"case directory {case}: the symbolic link {link} leads to {secret}, outside the "
        f"suite's directory {suite}"
    ), failure
    _no_secret_in_the_runs(suite)


def test_links_that_stay_inside_the_suite_are_followed_as_before(tmp_path):
    """A golden file shared by cases, linked from each expected/ (absolute), and one kept
    beside the inputs (relative: a relative link out of the case directory is refused as
    before, since it would not lead there once the directory is staged elsewhere)."""
    suite, _ = _home(tmp_path)
    (suite / "golden.txt").write_text("hi\n")
    for name, target in (("c1", Path("../golden.txt")), ("c2", suite / "golden.txt")):
        case = suite / "cases" / name
        (case / "expected").mkdir(parents=True)
        (case / "in.txt").write_text("hi\n")
        (case / "golden.txt").write_text("hi\n")
        (case / "expected" / "out.txt").symlink_to(target)
    result = _run(suite, DIRS.format(cases="cases/*"))
    assert result.code == 0, result
    assert "2 passed, 0 failed" in _said(result)


SWEEP = """\
[suite]
name = "s"
command = "cat in.txt > out.txt"

[[suite.sweep]]
name = "w"
n = [1]
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'inputs = "../outside/c1"',
            "inputs directory {s}/../outside/c1, which leads to {t}/outside/c1, is outside",
        ),
        ('inputs = "in"', "inputs directory {s}/in: the symbolic link {s}/in/in.txt leads to"),
        ('template = "t.j2"', "suite.sweep[0].template: template {s}/t.j2, which leads to"),
        (
            'expected = "../outside/c{n}"',
            "directory {s}/../outside/c1, which leads to {t}/outside/c1, is outside",
        ),
    ],
)
def test_a_sweeps_inputs_templates_and_expected_stay_inside(tmp_path, extra, message):
    suite, secret = _home(tmp_path)
    (suite / "in").mkdir()
    (suite / "in" / "in.txt").symlink_to(secret)
    (suite / "t.j2").symlink_to(secret)
    result = _run(suite, SWEEP.format(extra=extra))
    said = _said(result)
    assert result.code != 0, said
    assert message.format(t=tmp_path, s=suite) in said, said
    _no_secret_in_the_runs(suite)


def test_a_link_out_behind_a_link_to_a_directory_inside_is_found_cycles_and_all(tmp_path):
    """expected/sub -> the suite's shared/, whose out.txt -> the secret: the comparison of
    sub/out.txt read the secret and showed it; a link back up (a cycle) is walked once."""
    suite, secret = _home(tmp_path)
    (suite / "shared").mkdir()
    (suite / "shared" / "out.txt").symlink_to(secret)
    case = suite / "cases" / "c1"
    (case / "expected").mkdir(parents=True)
    (case / "in.txt").write_text("hi\n")
    (case / "expected" / "sub").symlink_to(suite / "shared")
    (case / "expected" / "loop").symlink_to(suite / "cases")  # back up: a cycle
    (suite / "s.suite.toml").write_text(
        '[suite]\nname = "s"\ncases = "cases/*"\ncommand = "mkdir sub; cat in.txt > sub/out.txt"\n'
    )
    result = run_assay("run", "s.suite.toml", "--plain", cwd=suite)
    said = _said(result)
    assert result.code == 1, said
    failure = result.case("s[case=c1]")["failure"]
    assert failure["reason"].startswith(
        f"case directory {case}: the symbolic link {case}/expected/sub/out.txt leads to {secret}"
    ), failure
    _no_secret_in_the_runs(suite)


def test_a_comparison_command_runs_a_script_of_the_suite_named_by_tools(tmp_path):
    # Before, a comparison command had no way to find the suite (it runs in the outputs'
    # directory): `tools` was an unknown key. The suite's path holds a blank and a quote.
    from tests.suite_tools import tools_suite

    suite = tools_suite(tmp_path)
    result = run_assay("run", "t.suite.toml", "--plain", cwd=suite)
    assert result.code == 1, result
    assert result.case("tl[case=same]")["status"] == "passed"
    failed = result.case("tl[case=other]")["failure"]["reason"]
    assert "command exited 1: out.txt: expected 1.0, got 2" in failed, failed


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ('"../out"', "which leads to"),
        ('"missing"', "'missing' is not a directory in"),
        ('"/tmp"', "'/tmp' is absolute"),
        ('"tools"', "the symbolic link"),
    ],
)
def test_tools_must_be_a_directory_inside_the_suite_without_links_out(tmp_path, tools, message):
    from tests.suite_tools import tools_suite

    suite = tools_suite(tmp_path)
    (tmp_path / "out").mkdir()
    (suite / "tools" / "secret").symlink_to(tmp_path / "out")
    text = (suite / "t.suite.toml").read_text().replace('tools = "tools"', f"tools = {tools}")
    (suite / "t.suite.toml").write_text(text)
    result = run_assay("list", "t.suite.toml", cwd=suite)
    assert result.code != 0 and "suite.compare.tools: " in result.stderr, result
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_tools_word_without_tools_is_a_load_error(tmp_path):
    from tests.suite_tools import tools_suite

    suite = tools_suite(tmp_path)
    text = (suite / "t.suite.toml").read_text().replace('tools = "tools"\n', "")
    (suite / "t.suite.toml").write_text(text)
    result = run_assay("list", "t.suite.toml", cwd=suite)
    assert result.code != 0 and "{tools} names the comparison's tools directory" in result.stderr
