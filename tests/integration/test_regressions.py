"""Metrics against the history of earlier sessions in the prefix: real runs, real reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import jsonschema

from assay.results.model import CaseResult, Status
from assay.results.report import schema
from assay.results.series import SessionDirs
from tests.conftest import ROOT, CliResult
from tests.integration.test_history import use_database

RATE = """
import os
import assay

class Triad(assay.Test):
    command = "echo rate: $RATE"
    env = {"RATE": os.environ["RATE"]}

    @assay.metric("GB/s")
    def triad(self, out):
        return out.extract(r"rate: (\\S+)", float)

class Timed(assay.Test):
    command = "echo took: $TOOK"
    env = {"TOOK": os.environ.get("TOOK", "5")}

    @assay.metric("s", better="higher")  # declared: a longer time is better here
    def took(self, out):
        return out.extract(r"took: (\\S+)", float)
"""

HISTORY = [10.3, 10.2, 10.4, 10.3, 10.25, 10.35, 10.3, 10.2, 10.4, 10.3]


def _history(assay_cli, write, values=HISTORY) -> None:
    write("test_rate.py", RATE)
    for value in values:
        done = assay_cli("run", "test_rate.py", "--plain", env={"RATE": str(value)})
        assert done.code == 0, done


def _by_start(tmp_path: Path) -> list[str]:
    """The sessions under the prefix, oldest first (ids of one second do not sort by time)."""
    runs = (tmp_path / ".assay" / "runs").iterdir()
    started = {
        p.name: json.loads((p / "report.json").read_text())["session"]["started"] for p in runs
    }
    return sorted(started, key=started.__getitem__)


def _run(assay_cli, *args: str, rate: float, took: float = 5) -> CliResult:
    return assay_cli(
        "run", "test_rate.py", "--plain", *args, env={"RATE": str(rate), "TOOK": str(took)}
    )


def test_a_regression_is_reported_and_fails_the_run_when_asked(assay_cli, write, tmp_path):
    _history(assay_cli, write)
    sessions = _by_start(tmp_path)
    result = _run(assay_cli, "--fail-on-regression", "--repeat", "2", rate=9.1)
    assert result.code == 1, result
    assert "1 metric(s) regressed against history (--fail-on-regression):" in result.stdout
    assert (
        "triad: 9.1 GB/s, 11.7% below the level of 10.3 GB/s since session "
        f"{sessions[0]} (change point at session" in result.stdout
    )
    report = result.report
    jsonschema.validate(report, schema())
    assert report["summary"]["ok"] is False and report["summary"]["regressions"] == 1
    assert report["summary"]["failed"] == 0  # every case passed: the history failed it
    (change,) = report["regressions"]
    assert change["metric"] == "triad" and change["kind"] == "regression"
    assert change["session"] == report["session"]["id"]
    assert change["since"] == sessions[0]
    assert change["pvalue"] < 0.005
    assert abs(change["relative"] - (9.1 / 10.3 - 1)) < 0.002


def test_without_the_flag_a_regression_is_reported_but_does_not_fail(assay_cli, write):
    _history(assay_cli, write)
    result = _run(assay_cli, "--repeat", "2", rate=9.1)
    assert result.code == 0, result
    assert "1 metric(s) regressed against history:" in result.stdout
    assert result.report["summary"]["ok"] is True
    assert result.report["summary"]["regressions"] == 1


def test_one_sample_is_no_level_until_a_second_session_or_min_size_1(assay_cli, write):
    """With the default min_size of 2, a change needs two samples after it: one more run,
    or --repeat. `[detection] min_size = 1` makes one sample enough."""
    _history(assay_cli, write)
    first = _run(assay_cli, "--fail-on-regression", rate=9.1)
    assert first.code == 0 and first.report["regressions"] == [], first
    first_id = first.report["session"]["id"]  # .report reads the newest session's
    second = _run(assay_cli, "--fail-on-regression", rate=9.1)
    assert second.code == 1, second
    (change,) = second.report["regressions"]
    assert change["session"] == first_id  # where the change began
    write("assay.toml", CONFIG_MIN_SIZE_1)
    again = _run(assay_cli, "--fail-on-regression", rate=7.0)
    assert again.code == 1, again
    (change,) = again.report["regressions"]
    assert change["session"] == again.report["session"]["id"]


CONFIG_MIN_SIZE_1 = """
[systems.local]
[systems.local.partitions.default]

[detection]
min_size = 1
"""


def test_detection_settings_are_checked(assay_cli, write):
    write("test_rate.py", RATE)
    write("assay.toml", CONFIG_MIN_SIZE_1.replace("min_size = 1", "alpha = 1.5"))
    result = _run(assay_cli, rate=1.0)
    assert result.code == 2
    assert "assay.toml: detection: alpha must be between 0 and 1, got 1.5" in result.stderr
    assert "Traceback" not in result.stderr


def test_noise_and_improvements_do_not_fail(assay_cli, write):
    _history(assay_cli, write)
    same = _run(assay_cli, "--fail-on-regression", rate=10.3)
    assert same.code == 0, same
    assert same.report["regressions"] == []
    better = _run(assay_cli, "--fail-on-regression", "--repeat", "2", rate=12.0)
    assert better.code == 0, better
    assert "1 metric(s) improved against history:" in better.stdout
    assert [r["kind"] for r in better.report["regressions"]] == ["improvement"]


def test_the_declared_direction_wins_over_the_unit(assay_cli, write):
    _history(assay_cli, write)
    # "s" would say lower is better; the test declared better="higher": 2 s is worse than 5.
    result = _run(assay_cli, "--fail-on-regression", "--repeat", "2", rate=10.3, took=2)
    assert result.code == 1, result
    (change,) = result.report["regressions"]
    assert change["metric"] == "took" and change["kind"] == "regression"
    timed = [c for c in result.report["cases"] if c["test"] == "Timed"]
    assert [c["metrics"][0]["better"] for c in timed] == ["higher", "higher"]


def test_no_history_no_verdict(assay_cli, write):
    write("test_rate.py", RATE)
    result = _run(assay_cli, "--fail-on-regression", rate=1.0)
    assert result.code == 0, result
    assert result.report["regressions"] == []


def test_unreadable_reports_in_history_are_left_out(assay_cli, write, tmp_path):
    _history(assay_cli, write)
    runs = sorted((tmp_path / ".assay" / "runs").iterdir())
    (runs[3] / "report.json").write_text("{ not json")
    (runs[4] / "report.json").unlink()
    (runs[5] / "report.json").write_text(json.dumps({"cases": [{"id": 3, "metrics": "x"}]}))
    # A value no run can produce (json reads NaN and Infinity) is not history either.
    damaged = json.loads((runs[6] / "report.json").read_text())
    damaged["cases"][0]["metrics"][0]["value"] = float("nan")
    damaged["cases"][1]["metrics"][0]["value"] = float("inf")
    (runs[6] / "report.json").write_text(json.dumps(damaged))
    result = _run(assay_cli, "--fail-on-regression", "--repeat", "2", rate=9.1)
    assert result.code == 1, result
    assert [r["metric"] for r in result.report["regressions"]] == ["triad"]


def _result(case_id: str) -> CaseResult:
    return CaseResult("T @l:p+e", case_id, "T", "T", {}, "l", "p", "e", Status.PASSED)


def test_session_dirs_read_only_older_sessions_with_their_commit(tmp_path):
    runs = tmp_path / "runs"

    def report(session: str, value: float, started: str, git: dict[str, str] | None = None) -> None:
        (runs / session).mkdir(parents=True)
        info = {"id": session, "started": started}
        if git:
            info["git"] = git
        data = {
            "session": info,
            "cases": [{"id": "abcd1234", "metrics": [{"name": "m", "value": value, "unit": "s"}]}],
        }
        (runs / session / "report.json").write_text(json.dumps(data))

    # Two sessions in one second: their ids do not sort by time, their start times do.
    report("20261101-100000-ffff", 1.0, "2026-11-01T10:00:00.100+00:00", {"commit": "0123abc"})
    report("20261101-100000-aaaa", 2.0, "2026-11-01T10:00:00.900+00:00")
    report("20261103-100000-cccc", 3.0, "2026-11-03T10:00:00.000+00:00")
    report("20261104-100000-dddd", 4.0, "2026-11-04T10:00:00.000+00:00")
    until = datetime.fromisoformat("2026-11-03T10:00:00.000+00:00").timestamp()
    source = SessionDirs(tmp_path, exclude="20261103-100000-cccc", until=until)
    points = source.metric_series(_result("abcd1234"), "m")
    assert [(p.session, p.value, p.commit, p.unit) for p in points] == [
        ("20261101-100000-ffff", 1.0, "0123abc", "s"),
        ("20261101-100000-aaaa", 2.0, None, "s"),
    ]
    assert points[0].time is not None and points[1].time is not None
    assert points[0].time < points[1].time
    assert source.metric_series(_result("ffff0000"), "m") == []
    assert SessionDirs(tmp_path, limit=1).metric_series(_result("abcd1234"), "m")[0].value == 4.0
    assert SessionDirs(tmp_path / "nothing").metric_series(_result("abcd1234"), "m") == []


def test_session_dirs_keep_apart_node_counts(tmp_path):
    """The series key has the node count: a case on 2 nodes is not held against 1 node.
    Reports from before node counts were recorded (no `nodes`) count for any."""
    runs = tmp_path / "runs"
    for n, (session, nodes, value) in enumerate(
        [("s-old", None, 1.0), ("s-one", 1, 2.0), ("s-two", 2, 3.0)]
    ):
        (runs / session).mkdir(parents=True)
        case = {"id": "abcd1234", "metrics": [{"name": "m", "value": value}]}
        if nodes is not None:
            case["nodes"] = nodes
        info = {"id": session, "started": f"2026-11-0{n + 1}T10:00:00+00:00"}
        (runs / session / "report.json").write_text(json.dumps({"session": info, "cases": [case]}))
    two = _result("abcd1234")
    two.nodes = 2
    assert [p.value for p in SessionDirs(tmp_path).metric_series(two, "m")] == [1.0, 3.0]


def test_history_comes_from_the_database_when_the_session_dirs_are_gone(
    assay_cli, write, tmp_path, results_target
):
    """--fail-on-regression and the HTML report read the results database: sessions whose
    directories were cleaned up still count."""
    use_database(tmp_path, results_target)
    _history(assay_cli, write)
    runs = (tmp_path / ".assay" / "runs").resolve()
    assert runs.is_relative_to(tmp_path.resolve())
    for old in runs.iterdir():
        shutil.rmtree(old)
    result = _run(assay_cli, "--fail-on-regression", "--repeat", "2", "--html", "r.html", rate=9.1)
    assert result.code == 1, result
    (change,) = result.report["regressions"]
    assert change["metric"] == "triad" and change["kind"] == "regression"
    assert "11.7% below the level of 10.3 GB/s" in change["message"]
    page = (tmp_path / "r.html").read_text()
    assert "· 11 session(s)" in page


def test_the_trend_example_finds_the_slowdown_and_draws_it(tmp_path):
    """examples/trend/plot_trend.py (the README's plot): real sessions, the database, the
    HTML report's plotting code. The step is in the last session: with two sessions after
    it, their random noise (1.5%) made a change point between them once in CI (p=0.0049,
    the detection's false alarms), and the newest change point is the one described."""
    out = tmp_path / "trend.svg"
    arguments = ["--sessions", "6", "--step-at", "5", "--out", str(out), "--work", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "trend" / "plot_trend.py"), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "below the level of" in done.stdout and "regression)" in done.stdout
    svg = out.read_text()
    assert svg.startswith(("<?xml", "<svg")), svg[:100]
    assert svg.count("<path") > 10  # points, levels and the change point are drawn
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_a_step_in_one_sample_is_not_judged_yet_then_flagged_at_the_next_run(
    assay_cli, write, tmp_path
):
    """Five runs at ~10, then two at 1 (each one sample): the sixth says its value is
    below every earlier one and not judged yet (not a failure, not "not significant");
    the seventh has two samples at the new level and is a regression."""
    _history(assay_cli, write, [10.1, 9.7, 10.4, 9.9, 10.2])
    sixth = _run(assay_cli, "--fail-on-regression", rate=1.0)
    assert sixth.code == 0, sixth
    assert "1 metric(s) not judged yet (too few samples to show a new level):" in sixth.stdout
    assert (
        "triad: 1 GB/s, below every one of the 5 earlier values (9.7 ... 10.4) since session "
    ) in sixth.stdout
    assert (
        "one sample cannot show a new level: the next run will judge it, or rerun with "
        "--repeat 2" in sixth.stdout
    )
    report = sixth.report
    jsonschema.validate(report, schema())
    assert report["regressions"] == [] and report["summary"]["ok"] is True
    (note,) = report["not_judged"]
    assert (note["metric"], note["kind"], note["side"]) == ("triad", "regression", "below")
    assert (note["samples"], note["needed"], note["earlier"]) == (1, 2, 5)
    assert (note["low"], note["high"], note["value"]) == (9.7, 10.4, 1.0)
    compared = json.loads(assay_cli("compare", "--json").stdout)
    verdicts = {m["metric"]: m["significance"] for m in compared["metrics"]}
    assert verdicts == {  # took stays at 5: within the noise of its history
        "triad": "not judged yet: 1 sample (2 needed; run with --repeat 2)",
        "took": "not significant",
    }
    # The same verdicts as data: what a script reads without parsing the text.
    judged = {m["metric"]: m["judgement"] for m in compared["metrics"]}
    assert judged["triad"] == {
        "verdict": "not judged yet",
        "pvalue": None,
        "at": None,
        "samples": 1,
        "needed": 2,
    }
    assert judged["took"]["verdict"] == "not significant"
    assert compared["judged"] == 50  # the 50 largest changes are judged without --all
    assert json.loads(assay_cli("compare", "--json", "--all").stdout)["judged"] is None
    assert "not judged yet: 1 sample" in assay_cli("compare").stdout
    seventh = _run(assay_cli, "--fail-on-regression", rate=1.0)
    assert seventh.code == 1, seventh
    assert "1 metric(s) regressed against history (--fail-on-regression):" in seventh.stdout
    assert "not judged yet" not in seventh.stdout
    (change,) = seventh.report["regressions"]
    assert change["kind"] == "regression" and change["session"] == report["session"]["id"]
    assert seventh.report["not_judged"] == []
    # From the fifth run (the last at ~10) to the seventh: a regression that began at the sixth.
    fifth, sixth_id, seventh_id = _by_start(tmp_path)[4:]
    shown = assay_cli("compare", "--json", fifth, seventh_id)
    verdicts = {m["metric"]: m["significance"] for m in json.loads(shown.stdout)["metrics"]}
    assert verdicts["triad"].startswith("regression, p="), verdicts
    assert verdicts["triad"].endswith(f", at {sixth_id}"), verdicts
    (triad,) = [m for m in json.loads(shown.stdout)["metrics"] if m["metric"] == "triad"]
    judgement = triad["judgement"]
    assert (judgement["verdict"], judgement["at"]) == ("regression", sixth_id)
    assert 0 < judgement["pvalue"] < 0.05 and judgement["samples"] is None
