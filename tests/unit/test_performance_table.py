"""The performance table at the end of a run: every row tells which case it is. The examples'
first run once showed ``solver-mesh[n=10...l:default+builtin`` on rows of different cases: the
middle of the name, where the cases differ, was cut to keep a suffix every row shares."""

from __future__ import annotations

from pathlib import Path

from assay.results.model import MetricResult, Status
from assay.summary import FULL, Caps
from assay.ui import RerunHint, summary_lines
from tests.unit.test_ui import result, session

SUFFIX = " @local:default+builtin"


def _case(variant: str, suffix: str = SUFFIX) -> object:
    metric = MetricResult("iterations", 100.0, None)
    return result(variant + suffix, Status.PASSED, variant=variant, metrics=[metric])


VARIANTS = [
    "solver-mesh[n=100,method=thomas,alpha=1]",
    "solver-mesh[n=100,method=cg,alpha=1]",
    "solver-mesh[n=1600,method=thomas,alpha=10]",
]


def _table(lines: list[tuple[str, str]]) -> list[str]:
    texts = [t for t, _ in lines]
    start = next(i for i, t in enumerate(texts) if t.startswith("performance"))
    return texts[start : start + 1 + 1 + len(VARIANTS)]


def test_rows_of_different_cases_stay_different_on_a_narrow_terminal():
    lines = summary_lines(session(*[_case(v) for v in VARIANTS]), RerunHint(), Path("r.json"))
    title, _head, *body = _table(lines)
    assert f"all{SUFFIX}" in title
    names = [row.split()[0] for row in body]
    assert len(set(names)) == len(VARIANTS), body
    assert not any("default+builtin" in n for n in names), body


def test_a_wide_terminal_shows_whole_case_names():
    caps = Caps(width=160)
    cases = session(*[_case(v) for v in VARIANTS])
    _title, _head, *body = _table(summary_lines(cases, RerunHint(), Path("r.json"), caps))
    assert sorted(row.split()[0] for row in body) == sorted(VARIANTS), body
    assert all(len(row) < 160 for row in body)


def test_the_summary_file_has_whole_case_names():
    long = "x" * 80
    cases = [_case(v, " @sys:part+env") for v in VARIANTS] + [_case(long, " @other:p+e")]
    texts = [t for t, _ in summary_lines(session(*cases), RerunHint(), None, FULL)]
    assert any(f"{long} @other:p+e" in t for t in texts)
    assert all(any(f"{v} @sys:part+env" in t for t in texts) for v in VARIANTS)


def test_names_of_cases_on_several_partitions_keep_their_partition():
    cases = [_case(VARIANTS[0], " @a:p+e"), _case(VARIANTS[0], " @b:p+e")]
    title, _head, *body = _table(summary_lines(session(*cases), RerunHint(), Path("r.json")))
    assert "all @" not in title
    assert any("@a:p+e" in row for row in body) and any("@b:p+e" in row for row in body)
