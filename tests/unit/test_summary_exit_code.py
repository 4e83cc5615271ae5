"""A case whose exit code was not accepted, capped on a terminal: the last lines of its
stderr (where a program says why it failed: a traceback's last line) come before what
comparing its outputs anyway showed, which did not decide the verdict (h19-user: markdown2's
wrapper died with ``NameError``, and the terminal showed the outputs' difference alone)."""

from __future__ import annotations

from pathlib import Path

from assay.results.model import CaseResult, Failure, Status
from assay.summary import Caps, failure_block

TRACEBACK = """Traceback (most recent call last):
  File "/suite/md2run.py", line 28, in <module>
    opts = eval(open(stem + ".opts").read())
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "<string>", line 3, in <module>
NameError: name 're' is not defined
"""

ANYWAY = (
    "outputs (compared anyway): x.html line 1: actual ends after line 0; expected has 3 "
    "more lines, the first: '<p>x</p>'\n"
    "x.html: 3 lines differ\n"
    "    expected: <p>x</p>\n"
    "    actual:   (no such line)"
)


class _Hint:
    def command(self, result: CaseResult) -> str:
        return "assay run again"


def _failed(kept: Path, reason: str, details: str) -> CaseResult:
    return CaseResult(
        name="md[case=x]",
        id="abc",
        test="md",
        variant="",
        params={},
        system="s",
        partition="p",
        environment="e",
        status=Status.FAILED,
        failure=Failure("sanity", reason, details),
        output_dir=str(kept),
        stage_dir=str(kept),
    )


def _shown(tmp_path: Path, reason: str, details: str) -> str:
    (tmp_path / "assay-run.err").write_text(TRACEBACK)
    block = failure_block(_failed(tmp_path, reason, details), _Hint())
    return "\n".join(text for text, _ in block.lines(Caps().per_failure, "see summary.txt"))


def test_an_exit_code_failure_shows_its_stderr_before_the_unjudged_comparison(tmp_path):
    shown = _shown(tmp_path, "exit code 1 (expected exit code 0)", ANYWAY)
    assert "| NameError: name 're' is not defined" in shown
    assert "more line(s) of this failure: see summary.txt" in shown  # the rest is there


def test_a_difference_that_decided_the_verdict_still_comes_first(tmp_path):
    """A run that exited 0 but wrote the wrong output: its difference is the reason."""
    details = "x.html: 3 lines differ\n" + "\n".join(f"    line {i}" for i in range(12))
    shown = _shown(tmp_path, "x.html line 1: expected '<p>x</p>', got '<p>y</p>'", details)
    assert "x.html: 3 lines differ" in shown and "    line 3" in shown
    assert "NameError" not in shown
