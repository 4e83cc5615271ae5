"""The performance table at a terminal's width: cases' names are cut so that variants that
differ only in a parameter's value still look different."""

from __future__ import annotations

from assay.results.model import CaseResult, MetricResult, Status
from assay.results.performance import clip_cases, format_table, rows
from assay.summary import Caps


def _case(threads: int, placement: str) -> CaseResult:
    name = f"StreamTest[num_threads={threads},thread_placement={placement}]"
    return CaseResult(
        name=f"{name} @local:default+builtin",
        id=f"{threads}{placement}",
        test="StreamTest",
        variant=name,
        params={"num_threads": str(threads), "thread_placement": placement},
        system="local",
        partition="default",
        environment="builtin",
        status=Status.PASSED,
        metrics=[MetricResult("triad_bw", 9000.0, "MB/s")],
    )


def test_variants_stay_apart_when_their_names_are_cut() -> None:
    cases = [_case(t, p) for t in (1, 2, 4, 8) for p in ("true", "close", "spread")]
    lines = format_table(rows(cases), limit=12, width=80)
    shown = [line.split()[0] for line in lines[2:14]]
    assert len(set(shown)) == 12, shown  # cut in the middle, 'num_threads=1' and '=2' looked alike
    assert "StreamTest[num_th.=1,thread.=close]" in shown, shown


def test_names_are_cut_in_the_middle_only_when_cutting_parameter_names_is_not_enough() -> None:
    assert clip_cases(["Short[a=1]", "Long[parameter=1]"], 20) == [
        "Short[a=1]",
        "Long[parameter=1]",
    ]
    assert clip_cases(["Long[parameter=1]"], 14) == ["Long[param.=1]"]
    assert clip_cases(["Long[parameter=a-very-long-value]"], 14) == ["Long[...value]"]


def test_a_log_keeps_whole_names_that_a_screen_cuts() -> None:
    # --plain or a pipe: names to paste into -n as they are (a ReFrame user's habit)
    from tests.unit.test_summary_groups import session, texts

    cases = [_case(t, p) for t in (1, 2) for p in ("close", "spread")]
    whole = "StreamTest[num_threads=1,thread_placement=close]"
    log = "\n".join(texts(session(*cases), Caps(width=60, cut=False)))
    assert whole in log, log
    screen = "\n".join(texts(session(*cases), Caps(width=60, cut=True)))
    assert whole not in screen, screen  # a screen 60 wide: cut to fit
    assert "StreamTest[num_th.=1,thread.=close]" in screen, screen
