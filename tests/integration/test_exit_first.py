"""--max-cases (a cap on the cases running at once across partitions) and --exit-first
(no case starts after the first failure; --cancel-running also stops those running)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_runner import _max_overlap

TWO_PARTITIONS = """
[systems.here.partitions.a]
max_jobs = 4
[systems.here.partitions.b]
max_jobs = 4
"""

SPANS = """
import assay

class Span(assay.Test):
    i = assay.parameter(range(4))
    log = assay.variable(str, "")
    command = "s=$EPOCHREALTIME; sleep 0.3; echo $s $EPOCHREALTIME >> {log}"
"""

# Fails fast; then Slow runs for a while and leaves a mark if it is not stopped.
STOPPING = """
import assay

class Case(assay.Test):
    i = assay.parameter([0, 1, 2, 3])
    marks = assay.variable(str, "")
    command = '''bash -c 'case {i} in
      0) sleep 0.3; exit 1;;
      1) sleep 3; touch {marks}/done-1;;
      *) touch {marks}/done-{i};;
    esac' '''
"""


def test_max_cases_caps_the_cases_running_across_partitions(assay_cli, write, tmp_path):
    write("assay.toml", TWO_PARTITIONS)
    write("test_span.py", SPANS)
    log = tmp_path / "spans.log"
    result = assay_cli("run", "test_span.py", "--max-cases", "3", "-S", f"log={log}", "--plain")
    assert result.code == 0, result
    assert len(log.read_text().splitlines()) == 8  # 4 variants x 2 partitions
    assert _max_overlap(log) == 3
    assert result.report["session"]["options"]["max_cases"] == 3


def test_exit_first_starts_nothing_after_the_first_failure(assay_cli, write, tmp_path):
    write("test_stop.py", STOPPING)
    marks = tmp_path / "marks"
    marks.mkdir()
    result = assay_cli(
        "run", "test_stop.py", "--max-jobs", "2", "--exit-first", "-S", f"marks={marks}", "--plain"
    )
    assert result.code == 1, result
    assert result.case("Case[i=0]")["status"] == "failed"
    slow = result.case("Case[i=1]")
    assert slow["status"] == "passed"  # it was running: it finished
    assert (marks / "done-1").exists()
    for i in (2, 3):
        case = result.case(f"Case[i={i}]")
        assert case["status"] == "skipped"
        assert case["skip_reason"] == (
            "not run: --exit-first: Case[i=0] @local:default+builtin failed"
        )
        assert not (marks / f"done-{i}").exists()


def test_cancel_running_stops_the_cases_running_at_the_first_failure(assay_cli, write, tmp_path):
    write("test_stop.py", STOPPING)
    marks = tmp_path / "marks"
    marks.mkdir()
    result = assay_cli(
        "run",
        "test_stop.py",
        "--max-jobs",
        "2",
        "--exit-first",
        "--cancel-running",
        "-S",
        f"marks={marks}",
        "--plain",
    )
    assert result.code == 1, result  # a failure, not an interrupt
    slow = result.case("Case[i=1]")
    assert slow["status"] == "aborted"
    assert slow["failure"]["reason"] == (
        "cancelled: --exit-first: Case[i=0] @local:default+builtin failed"
    )
    assert slow["failure"]["stage"] == "run"
    assert not (marks / "done-1").exists()  # its process was stopped
    assert result.case("Case[i=2]")["status"] == "skipped"
    assert result.report["session"]["options"]["cancel_running"] is True


def test_without_exit_first_every_case_runs(assay_cli, write, tmp_path):
    write("test_stop.py", STOPPING)
    marks = tmp_path / "marks"
    marks.mkdir()
    result = assay_cli("run", "test_stop.py", "--max-jobs", "2", "-S", f"marks={marks}", "--plain")
    assert result.code == 1, result
    assert sorted(p.name for p in marks.iterdir()) == ["done-1", "done-2", "done-3"]


def test_cancel_running_needs_exit_first(assay_cli, write):
    write("test_stop.py", STOPPING)
    result = assay_cli("run", "test_stop.py", "--cancel-running")
    assert result.code == 2, result
    assert "--cancel-running without --exit-first" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Path(result.cwd / ".assay").exists()
