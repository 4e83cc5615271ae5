"""A run that writes over one of its staged inputs (a stale ``out.txt`` left in a case
directory, a source file edited in place) fails with "Permission denied": the failure says
which input it is, that inputs are read-only, and how to declare it writable; a suite file
can declare it (``writable`` under ``[suite]``) and the user's file stays untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = """\
[suite]
name = "stale"
cases = "cases/*"
command = "cp in.txt out.txt"
{writable}
[suite.compare]
files = ["out.txt"]
"""

TEST = """\
import assay


class Stale(assay.Test):
    sources = "src/"
    command = "cp in.txt out.txt && cat out.txt"

    def sanity(self, out):
        out.expect(r"fresh")
"""


def _suite(root: Path, writable: str = "", big: bool = False) -> Path:
    case = root / "cases" / "c1"
    (case / "expected").mkdir(parents=True)
    (case / "in.txt").write_text("fresh\n")
    (case / "out.txt").write_text("stale\n")  # left over from an earlier run of the suite
    (case / "expected" / "out.txt").write_text("fresh\n")
    if big:  # past what is copied: the case dir is staged as links into the store
        (case / "pad.bin").write_bytes(b"p" * (2 * 1024 * 1024))
    (root / "s.suite.toml").write_text(SUITE.format(writable=writable))
    return case


@pytest.mark.parametrize("big", [False, True], ids=["copied", "linked"])
def test_a_suite_writing_over_a_stale_input_is_told_why_and_how(tmp_path, assay_cli, big):
    _suite(tmp_path, big=big)
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert result.code == 1, result
    (case,) = result.report["cases"]
    reason = case["failure"]["reason"]
    assert reason.startswith("exit code 1 (expected exit code 0); 'out.txt' is a staged input")
    assert "read-only" in reason
    assert 'writable = ["out.txt"] under [suite] in the suite file' in reason
    assert "'in.txt'" not in reason  # only what the error names
    assert "'out.txt' is a staged input" in result.stdout  # the summary says it too


def test_a_suite_may_declare_an_input_writable(tmp_path, assay_cli):
    case = _suite(tmp_path, writable='writable = ["out.txt"]')
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert result.code == 0, result
    assert (case / "out.txt").read_text() == "stale\n"  # the copy was written, not the file


def test_a_python_test_writing_over_a_source_is_told_why_and_how(tmp_path, assay_cli, write):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "in.txt").write_text("fresh\n")
    (tmp_path / "src" / "out.txt").write_text("stale\n")
    write("test_stale.py", TEST)
    result = assay_cli("run", "test_stale.py", "--plain")
    assert result.code == 1, result
    reason = result.report["cases"][0]["failure"]["reason"]
    assert "'out.txt' is a staged input" in reason
    assert 'writable = ["out.txt"] in the test' in reason
    write("test_stale.py", TEST.replace("command =", 'writable = ["out.txt"]\n    command ='))
    again = assay_cli("run", "test_stale.py", "--plain")
    assert again.code == 0, again
    assert (tmp_path / "src" / "out.txt").read_text() == "stale\n"


def test_a_permission_error_on_a_file_that_is_not_an_input_gets_no_hint(tmp_path, assay_cli):
    case = _suite(tmp_path)
    said = "cp: cannot create regular file other.txt: Permission denied"
    (tmp_path / "s.suite.toml").write_text(
        SUITE.format(writable="").replace("cp in.txt out.txt", f"echo '{said}' >&2; exit 1")
    )
    assert case.exists()
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert result.code == 1, result
    reason = result.report["cases"][0]["failure"]["reason"]
    assert reason == "exit code 1 (expected exit code 0)"


def test_a_build_writing_over_a_source_is_told_why_and_how(tmp_path, assay_cli, write):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.h").write_text("#define N 1\n")
    write(
        "test_build.py",
        """
        import assay


        class Configure(assay.Test):
            sources = "src/"
            build = "echo '#define N 2' > config.h"
            command = "cat config.h"
        """,
    )
    result = assay_cli("run", "test_build.py", "--plain")
    assert result.code == 1, result
    reason = result.report["cases"][0]["failure"]["reason"]
    assert reason.startswith(
        "build failed: exit code 1 from `echo '#define N 2' > config.h`;"
        " 'config.h' is a staged input"
    ), reason
    assert 'writable = ["config.h"] in the test' in reason
