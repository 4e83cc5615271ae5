"""The tails of a failed case's outputs (the summary, the JUnit and HTML reports) and a
local job's status file are read in the case's directory, and not through a link a job
put in that directory's place: a process of the test's that outlives its job can swap the
kept stage (output) dir for a link to a directory of the user's, whose ``assay-run.out``
the reports would then show (one a CI server publishes). The directory's own name is the
job's; the directories above it are the user's and followed. Real files and links."""

from __future__ import annotations

import json
import os
from pathlib import Path

from assay.files import tail
from assay.results import html, junit
from assay.results.model import CaseResult, Failure, Status
from assay.schedulers.base import local_status_text
from assay.summary import Caps, failure_block

SECRET = "precious-canary-5d2c"


class _Hint:
    def command(self, result: CaseResult) -> str:
        return "assay run again"


def _swapped(tmp_path: Path) -> Path:
    """A case's output dir the test's leftover swapped for a link to another directory,
    which holds files at the names the reports read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("assay-run.out", "assay-run.err", "assay-python.out"):
        (outside / name).write_text(f"{SECRET}\n")
    (outside / "assay-run.out.status").write_text('{"exit_code": 0, "job": ""}')
    kept = tmp_path / "output" / "case"
    kept.parent.mkdir()
    os.symlink(outside, kept)
    return kept


def _failed(kept: Path) -> CaseResult:
    return CaseResult(
        name="case",
        id="abc",
        test="T",
        variant="",
        params={},
        system="s",
        partition="p",
        environment="e",
        status=Status.FAILED,
        failure=Failure("run", "exit code 1"),
        output_dir=str(kept),
        stage_dir=str(kept),
    )


def test_the_summary_shows_no_tail_through_an_output_dir_swapped_for_a_link(
    tmp_path: Path,
) -> None:
    kept = _swapped(tmp_path)
    shown = "\n".join(t for t, _ in failure_block(_failed(kept), _Hint()).lines(None, ""))
    assert SECRET not in shown
    # and says why the tail is missing, naming the directory
    assert f"stdout of run not shown: {kept} is a symbolic link" in shown, shown


def test_the_junit_report_carries_no_tail_through_it(tmp_path: Path) -> None:
    kept = _swapped(tmp_path)
    assert junit._output_tails(_failed(kept)) == ("", "")


def test_the_html_report_carries_no_tail_through_it(tmp_path: Path) -> None:
    kept = _swapped(tmp_path)
    case = {"status": "failed", "failure": {"stage": "run"}, "output_dir": str(kept)}
    (failure,) = html._failures([case])
    assert failure["tails"] == []


def test_a_local_status_is_not_read_through_a_stage_dir_swapped_for_a_link(
    tmp_path: Path,
) -> None:
    kept = _swapped(tmp_path)
    assert local_status_text(kept / "assay-run.out.status") is None  # type: ignore[arg-type]
    real = tmp_path / "real"
    real.mkdir()
    (real / "assay-run.out.status").write_text(json.dumps({"exit_code": 3}))
    assert json.loads(local_status_text(real / "assay-run.out.status") or "") == {  # type: ignore[arg-type]
        "exit_code": 3
    }


def test_a_tail_still_follows_the_users_own_links_above_the_directory(tmp_path: Path) -> None:
    # ~/runs -> /data/runs: the user's, above the case's directory: read as before.
    (tmp_path / "data" / "case").mkdir(parents=True)
    (tmp_path / "data" / "case" / "assay-run.out").write_text("fine\n")
    os.symlink(tmp_path / "data", tmp_path / "runs")
    assert tail(tmp_path / "runs" / "case" / "assay-run.out") == "fine"


def test_a_summary_note_escapes_a_newline_in_the_directorys_name(tmp_path: Path) -> None:
    kept = _swapped(tmp_path)
    odd = kept.with_name("case\n\x1b[2Jx")
    os.rename(kept, odd)
    lines = failure_block(_failed(odd), _Hint()).lines(Caps().per_failure, "")
    notes = [t for t, _ in lines if "not shown" in t]
    assert len(notes) == 2  # stdout, stderr
    assert not any("\n" in t or "\x1b" in t for t in notes)
    assert SECRET not in "".join(t for t, _ in lines)


def test_the_stage_dir_line_escapes_a_newline_and_an_escape_code_in_its_name(
    tmp_path: Path,
) -> None:
    odd = tmp_path / "runs\nFAIL forged\x1b[2J" / "case"
    result = _failed(tmp_path)
    result.stage_dir = str(odd)
    result.remote_dir = str(odd)
    lines = failure_block(result, _Hint()).lines(None, "")
    ends = [t for t, _ in lines if t.startswith(("  stage dir:", "  remote:"))]
    assert len(ends) == 2
    assert not any("\n" in t or "\x1b" in t for t in ends), ends
    assert "\\x0aFAIL forged\\x1b[2J" in ends[0]
