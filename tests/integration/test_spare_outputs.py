"""A passed case's empty stdout and stderr files are not kept: a later local case's job
writes to them instead of new files (a new file costs a rename's twenty-fold on some file
systems; see src/assay/run/spares.py). Files with content, a failed case's files, and a
file the job gave a second name stay where they are."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from tests.conftest import CliResult, run_assay

SUITE = """\
[suite]
name = "s"
cases = "cases/*"
command = "{command}"
{compare}"""
COMPARE = """
[suite.compare]
files = ["out.txt"]
"""


def _suite(root: Path, command: str, cases: dict[str, str], compare: bool = False) -> None:
    """A suite of cases (name -> the expected ``out.txt``, a copy of ``in.txt``; with
    ``compare`` only: a case's expected outputs are compared whenever it has them)."""
    for name, text in cases.items():
        case = root / "cases" / name
        case.mkdir(parents=True)
        (case / "in.txt").write_text(f"{name}\n")
        if compare:
            (case / "expected").mkdir()
            (case / "expected" / "out.txt").write_text(text)
    text = SUITE.format(command=command, compare=COMPARE if compare else "")
    (root / "s.suite.toml").write_text(text)


def _run(root: Path, *extra: str) -> CliResult:
    return run_assay("run", ".", "--plain", *extra, cwd=root)


def test_passed_cases_keep_no_empty_output_files_a_failed_one_keeps_them(tmp_path):
    _suite(tmp_path, "cp in.txt out.txt", {"a": "a\n", "b": "b\n", "c": "c\n", "d": "x\n"}, True)
    result = _run(tmp_path, "--max-jobs", "2")
    assert result.code == 1, result
    for name in "abc":
        case = result.case(f"s[case={name}]")
        assert case["status"] == "passed", case
        assert sorted(os.listdir(case["output_dir"])) == ["assay-run.sh", "out.txt"], name
    failed = result.case("s[case=d]")
    assert failed["status"] == "failed", failed
    kept = Path(failed["output_dir"])
    assert (kept / "assay-run.out").read_bytes() == b"", os.listdir(kept)
    assert (kept / "assay-run.err").read_bytes() == b""


def test_a_later_case_writes_its_stderr_to_an_earlier_cases_empty_file(tmp_path):
    """Each case prints the inodes of its stdout and stderr (its stdout is kept, its
    stderr is empty): one after another, every case after the first two has an earlier
    case's stderr file, each with its own stdout. Made new for each case, all would differ.
    (Two, not one: a case's job starts while the case before it is checked, before that
    case gives its empty file back.)"""
    cases = {f"c{i}": "" for i in range(4)}
    _suite(tmp_path, "stat -L -c %i /dev/stdout /dev/stderr", cases)
    result = _run(tmp_path, "--serial")
    assert result.code == 0, result
    outs, errs = set(), set()
    for name in cases:
        case = result.case(f"s[case={name}]")
        out = Path(case["output_dir"])
        assert sorted(os.listdir(out)) == ["assay-run.out", "assay-run.sh"], name
        stdout, stderr = (out / "assay-run.out").read_text().split()
        assert (out / "assay-run.out").stat().st_ino == int(stdout)
        outs.add(stdout)
        errs.add(stderr)
    assert len(outs) == 4 and len(errs) <= 2 and not outs & errs, (outs, errs)


def test_a_stderr_file_the_job_linked_elsewhere_is_not_used_again(tmp_path):
    """A job that gave its (empty) stderr file a second name outside the stage dir would
    read every later case's stderr there, were the file used again: it is not."""
    peek = tmp_path / "peek"
    peek.mkdir()
    (tmp_path / "test_link.py").write_text(
        "import assay\n\n"
        "class A(assay.Test):\n"
        f"    command = 'ln assay-run.err {peek}/err'\n\n"
        "class B(assay.Test):\n"
        "    command = 'echo secret of B >&2'\n\n"
        "class C(assay.Test):\n"
        "    command = 'echo secret of C >&2'\n"
    )
    result = run_assay("run", "test_link.py", "--plain", "--serial", cwd=tmp_path)
    assert result.code == 0, result
    started = [result.case(name)["started"] for name in "ABC"]
    assert started == sorted(started), started  # A first: what it left came before B and C
    assert (peek / "err").read_bytes() == b""
    assert (peek / "err").stat().st_nlink == 2  # kept in A's output dir, with its content
    a = Path(result.case("A")["output_dir"])
    assert (a / "assay-run.err").stat().st_ino == (peek / "err").stat().st_ino
    for name in "BC":
        err = Path(result.case(name)["output_dir"]) / "assay-run.err"
        assert err.read_text() == f"secret of {name}\n"


def test_a_file_written_by_a_later_case_holds_only_its_own_output(tmp_path):
    """A used-again file is emptied when the job opens it: a case that prints a little
    after one that printed nothing has exactly its own lines."""
    (tmp_path / "test_order.py").write_text(
        "import assay\n\n"
        "class A(assay.Test):\n"
        "    command = 'true'\n\n"
        "class B(assay.Test):\n"
        "    command = 'echo out of B; echo err of B >&2'\n"
    )
    result = run_assay("run", "test_order.py", "--plain", "--serial", cwd=tmp_path)
    assert result.code == 0, result
    b = Path(result.case("B")["output_dir"])
    assert (b / "assay-run.out").read_text() == "out of B\n"
    assert (b / "assay-run.err").read_text() == "err of B\n"
    assert sorted(os.listdir(result.case("A")["output_dir"])) == ["assay-run.sh"]


def test_a_file_a_process_left_by_a_case_still_writes_to_is_not_used_again(tmp_path):
    """A case's job leaves a process that cleared its environment and left the job's
    session (``setsid env -i``: assay's containment ends it only when the session ends),
    holding the job's stdout and stderr, which were empty when the case passed. Used again,
    they were B's stdout and stderr, and what A's process wrote later was B's output
    (B's own line overwritten: its sanity failed). Now a file that a process still has
    open for writing is not used again: B writes to files of its own, and what A's process
    wrote stays in A's output dir. (B measures a metric: under --serial, A is then done
    before B starts.)"""
    peek = tmp_path / "peek"
    peek.mkdir()
    wait = "i=0; while [ ! -e {flag} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done"
    leftover = (
        wait.format(flag=peek / "b-started") + "; echo written by A; echo written by A >&2;"
        f" touch {peek / 'written'}"
    )
    victim = f"echo own line of B; touch {peek / 'b-started'}; {wait.format(flag=peek / 'written')}"
    (tmp_path / "test_leftover.py").write_text(
        "import assay\n\n"
        "class A(assay.Test):\n"
        f"    command = {f'setsid env -i /bin/sh -c {shlex.quote(leftover)} & true'!r}\n\n"
        "class B(assay.Test):\n"
        f"    command = {victim + '; echo B ends'!r}\n\n"
        "    def sanity(self, out):\n"
        "        assert out.stdout == 'own line of B\\nB ends\\n', repr(out.stdout)\n"
        "        assert out.stderr == '', repr(out.stderr)\n\n"
        "    @assay.metric('lines')\n"
        "    def lines(self, out):\n"
        "        return len(out.stdout.splitlines())\n"
    )
    result = run_assay("run", "test_leftover.py", "--plain", "--serial", cwd=tmp_path)
    assert (peek / "written").exists(), result  # A's process did write while B ran
    assert result.code == 0, result
    a = Path(result.case("A")["output_dir"])
    assert (a / "assay-run.out").read_text() == "written by A\n"
    assert (a / "assay-run.err").read_text() == "written by A\n"
