"""The runner against real processes: concurrency limits, serial policy, dependencies,
retries, stage dirs and outputs, interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# Each case appends "start end" (monotonic ns from bash's EPOCHREALTIME) to a shared log,
# so the test can compute how many ran at once.
OVERLAP = """
import assay

class Span(assay.Test):
    i = assay.parameter(range(6))
    log = assay.variable(str, "")
    command = "s=$EPOCHREALTIME; sleep 0.3; echo $s $EPOCHREALTIME >> {log}"
"""


def _max_overlap(log: Path) -> int:
    spans = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def test_max_jobs_limits_concurrency(assay_cli, write, tmp_path):
    write("test_span.py", OVERLAP)
    log = tmp_path / "spans.log"
    result = assay_cli("run", "test_span.py", "--max-jobs", "2", "-S", f"log={log}", "--plain")
    assert result.code == 0, result
    assert len(log.read_text().splitlines()) == 6
    assert _max_overlap(log) == 2


def test_serial_policy_runs_one_case_at_a_time(assay_cli, write, tmp_path):
    write("test_span.py", OVERLAP)
    log = tmp_path / "spans.log"
    result = assay_cli("run", "test_span.py", "--serial", "-S", f"log={log}", "--plain")
    assert result.code == 0, result
    assert _max_overlap(log) == 1


# The first case's check waits (a bounded wait, not a timing) for the mark the second case's
# command makes: it finds it only if the second case's job runs while the first is checked.
CHECKED_WHILE_NEXT_RUNS = """
import os, time
import assay

class Mark(assay.Test):
    i = assay.parameter([0, 1])
    marks = assay.variable(str, "")
    command = "touch {marks}/mark-{i}"
METRIC

    def sanity(self, out):
        if self.i == 0:
            mark = os.path.join(self.marks, "mark-1")
            for _ in range(TRIES):
                if os.path.exists(mark):
                    break
                time.sleep(0.02)
            with open(os.path.join(self.marks, "seen"), "w") as f:
                f.write(str(os.path.exists(mark)))
            assert not os.path.exists(os.path.join(self.marks, "fail"))
"""


def _marks(metric: str = "", tries: int = 25) -> str:
    return CHECKED_WHILE_NEXT_RUNS.replace("METRIC", metric).replace("TRIES", str(tries))


def test_serial_checks_a_finished_case_while_the_next_ones_job_runs(assay_cli, write, tmp_path):
    # --serial runs one job at a time; the checks of a finished case (this process's work)
    # overlap the next case's job.
    write("test_mark.py", _marks(tries=500))
    result = assay_cli("run", "test_mark.py", "--serial", "-S", f"marks={tmp_path}", "--plain")
    assert result.code == 0, result
    assert (tmp_path / "seen").read_text() == "True"


def test_serial_never_overlaps_checks_with_a_job_when_a_test_measures_performance(
    assay_cli, write, tmp_path
):
    # A performance test's job must not run beside another case's checks under --serial.
    metric = "    @assay.metric('s')\n    def value(self, out):\n        return 1\n"
    write("test_mark.py", _marks(metric))
    result = assay_cli("run", "test_mark.py", "--serial", "-S", f"marks={tmp_path}", "--plain")
    assert (tmp_path / "seen").read_text() == "False", result
    assert (tmp_path / "mark-1").exists()


def test_exit_first_starts_no_case_while_a_failed_case_is_checked(assay_cli, write, tmp_path):
    write("test_mark.py", _marks())
    (tmp_path / "fail").touch()
    result = assay_cli(
        "run", "test_mark.py", "--serial", "--exit-first", "-S", f"marks={tmp_path}", "--plain"
    )
    assert result.code == 1, result
    assert (tmp_path / "seen").read_text() == "False", result
    assert not (tmp_path / "mark-1").exists()


def test_cases_run_concurrently_by_default(assay_cli, write, tmp_path):
    write("test_span.py", OVERLAP)
    log = tmp_path / "spans.log"
    result = assay_cli("run", "test_span.py", "--max-jobs", "6", "-S", f"log={log}", "--plain")
    assert result.code == 0, result
    assert _max_overlap(log) >= 3


def test_dependency_runs_first_and_shares_its_stage_dir(assay_cli, write):
    write(
        "test_deps.py",
        """
        import assay

        class Produce(assay.Test):
            command = "echo 12345 > value.txt"

        class Consume(assay.Test):
            depends_on = ["Produce"]
            command = "cat {source}"
            source = assay.variable(str, "")

            @assay.before("run")
            def locate(self):
                self.source = str(self.dependency("Produce").stage_dir / "value.txt")

            def sanity(self, out):
                out.expect("12345")

        class Broken(assay.Test):
            command = "exit 1"

        class AfterBroken(assay.Test):
            depends_on = ["Broken"]
            command = "true"
        """,
    )
    result = assay_cli("run", "test_deps.py", "-n", "Consume|AfterBroken", "--plain")
    assert result.code == 1, result
    produce, consume = result.case("Produce"), result.case("Consume")
    assert produce["status"] == "passed" and not produce["selected"]  # pulled in
    assert consume["status"] == "passed"
    assert consume["dependencies"] == [produce["name"]]
    assert produce["finished"] <= consume["started"]
    # The dependency's stage dir lived until its dependent was done, then went away.
    stage = Path(result.report["session"]["directory"]) / "stage" / f"Produce-{produce['id']}"
    assert not stage.exists()
    skipped = result.case("AfterBroken")
    assert skipped["status"] == "skipped"
    assert skipped["skip_reason"] == "dependency failed: Broken @local:default+builtin"


def test_retries_rerun_a_failed_case_and_record_earlier_failures(assay_cli, write, tmp_path):
    counter = tmp_path / "attempts"
    write(
        "test_flaky.py",
        f"""
        import assay

        class Flaky(assay.Test):
            # Fails on the first two attempts, passes on the third.
            command = "echo x >> {counter}; test $(wc -l < {counter}) -ge 3"
        """,
    )
    once = assay_cli("run", "test_flaky.py", "--max-retries", "1", "--plain")
    assert once.code == 1
    assert once.case("Flaky")["attempts"] == 2
    counter.unlink()
    result = assay_cli("run", "test_flaky.py", "--max-retries", "2", "--plain")
    assert result.code == 0, result
    case = result.case("Flaky")
    assert case["attempts"] == 3
    assert [f["stage"] for f in case["earlier_failures"]] == ["sanity", "sanity"]
    assert "[RETRY] Flaky @local:default+builtin failed (sanity: exit code 1" in result.stdout


def test_stage_dirs_removed_on_pass_kept_on_failure_outputs_kept_for_all(assay_cli, write):
    write(
        "test_stage.py",
        """
        import assay

        class Good(assay.Test):
            command = "echo data > result.txt; echo big > scratch.bin"
            keep_files = ["result.txt"]

        class Bad(assay.Test):
            command = "echo data > result.txt; exit 1"
        """,
    )
    result = assay_cli("run", "test_stage.py", "--plain")
    good, bad = result.case("Good"), result.case("Bad")
    assert good["stage_dir"] is None
    # (Its stdout and stderr, empty, are not kept: see test_spare_outputs.py.)
    assert sorted(os.listdir(good["output_dir"])) == ["assay-run.sh", "result.txt"]
    assert Path(bad["stage_dir"], "result.txt").read_text() == "data\n"
    assert Path(bad["output_dir"], "assay-run.sh").exists()
    kept = assay_cli("run", "test_stage.py", "-n", "Good", "--keep-stage", "--plain")
    stage = Path(kept.case("Good")["stage_dir"])
    assert (stage / "scratch.bin").exists() and (stage / "result.txt").exists()


def test_hooks_run_around_stages_in_order_and_can_change_the_command(assay_cli, write):
    write(
        "test_hooks.py",
        """
        import assay

        class Base(assay.Test):
            abstract = True
            command = "echo base"

            @assay.before("setup")
            def first(self):
                self.env["ORDER"] = "base"

        class Hooked(Base):
            @assay.after("setup")
            def second(self):
                self.env["ORDER"] += ",derived"
                self.command = "echo $ORDER ran-{who}"

            who = assay.parameter(["me"])

            def sanity(self, out):
                out.expect(r"^base,derived ran-me$")
        """,
    )
    result = assay_cli("run", "test_hooks.py", "--plain")
    assert result.code == 0, result


def test_a_hook_that_puts_no_utf8_text_in_the_command_fails_the_case_named(assay_cli, write):
    # A file name from os.listdir in another encoding holds a lone surrogate; set by a hook
    # (after the load's checks), it failed the run stage with the raw codec error
    # ("surrogates not allowed") and a traceback, naming no line.
    write(
        "test_hooked.py",
        """
        import assay

        class Late(assay.Test):
            command = "echo base"

            @assay.after("setup")
            def late(self):
                self.command = "cat data-" + b"\\xff".decode(errors="surrogateescape")
        """,
    )
    result = assay_cli("run", "test_hooked.py", "--plain")
    assert result.code == 1, result
    (case,) = result.report["cases"]
    reason = case["failure"]["reason"]
    assert "the job script assay-run.sh would hold the line" in reason, reason
    assert "cat data-\\udcff" in reason and "which is not utf-8 text" in reason.lower()
    assert "shell glob" in reason and "UnicodeEncodeError" not in result.stdout + result.stderr


def test_stage_timings_are_recorded_for_every_stage_that_ran(assay_cli, write):
    write(
        "test_timed.py",
        """
        import assay

        class Timed(assay.Test):
            build = "sleep 0.2"
            command = "sleep 0.3"
        """,
    )
    result = assay_cli("run", "test_timed.py", "--plain")
    timings = result.case("Timed")["timings"]
    assert list(timings) == ["setup", "build", "run", "sanity", "performance", "cleanup"]
    assert 0.2 <= timings["build"] < 20 and 0.3 <= timings["run"] < 20


def _pgid_alive(pgids: set[int]) -> list[str]:
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp in pgids and state != "Z":  # zombies are dead, only not yet reaped
            alive.append(f"{entry.name} {stat[:80]}")
    return alive


def _interrupt(tmp_path: Path, write, sig: signal.Signals) -> tuple[int, str, set[int]]:
    pids = tmp_path / "pids"
    pids.mkdir()
    write(
        "test_sleep.py",
        f"""
        import assay

        class Quick(assay.Test):
            command = "echo quick"

        class Sleeper(assay.Test):
            i = assay.parameter(range(8))
            # The job script's shell leads the case's process group; record it.
            command = "echo $$ > {pids}/{{i}}; sleep 30 & sleep 30; wait"
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_sleep.py", "--plain", "--max-jobs", "9"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(list(pids.iterdir())) < 8:
        assert time.monotonic() < deadline, f"only {len(list(pids.iterdir()))} of 8 started"
        time.sleep(0.05)
    # A file is written (empty) before its pid is: read again until all eight say one.
    while not all(p.read_text().strip() for p in pids.iterdir()):
        assert time.monotonic() < deadline, "a pid file stayed empty"
        time.sleep(0.05)
    pgids = {int(p.read_text()) for p in pids.iterdir()}
    assert len(pgids) == 8
    # The sleepers start after the pid is written: wait for them (no fixed sleep, which
    # under load can run out before they are all there).
    while len(_pgid_alive(pgids)) < 16:  # 8 shells and their sleeps
        assert time.monotonic() < deadline, _pgid_alive(pgids)
        time.sleep(0.05)
    # Quick's verdict is in the journal (the only one before the signal): it started with the
    # sleepers but may finish after them under load, and would then be interrupted too.
    while not any(
        '"result"' in j.read_text() for j in tmp_path.glob(".assay/runs/*/journal.jsonl")
    ):
        assert time.monotonic() < deadline, "Quick never finished"
        time.sleep(0.05)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out, pgids


def test_sigterm_stops_every_process_group_and_keeps_the_report(tmp_path, write):
    code, out, pgids = _interrupt(tmp_path, write, signal.SIGTERM)
    assert code == 143, out
    assert _pgid_alive(pgids) == []
    from tests.conftest import CliResult

    report = CliResult((), code, out, "", tmp_path).report
    assert report["session"]["interrupted"] == "SIGTERM"
    statuses = {c["name"].split(" ")[0]: c["status"] for c in report["cases"]}
    assert statuses.pop("Quick") == "passed"
    assert set(statuses.values()) == {"aborted"} and len(statuses) == 8
    for case in report["cases"][1:]:
        assert case["failure"] == {"stage": "run", "reason": "interrupted", "details": None}
    assert "8 aborted" in out and "(interrupted by SIGTERM)" in out


def test_ctrl_c_exits_130_and_leaves_nothing_running(tmp_path, write):
    code, out, pgids = _interrupt(tmp_path, write, signal.SIGINT)
    assert code == 130, out
    assert _pgid_alive(pgids) == []


def test_failed_reruns_only_what_failed_last_time(assay_cli, write):
    write(
        "test_mix.py",
        """
        import assay

        class Ok(assay.Test):
            command = "true"

        class Ko(assay.Test):
            i = assay.parameter([1, 2])
            fixed = assay.variable(int, 0)
            command = "exit $(( {fixed} ? 2 : {i} ))"
            exit_codes = 2
        """,
    )
    first = assay_cli("run", "test_mix.py", "--plain")
    assert first.code == 1
    again = assay_cli("run", "test_mix.py", "--failed", "--plain")
    assert [c["name"] for c in again.report["cases"]] == ["Ko[i=1] @local:default+builtin"]
    empty = assay_cli("run", "test_mix.py", "-n", "Ok", "--plain")
    assert empty.code == 0
    # A session that ran other cases hides no failure: --failed reads each case's last
    # verdict in the results database.
    still = assay_cli("run", "test_mix.py", "--failed", "--plain")
    assert [c["name"] for c in still.report["cases"]] == ["Ko[i=1] @local:default+builtin"]
    fixed = assay_cli("run", "test_mix.py", "--failed", "-S", "Ko.fixed=1", "--plain")
    assert fixed.code == 0, fixed
    nothing = assay_cli("run", "test_mix.py", "--failed")
    assert nothing.code == 2, nothing
    assert "no case's last verdict is a failure" in nothing.stderr


def test_artifacts_are_unpacked_once_per_session_and_exported(assay_cli, write, tmp_path):
    import tarfile

    (tmp_path / "tree/bin").mkdir(parents=True)
    tool = tmp_path / "tree/bin/tool"
    tool.write_text('#!/bin/sh\necho tool v1 "$@"\n')
    tool.chmod(0o755)
    with tarfile.open(tmp_path / "base.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "tree", arcname=".")
    tool.write_text('#!/bin/sh\necho tool v2 "$@"\n')
    with tarfile.open(tmp_path / "delta.tar.gz", "w:gz") as tar:
        tar.add(tool, arcname="bin/tool")
    write(
        "test_art.py",
        """
        import assay

        class UsesBuild(assay.Test):
            i = assay.parameter(range(4))
            artifacts = {"build": ["base.tar.gz", "delta.tar.gz"]}
            command = "$ASSAY_BUILD/bin/tool {i}"

            def sanity(self, out):
                out.expect(rf"^tool v2 {self.i}$")
                assert (self.case.artifacts["build"] / "bin" / "tool").exists()

        class FromDependency(assay.Test):
            depends_on = ["Pack"]
            artifacts = {"data": "dep:Pack/data.tar"}
            command = "cat $ASSAY_DATA/hello.txt"

            def sanity(self, out):
                out.expect("^packed$")

        class Pack(assay.Test):
            command = "echo packed > hello.txt && tar cf data.tar hello.txt"
        """,
    )
    result = assay_cli("run", "test_art.py", "--plain")
    assert result.code == 0, result
    store = result.cwd / ".store"
    # The two layers became named versions, stacked into one checkout; the dependency's
    # archive was imported unnamed: two checkouts in all, whatever the number of cases.
    assert sorted(p.name for p in (store / "names").iterdir() if p.is_dir()) == ["base", "delta"]
    assert len(list((store / "checkouts").iterdir())) == 2
    # Each case says which store versions it used (report and results database).
    used = result.case("UsesBuild[i=0]")["artifacts"]
    assert [(u["artifact"], u["layer"], u["ref"]) for u in used] == [
        ("build", 0, "base@1"),
        ("build", 1, "delta@1"),
    ]
    assert all(len(u["tree"]) == 64 for u in used)
    dep = result.case("FromDependency")["artifacts"]
    assert [(u["artifact"], u["ref"]) for u in dep] == [("data", None)]
    from assay.results.db import ResultsDB

    with ResultsDB.open(result.cwd / ".assay/results.sqlite") as db:
        case_id = result.case("UsesBuild[i=0]")["id"]
        session_id = result.report["session"]["id"]
        recorded = db.artifacts_of(session_id, case_id)
        assert recorded == [(u["artifact"], u["layer"], u["ref"], u["tree"]) for u in used]
    again = assay_cli("run", "test_art.py", "-n", "UsesBuild", "--plain")
    assert again.code == 0
    assert len(list((store / "checkouts").iterdir())) == 2  # reused, not made again


def test_missing_artifact_is_reported_when_the_test_is_loaded(assay_cli, write):
    write(
        "test_missing.py",
        """
        import assay

        class NoBuild(assay.Test):
            artifacts = {"build": "nowhere/solver.tar.gz"}
            command = "true"

        class Fine(assay.Test):
            command = "true"
        """,
    )
    result = assay_cli("run", "test_missing.py", "--plain")
    assert result.code == 1
    assert result.case("Fine")["status"] == "passed"
    (problem,) = result.report["problems"]
    assert problem["location"].endswith("test_missing.py:3")
    assert "artifact 'build':" in problem["message"]
    assert "nowhere/solver.tar.gz does not exist" in problem["message"]


def test_hooks_run_around_every_stage_in_order_and_a_test_without_hooks_runs_the_same(
    tmp_path, write, assay_cli
):
    log = tmp_path / "hooks.log"
    stages = ("setup", "build", "run", "sanity", "performance", "cleanup")
    hooks = "".join(
        f"    @assay.{when}({stage!r})\n"
        f"    def {when}_{stage}(self):\n"
        f"        open({str(log)!r}, 'a').write('{when} {stage}\\n')\n"
        for stage in stages
        for when in ("before", "after")
    )
    write(
        "test_hooked.py",
        "import assay\n\n\nclass Hooked(assay.Test):\n"
        "    build = 'true'\n    command = 'echo hi'\n\n" + hooks + "\n\n"
        "class Plain(assay.Test):\n    command = 'echo hi'\n",
    )
    result = assay_cli("run", "test_hooked.py", "--plain")
    assert result.code == 0, result
    assert log.read_text().split("\n")[:-1] == [
        f"{when} {stage}" for stage in stages for when in ("before", "after")
    ]
    assert result.case("Plain")["status"] == result.case("Hooked")["status"] == "passed"


def test_a_stage_without_hooks_of_its_own_is_passed_by_when_other_stages_have_some(
    tmp_path, write, assay_cli
):
    # A hook on run only (as a suite case has one before setup): performance, with no
    # metrics and no hook of its own, is passed by and its time recorded as none (0.0), as
    # for a test without hooks; the run hooks still run.
    log = tmp_path / "hooks.log"
    write(
        "test_run_hooked.py",
        "import assay\n\n\nclass RunHooked(assay.Test):\n    command = 'echo hi'\n\n"
        "    @assay.before('run')\n    def before_run(self):\n"
        f"        open({str(log)!r}, 'a').write('before run\\n')\n\n"
        "    @assay.after('run')\n    def after_run(self):\n"
        f"        open({str(log)!r}, 'a').write('after run\\n')\n",
    )
    result = assay_cli("run", "test_run_hooked.py", "--plain")
    assert result.code == 0, result
    assert log.read_text().splitlines() == ["before run", "after run"]
    timings = result.case("RunHooked")["timings"]
    assert set(timings) == {"setup", "run", "sanity", "performance", "cleanup"}
    assert timings["performance"] == 0.0
