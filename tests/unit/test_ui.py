"""The terminal output: event lines, the final summary, the plain display and the live
display's rendering (rich renders to a string console here, as it would on a terminal)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from assay.plan import Case
from assay.results import scaling
from assay.results.model import (
    NOT_STARTED,
    CaseResult,
    Failure,
    MetricResult,
    Problem,
    Session,
    Status,
)
from assay.store.transfer import TransferProgress
from assay.summary import FULL
from assay.ui import LiveDisplay, PlainDisplay, RerunHint, event_line, summary_lines


def result(name: str, status: Status, **kw: object) -> CaseResult:
    base: dict[str, object] = {
        "name": name,
        "id": f"id-{name}",
        "test": name.split("[")[0],
        "variant": name,
        "params": {},
        "system": "sys",
        "partition": "part",
        "environment": "env",
        "status": status,
        "timings": {"run": 1.5},
    }
    base.update(kw)
    return CaseResult(**base)  # type: ignore[arg-type]


def session(*results: CaseResult, problems: list[Problem] | None = None) -> Session:
    return Session(
        id="s1",
        started=time.time() - 3,
        finished=time.time(),
        command=["assay", "run"],
        cwd="/",
        system="sys",
        config="built-in",
        hostname="h",
        user="u",
        version="0",
        results=list(results),
        problems=problems or [],
    )


def text(lines: list[tuple[str, str]]) -> str:
    return "\n".join(t for t, _ in lines)


# --- one line per event ----------------------------------------------------------------------


def test_event_line_of_each_status() -> None:
    metric = MetricResult("triad", 12345.678, "MB/s")
    ok = event_line(result("Ok", Status.PASSED, metrics=[metric]))
    assert ok == ("[   OK] Ok (1.5s)  triad=12346 MB/s", "green")
    failure = Failure("sanity", "pattern 'x' not found\nsecond line")
    bad = event_line(result("Bad", Status.FAILED, failure=failure))
    assert bad == ("[ FAIL] Bad (1.5s) sanity: pattern 'x' not found", "red")
    skip = event_line(result("Skip", Status.SKIPPED, skip_reason="dependency failed: A"))
    assert skip == ("[ SKIP] Skip: dependency failed: A", "yellow")
    assert event_line(result("Ab", Status.ABORTED))[0].startswith("[ABORT] Ab")


# --- the summary -----------------------------------------------------------------------------


def test_summary_of_a_failure_has_reason_output_tail_stage_dir_and_rerun(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "assay-run.out").write_text("".join(f"line {i}\n" for i in range(30)))
    (out / "assay-run.err").write_text("boom\n")
    failed = result(
        "Bad[x=1]",
        Status.FAILED,
        failure=Failure("sanity", "expected 3, got 4\nsee the diff", details="diff line"),
        output_dir=str(out),
        stage_dir=str(tmp_path / "stage"),
        attempts=2,
        file=str(tmp_path / "t.py"),
    )
    hint = RerunHint(config="my config.toml", settings=("n=2",))
    summary = text(summary_lines(session(failed, result("Ok", Status.PASSED)), hint, None, FULL))
    assert "1 case(s) failed:" in summary
    assert "FAIL Bad[x=1]  [id-Bad[x=1]]" in summary
    assert "  stage:     sanity" in summary
    assert "  reason:    expected 3, got 4\n             see the diff" in summary
    assert "  attempts:  2" in summary
    assert "    | line 29" in summary and "    | line 19" not in summary  # the last 10 lines
    assert "    | boom" in summary
    assert "    diff line" in summary
    # The rerun command quotes what the shell would split.
    assert "--config 'my config.toml' -S n=2 --case 'id-Bad[x=1]'" in summary
    assert summary.splitlines()[-1].startswith("1 passed, 1 failed, 0 skipped in ")


def test_summary_lists_aborted_cases_and_load_problems() -> None:
    aborted = result("Slow", Status.ABORTED, failure=Failure("run", "interrupted"))
    problem = Problem("tests/t.py:3", "command is not set\nhint line")
    s = session(aborted, problems=[problem])
    s.interrupted = "SIGINT"
    summary = text(summary_lines(s, RerunHint(), Path("report.json")))
    assert "1 case(s) aborted (run them again with --case):" in summary
    assert "  [id-Slow] Slow  (during run)" in summary
    assert "1 problem(s) loading tests:" in summary
    assert "  tests/t.py:3: command is not set\n  hint line" in summary
    assert "1 aborted in " in summary and "(interrupted by SIGINT)" in summary
    assert summary.splitlines()[-1] == "report: report.json"


def test_summary_verdict_style_says_whether_the_session_passed() -> None:
    good = summary_lines(session(result("Ok", Status.PASSED)), RerunHint(), None)
    assert good[-1][1] == "bold green"
    bad = summary_lines(
        session(result("Bad", Status.FAILED, failure=Failure("run", "exit 1"))), RerunHint(), None
    )
    assert bad[-1][1] == "bold red"


def test_summary_shows_a_scaling_table() -> None:
    rows = [
        result(f"S[nodes={n}]", Status.PASSED, params={"nodes": str(n)}, timings={"run": t})
        for n, t in ((1, 8.0), (2, 4.0), (4, 4.0))
    ]
    for r in rows:
        r.test, r.scaling = "S", "nodes"
    summary = text(summary_lines(session(*rows), RerunHint(), None))
    assert "scaling of S @sys:part+env" in summary
    rows_text = [line.split() for line in summary.splitlines() if line.startswith("    ")][1:]
    assert rows_text == [
        ["1", "8.000", "s", "1.00x", "100%"],
        ["2", "4.000", "s", "2.00x", "100%"],
        ["4", "4.000", "s", "2.00x", "50%"],
    ]


# --- the plain display -----------------------------------------------------------------------


def test_plain_display_writes_one_line_per_event_and_skips_routine_job_states() -> None:
    stream = io.StringIO()
    display = PlainDisplay(stream)
    display.start(2, "header")
    bad = result("Bad", Status.FAILED, failure=Failure("run", "exit code 2"))
    display.case_retrying(bad, 2)
    display.job_state("debug", "17", "PENDING", "Priority")  # routine: no line
    display.job_state("debug", "17", "RUNNING", None)  # routine: no line
    display.job_state("debug", "18", "PENDING", "ReqNodeNotAvail")
    display.job_state("debug", "19", "REQUEUED", None)
    display.case_finished(bad)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "header",
        "[RETRY] Bad failed (run: exit code 2); attempt 2",
        "[ JOB ] 18 on debug: PENDING (ReqNodeNotAvail)",
        "[ JOB ] 19 on debug: REQUEUED",
        "[ FAIL] Bad (1.5s) run: exit code 2",
    ]


# --- the live display ------------------------------------------------------------------------


def live(width: int = 100) -> tuple[LiveDisplay, io.StringIO]:
    display = LiveDisplay(max_rows=2)
    buffer = io.StringIO()
    display.console = Console(file=buffer, width=width, force_terminal=False, highlight=False)
    return display, buffer


def render(display: LiveDisplay) -> str:
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=False).print(display._render())
    return out.getvalue()


def test_live_display_counts_running_cases_and_time_left() -> None:
    display, _ = live()
    display.total = 4
    display.started = time.monotonic() - 10
    for name in ("A", "B", "C"):
        display.running[name] = time.monotonic() - 5
    display.case_finished(result("Done", Status.PASSED))
    screen = render(display)
    assert " 1/4 passed 1 failed 0 " in screen
    assert "left" in screen  # one of four done after 10 s: about 30 s to go
    assert "... and 1 more" in screen  # three running, two rows shown
    display.job_state("debug", "1", "PENDING", "Resources")
    display.job_state("debug", "2", "RUNNING", None)
    display.job_state("debug", "3", "COMPLETED", None)
    assert "debug: pending 1 (Resources)  running 1  done 1" in render(display)


def test_live_display_prints_failures_as_they_happen_and_the_summary_at_the_end() -> None:
    display, buffer = live()
    display.case_finished(result("Ok", Status.PASSED))
    display.case_finished(result("Bad", Status.FAILED, failure=Failure("run", "exit code 1")))
    printed = buffer.getvalue()
    assert "Ok" not in printed  # passed cases are counted, not printed
    assert "[ FAIL] Bad" in printed
    display.finish(
        session(result("Bad", Status.FAILED, failure=Failure("run", "exit code 1"))),
        RerunHint(),
        None,
    )
    assert "1 case(s) failed:" in buffer.getvalue()


def test_live_display_prints_test_text_without_interpreting_markup() -> None:
    display, buffer = live()
    reason = "expected [bold]x[/bold] got [red]y"
    display.case_finished(result("Bad", Status.FAILED, failure=Failure("sanity", reason)))
    assert reason in buffer.getvalue()


def test_live_display_takes_time_left_from_the_runners_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    display, _ = live()
    display.total = 4
    now = time.monotonic()
    # The clock stands still: under load 34 ms between here and the render made "~30.1s".
    monkeypatch.setattr(time, "monotonic", lambda: now)
    display.started = now - 10
    display.time_left = lambda: 125.0
    assert "~2m5s left" in render(display)  # before anything finished: history knows
    display.time_left = lambda: None  # nothing known: the old rule, elapsed per finished case
    display.case_finished(result("Done", Status.PASSED))
    assert "~30s left" in render(display)


def test_summary_says_how_far_the_first_estimate_was_off() -> None:
    s = session(result("A", Status.PASSED))
    s.finished = s.started + 110
    s.estimate = (0.0, 100.0)
    s.estimate_recorded = True
    assert "first estimate at the start: 1m40s in all; took 1m50s (10% longer)" in text(
        summary_lines(s, RerunHint(), None)
    )
    # Above the verdict: the counts and the report's path stay the summary's last lines.
    ends = [t for t, _ in summary_lines(s, RerunHint(), Path("s/report.json"))][-3:]
    assert ends[0].startswith("first estimate at the start")
    assert ends[1].startswith("1 passed, 0 failed, 0 skipped in ")
    assert ends[2] == "report: s/report.json"
    s.estimate = None
    assert "first estimate" not in text(summary_lines(s, RerunHint(), None))


def test_summary_leaves_out_an_estimate_that_was_a_guess_or_of_a_short_run() -> None:
    s = session(result("A", Status.PASSED))
    s.finished = s.started + 110
    s.estimate = (20.0, 200.0)  # made from the elapsed time once a case had finished
    s.estimate_recorded = False
    assert "first estimate" not in text(summary_lines(s, RerunHint(), None))
    s.estimate, s.estimate_recorded = (0.0, 0.011), True
    s.finished = s.started + 0.137  # recorded, but the whole run took a blink: noise
    assert "first estimate" not in text(summary_lines(s, RerunHint(), None))
    s.finished = s.started + 10.0
    assert "first estimate at the start" in text(summary_lines(s, RerunHint(), None))


# --- many failures: capped details, the list of failed cases, the performance table ----------


def _failures(n: int) -> list[CaseResult]:
    details = "\n".join(
        ["out.event: 5 lines differ", "  line 8: actual ends after line 7; expected has 5 more"]
        + [f"    expected: +EVENT {i}" for i in range(20)]
    )
    return [
        result(
            f"yaml[case=C{i:03d}] @sys:part+env",
            Status.FAILED,
            variant=f"yaml[case=C{i:03d}]",
            failure=Failure("sanity", f"out.event line 8: actual ends after line 7 ({i})", details),
        )
        for i in range(n)
    ]


def _above_the_list(lines: list[tuple[str, str]]) -> list[str]:
    texts = [t for t, _ in lines]
    return texts[: next(i for i, t in enumerate(texts) if t.startswith("failed ("))]


def test_on_an_80x24_terminal_the_details_fit_above_the_list_of_failures() -> None:
    display, _ = live(width=80)
    display.console.height = 24
    caps = display.caps()
    lines = summary_lines(session(*_failures(40)), RerunHint(), Path("s/report.json"), caps)
    above = _above_the_list(lines)
    assert sum(max(1, -(-len(t) // 80)) for t in above) <= 22
    assert above[1].startswith("40 case(s) failed; the first 1 in detail (all: s/summary.txt)")
    texts = [t for t, _ in lines]
    listed = texts[texts.index("failed (40), all @sys:part+env:") + 1 : -4]
    assert len(listed) == 40 and all(len(t) < 80 for t in listed)
    assert texts[-3] == "rerun the failed: assay run . --failed"
    assert listed[0] == "  yaml[case=C000]  sanity: out.event line 8: actual ends after line 7 (0)"


def test_a_failure_capped_keeps_its_name_reason_rerun_and_says_what_is_left_out() -> None:
    four = _failures(4)  # four failures share 40 lines: each is cut to 12
    one = four[0]
    lines = [t for t, _ in summary_lines(session(*four), RerunHint(), Path("s/report.json"))]
    block = lines[
        lines.index("FAIL yaml[case=C000] @sys:part+env  [id-yaml[case=C000] @sys:part+env]") :
    ]
    block = block[: block.index("")]
    assert len(block) == 12
    assert block[1:3] == [
        "  stage:     sanity",
        "  reason:    out.event line 8: actual ends after line 7 (0)",
    ]
    assert block[3:6] == [
        "  details:",
        "    out.event: 5 lines differ",
        "      line 8: actual ends after line 7; expected has 5 more",
    ]
    assert block[-2].startswith("  rerun:     assay run . --case ")
    assert block[-1] == "  (16 more line(s) of this failure: see s/summary.txt)"
    full = [t for t, _ in summary_lines(session(one), RerunHint(), Path("s/report.json"), FULL)]
    assert "    expected: +EVENT 19" in "\n".join(full)


def test_the_performance_table_lists_every_metric_worst_margin_first() -> None:
    def metric(
        name: str, value: float, ref: float, low: float | None, high: float | None, verdict: str
    ) -> MetricResult:
        return MetricResult(name, value, "s", ref, None, None, low, high, verdict)

    cases = [
        result("Fast", Status.PASSED, metrics=[metric("t", 1.0, 1.0, 0.5, 1.5, "pass")]),
        result("Tight", Status.PASSED, metrics=[metric("t", 1.45, 1.0, 0.5, 1.5, "pass")]),
        result(
            "Slow",
            Status.FAILED,
            failure=Failure("performance", "t"),
            metrics=[metric("t", 2.0, 1.0, None, 1.5, "fail")],
        ),
        result("Free", Status.PASSED, metrics=[MetricResult("n", 12.0, None)]),
    ]
    texts = [t for t, _ in summary_lines(session(*cases), RerunHint(), None, FULL)]
    start = next(i for i, t in enumerate(texts) if t.startswith("performance"))
    table = texts[start : start + 6]
    assert table[1].split() == [
        "case",
        "metric",
        "value",
        "reference",
        "[bounds]",
        "margin",
        "verdict",
    ]
    assert [row.split()[0] for row in table[2:]] == ["Slow", "Tight", "Fast", "Free"]
    assert table[2].split()[2:] == ["2", "s", "1", "[-,", "1.5]", "-50.0%", "fail"]
    assert table[3].split()[-2:] == ["+5.0%", "pass"]
    assert table[5].split()[-3:] == ["-", "no", "reference"]


def test_scaling_table_takes_the_median_of_repeated_samples() -> None:
    rows = []
    for repeat, times in enumerate(((8.0, 4.0), (9.0, 5.0), (100.0, 4.5)), start=1):
        for n, t in zip((1, 2), times, strict=True):
            r = result(f"S[nodes={n}]", Status.PASSED, params={"nodes": str(n)}, timings={"run": t})
            r.test, r.scaling, r.repeat = "S", "nodes", repeat
            rows.append(r)
    (table,) = scaling.tables(rows)
    assert [(row["size"], row["time"], row["samples"]) for row in table["rows"]] == [
        (1, 9.0, 3),
        (2, 4.5, 3),
    ]
    assert table["rows"][1]["speedup"] == 2.0


def test_live_display_shows_an_upload_with_rate_and_time_left_until_it_is_done() -> None:
    display, _ = live()
    display.total = 2
    progress = TransferProgress("sending", bytes_total=100_000_000, objects_total=40)
    display.upload("partition remote (login)", progress)
    display.uploads["partition remote (login)"] = (progress, time.monotonic() - 10)
    progress.bytes_done = 25_000_000  # a quarter in 10 s: 2.5 MB/s, about 30 s to go
    display.upload("partition remote (login)", progress)
    screen = render(display)
    assert "sending to partition remote (login): 25.0 MB of 100.0 MB" in screen
    assert "2.5 MB/s" in screen and "left" in screen
    progress.phase = "done"
    display.upload("partition remote (login)", progress)
    assert "sending to" not in render(display)


def test_plain_display_writes_a_line_per_upload_that_sent_something() -> None:
    out = io.StringIO()
    display = PlainDisplay(out)
    sent = TransferProgress("sending", bytes_total=2_500_000, objects_total=3)
    display.upload("partition remote (login)", sent)
    sent.phase = "done"
    display.upload("partition remote (login)", sent)
    nothing = TransferProgress("done")  # the host had it all
    display.upload("partition remote (login)", nothing)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("[ SEND] 2.5 MB (3 objects) to partition remote (login) in ")


def test_live_display_shows_a_host_away_until_its_connection_is_back() -> None:
    display, out = live()
    display.total = 1
    where = "partition lab:remote (login)"
    display.connection(where, "lost", "trying again for up to 10m (the jobs there keep running)")
    display.lost[where] = time.monotonic() - 12
    assert "partition lab:remote (login): connection lost 12s ago, trying again" in render(display)
    display.connection(where, "back", "after 12.3s")
    assert "connection lost" not in render(display)
    printed = out.getvalue()
    assert f"[ LOST] connection to {where} lost: trying again for up to 10m" in printed
    assert f"[ BACK] connection to {where} made again after 12.3s" in printed


def _case(name: str, key: str, repeat: int = 1) -> Case:
    """What the display reads of a planned case (its name, repetition and key)."""
    return SimpleNamespace(name=name, repeat=repeat, key=key)  # type: ignore[return-value]


def test_live_display_shows_each_running_cases_stage_and_its_jobs_state() -> None:
    display, _ = live()
    display.max_rows = 8
    build, single, packed = _case("Build", "b1"), _case("Solo", "s1"), _case("Packed", "p1")
    for case in (build, single, packed):
        display.case_started(case, 1)
    display.case_stage(build, "build")
    display.case_stage(single, "run")
    display.case_stage(packed, "run")
    display.job_state("cluster:batch", "assay-s1", "PENDING", "Priority")
    display.job_state("cluster:batch", "assay-pack-0001", "RUNNING", None, ("assay-p1",))
    lines = [line.split(None, 2) for line in render(display).splitlines()]
    rows = {
        w[1]: w[2].strip() for w in lines if len(w) == 3 and w[1] in ("Build", "Solo", "Packed")
    }
    assert rows == {"Build": "build", "Solo": "run: PENDING (Priority)", "Packed": "run: RUNNING"}
    display.case_stage(single, "sanity")  # the job is done: the stage alone
    display.case_finished(result("Packed", Status.PASSED))
    screen = render(display)
    assert "Solo  sanity" in screen.replace("   ", "  ") and "Packed" not in screen


def test_a_reference_of_zero_has_its_margin_in_the_metrics_unit() -> None:
    """Relative to a reference of 0 a margin means nothing: absolute bounds around zero
    show the room left in the metric's unit."""
    m = MetricResult("drift", 4e-4, "mm", 0.0, None, None, -1e-3, 1e-3, "pass")
    texts = [
        t
        for t, _ in summary_lines(
            session(result("Zero", Status.PASSED, metrics=[m])), RerunHint(), None, FULL
        )
    ]
    row = next(t for t in texts if t.strip().startswith("Zero"))
    assert row.split()[-2:] == ["+0.0006mm", "pass"]


def test_one_failure_gets_the_whole_screen_when_it_fits() -> None:
    """The cap per failure is for many failures: one failure of 28 lines on a screen of 40
    is shown whole (the test's own printed output included)."""
    (one,) = _failures(1)
    lines = [t for t, _ in summary_lines(session(one), RerunHint(), Path("s/report.json"))]
    text = "\n".join(lines)
    assert "more line(s) of this failure" not in text
    assert "    expected: +EVENT 19" in text


# --- the list of failed cases: a reason read whole in a log, cut on a terminal ----------------

_LONG = (
    "out.event line 8, token 4: actual 'value' differs from expected 'extra' "
    "(tolerance rtol=1e-06 does not apply to text) in the case's third output file END"
)


def _listed(texts: list[str], head: str) -> list[str]:
    start = texts.index(head) + 1
    return texts[start : next(i for i in range(start, len(texts)) if not texts[i])]


def test_with_plain_the_list_of_failed_cases_shows_each_reason_whole_wrapped(
    monkeypatch: object,
) -> None:
    """A log or --plain has no screen to save: the reason is wrapped under its case, not cut
    at the width (a user could not read it anywhere but summary.txt)."""
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    bad = result("Long", Status.FAILED, failure=Failure("sanity", _LONG, ""))
    PlainDisplay(out).finish(session(bad, result("Short", Status.FAILED)), RerunHint(), None)
    listed = _listed(out.getvalue().splitlines(), "failed (2):")
    assert all(len(line) < 80 for line in listed), listed
    assert listed[0].startswith("  Long  sanity: out.event line 8, token 4:")
    # Every word of the reason is there, in order, on the lines under the case's name.
    assert " ".join(" ".join(listed[:-1]).split()) == f"Long sanity: {_LONG}"
    assert all(line.startswith("      ") for line in listed[1:-1])
    assert listed[-1] == "  Short"


def test_with_plain_a_path_longer_than_the_width_stays_whole_on_its_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    path = "/tmp/runs/20261130-120444-2f33/stage/T-5aaf474a/assay-run.out"
    reason = f"tp: pattern r'throughput: (\\S+)' not found in stdout ({path})"
    out = io.StringIO()
    bad = result("T", Status.FAILED, failure=Failure("performance", reason, ""))
    PlainDisplay(out).finish(session(bad), RerunHint(), None)
    listed = _listed(out.getvalue().splitlines(), "failed (1):")
    assert f"      ({path})" in listed
    assert " ".join(" ".join(listed).split()) == f"T performance: {reason}"


def test_on_a_terminal_the_list_of_failed_cases_keeps_one_line_per_case() -> None:
    display, _ = live(width=80)
    bad = result("Long", Status.FAILED, failure=Failure("sanity", _LONG, ""))
    lines = summary_lines(session(bad), RerunHint(), Path("s/report.json"), display.caps())
    listed = _listed([t for t, _ in lines], "failed (1):")
    assert len(listed) == 1 and len(listed[0]) < 80 and listed[0].endswith("...")


def test_the_summary_file_lists_every_line_of_a_reason() -> None:
    reason = "first line of the reason\nsecond line, which says why"
    bad = result("Two", Status.FAILED, failure=Failure("run", reason, ""))
    listed = _listed(
        [t for t, _ in summary_lines(session(bad), RerunHint(), None, FULL)], "failed (1):"
    )
    assert listed == ["  Two  run: first line of the reason", "      second line, which says why"]


def test_aborted_cases_that_never_started_say_so_and_resume_is_named() -> None:
    """Ctrl-C in a run of 78 cases on two slots left 56 aborted, 54 of which had never
    started: each was listed "(during setup)", and the hint named --case, one at a time."""
    running = result("Slow", Status.ABORTED, failure=Failure("run", "interrupted"))
    waiting = result("Later", Status.ABORTED, failure=Failure("setup", NOT_STARTED))
    s = session(running, waiting)
    s.interrupted = "SIGINT"
    lines = text(summary_lines(s, RerunHint(), Path("report.json"))).splitlines()
    at = lines.index("2 case(s) aborted (run them again with --case):")
    assert lines[at + 1 : at + 4] == [
        "  [id-Slow] Slow  (during run)",
        "  [id-Later] Later  (not started)",
        "  `assay run --resume` runs them all, in this session",
    ]
