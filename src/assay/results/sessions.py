"""``assay compare``: what changed between two recorded sessions.

New failures, fixed cases, cases that appeared or disappeared, each metric's change, and
each run time's change (the run stage of a case that passed in both, by at least
:data:`RUN_TIME_FLOOR`), judged like a metric (lower is better).
How significant a change is against the noise in its history is said by a ``significance``
function (see :data:`Significance`), which gets each change (with both sessions' samples,
the sessions, and the series to read its history with ``ResultsDB.metric_series_of``) and
returns a short verdict for the table (or None). ``assay compare`` uses
:func:`history_significance`: change-point detection over the series' history up to B,
the same test that ``--fail-on-regression`` makes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from assay import terminal
from assay.errors import UsageError
from assay.results.changes import Point, Settings, analyse, better_of
from assay.results.db import ResultsDB, Run, SessionRecord
from assay.results.db.backends import as_written
from assay.results.db.types import NOT_RECORDED
from assay.results.judgement import Judgement
from assay.results.numbers import metric_value
from assay.results.report import iso

FAILING = ("failed", "aborted")
# Worst first: what a case with several repetitions counts as.
_RANK = {"failed": 0, "aborted": 1, "skipped": 2, "passed": 3}


@dataclass
class CaseState:
    """A case in one session (its repetitions folded together)."""

    series: str
    case_id: str
    name: str
    status: str
    reason: str | None
    metrics: dict[str, list[float]] = field(default_factory=dict)  # samples
    units: dict[str, str | None] = field(default_factory=dict)
    run_times: list[float] = field(default_factory=list)  # the run stage of each pass


@dataclass
class MetricChange:
    """One metric of one case in both sessions."""

    case: str  # name
    case_id: str
    series: str
    metric: str
    unit: str | None
    before: float
    after: float
    before_samples: list[float]
    after_samples: list[float]
    sessions: tuple[str, str] = ("", "")  # (A, B)
    significance: str | None = None
    run_time: bool = False  # the run stage's seconds, not a metric
    judgement: Judgement | None = None  # the verdict as data, when the judge gave one

    @property
    def change(self) -> float | None:
        """Relative change (0.1: 10% higher), None when the earlier value is 0."""
        if self.before == 0:
            return None
        return (self.after - self.before) / abs(self.before)


Significance = Callable[[MetricChange], "str | Judgement | None"]
"""A hook that judges a change against its history (e.g. change-point detection): a short
text, or a :class:`~assay.results.judgement.Judgement` (its text goes in the table, its
fields in ``--json``)."""

# Samples of a series that assay compare's significance reads, newest first up to B: the
# E-Divisive search is quadratic in them, and a change between two sessions shows in the
# recent past.
COMPARE_WINDOW = 200
# Metric changes shown (and judged) without --all: the largest.
SHOWN = 50
RUN_TIME = "run time"
"""The name a run time's change goes by in a :class:`MetricChange`."""
RUN_TIME_FLOOR = 0.05
"""Seconds a case's run stage must move by (median to median) to be listed: below it, a
process's start-up jitter under load, whatever the history says."""


def history_significance(db: ResultsDB, settings: Settings | None = None) -> Significance:
    """Judge a change from A to B by change-point detection over its series' recorded
    samples up to B: a significant change point in a session after A up to B gives
    ``"regression, p=…"`` (or ``improvement``, or ``change`` when it is unknown which way
    is better: from the unit), else ``"not significant"``, or ``"not judged yet: 1 sample (2
    needed; ...)"`` when B took fewer than ``min_size`` samples, all outside every earlier
    value of their level (a new level starting at B cannot be tested yet); ``"too little
    history"`` when the series had fewer than ``2 * min_size`` samples before B."""
    settings = settings or Settings()
    starts: dict[str, float | None] = {}

    def started(session: str) -> float | None:
        if session not in starts:
            record = db.session(session)
            starts[session] = record.started if record is not None else None
        return starts[session]

    def judge(change: MetricChange) -> Judgement | None:
        a, b = change.sessions
        until = started(b)
        if until is None:
            return None
        limit = min(settings.max_points, COMPARE_WINDOW)
        until = math.nextafter(until, math.inf)  # B's own samples too
        if change.run_time:
            found = db.run_time_series(change.series, limit=limit, until=until)
        else:
            found = db.metric_series_of(change.series, change.metric, limit=limit, until=until)
        points = [Point(p.session, p.time, p.commit, p.value, p.unit) for p in found]
        sessions = list(dict.fromkeys(p.session for p in points))
        if a not in sessions or not sessions or sessions[-1] != b:
            return None
        if sum(1 for p in points if p.session != b) < 2 * settings.min_size:
            return Judgement("too little history")
        after_a = len(sessions) - 1 - sessions.index(a)
        recent = msgspec.structs.replace(settings, recent=max(1, after_a))
        better = "lower" if change.run_time else better_of(change.unit, None, None, None)
        analysis = analyse(change.metric, points, better, recent)
        latest = analysis.latest
        if latest is None and analysis.pending is not None:
            pending = analysis.pending
            return Judgement("not judged yet", samples=pending.samples, needed=pending.needed)
        if latest is None or analysis.kind is None:
            return Judgement("not significant")
        return Judgement(analysis.kind, pvalue=latest.pvalue, at=latest.session)

    return judge


@dataclass
class Comparison:
    """What changed from session ``a`` to session ``b``."""

    a: SessionRecord
    b: SessionRecord
    new_failures: list[CaseState]
    fixed: list[CaseState]
    still_failing: list[CaseState]
    appeared: list[CaseState]
    disappeared: list[CaseState]
    metrics: list[MetricChange]
    unchanged: int
    run_times: list[MetricChange] = field(default_factory=list)
    # Failing in A, skipped in B (its command said so, or its dependency failed): not fixed.
    now_skipped: list[CaseState] = field(default_factory=list)


def resolve(db: ResultsDB, text: str) -> SessionRecord:
    """A session by id or unique start of its id."""
    found = db.session(text)
    if found is not None:
        return found
    candidates = db.find_sessions(text)
    if len(candidates) == 1:
        found = db.session(candidates[0])
        assert found is not None
        return found
    if candidates:
        raise UsageError(
            f"session {text!r} is ambiguous: {', '.join(candidates[:5])}"
            + (" ..." if len(candidates) > 5 else ""),
            hint="give more of the id",
        )
    recent = [s.id for s in db.sessions(5)]
    raise UsageError(
        f"no recorded session {text!r} in {db.where}",
        hint=f"recent sessions: {', '.join(recent)}" if recent else "nothing is recorded yet",
    )


def choose(
    db: ResultsDB, first: str | None, second: str | None
) -> tuple[SessionRecord, SessionRecord]:
    """The two sessions to compare: both given; one given (against the newest); or none
    (the newest, against the newest earlier one that ran the same cases)."""
    if first and second:
        return resolve(db, first), resolve(db, second)
    newest = db.sessions(1, complete_only=True)
    if not newest:
        raise UsageError(f"no complete session recorded in {db.where}: nothing to compare")
    if first:
        return resolve(db, first), newest[0]
    b = newest[0]
    a = db.previous_with_cases(b)
    if a is None:
        raise UsageError(
            f"no session before {b.id} ran any of its cases: nothing to compare",
            hint="give two session ids: assay compare A B",
        )
    return a, b


def _states(db: ResultsDB, session: SessionRecord) -> dict[str, CaseState]:
    states: dict[str, CaseState] = {}
    by_key: dict[tuple[str, int], CaseState] = {}
    runs: Sequence[Run] = db.session_cases(session.id)
    for r in runs:
        state = states.get(r.series)
        reason = f"{r.failure_stage}: {r.failure_reason}" if r.failure_stage else None
        if r.status == "skipped":  # why (None: recorded before the database kept it)
            reason = r.skip_reason
        if state is None:
            state = states[r.series] = CaseState(r.series, r.case_id, r.name, r.status, reason)
        elif _RANK.get(r.status, 9) < _RANK.get(state.status, 9):
            state.status, state.reason = r.status, reason
        by_key[(r.case_id, r.rep)] = state
    for case_id, rep, seconds in db.session_run_times(session.id):
        state = by_key.get((case_id, rep))
        if state is not None:
            state.run_times.append(seconds)
    for m in db.session_metrics(session.id):
        state = by_key.get((m.case_id, m.rep))
        if state is None or m.value is None:
            continue
        state.metrics.setdefault(m.name, []).append(m.value)
        state.units[m.name] = m.unit
    return states


def compare(
    db: ResultsDB,
    a: SessionRecord,
    b: SessionRecord,
    significance: Significance | None = None,
    judged: int | None = None,
) -> Comparison:
    """Compare session ``a`` (before) with ``b`` (after); ``significance`` judges the
    ``judged`` largest metric changes (all of them when None)."""
    before, after = _states(db, a), _states(db, b)
    both = sorted(set(before) & set(after), key=lambda s: after[s].name)
    out = Comparison(
        a,
        b,
        new_failures=[
            after[s] for s in both if after[s].status in FAILING and before[s].status not in FAILING
        ],
        fixed=[
            after[s] for s in both if after[s].status == "passed" and before[s].status in FAILING
        ],
        still_failing=[
            after[s] for s in both if after[s].status in FAILING and before[s].status in FAILING
        ],
        appeared=sorted((after[s] for s in set(after) - set(before)), key=lambda c: c.name),
        disappeared=sorted((before[s] for s in set(before) - set(after)), key=lambda c: c.name),
        metrics=[],
        unchanged=0,
        now_skipped=[
            after[s] for s in both if after[s].status == "skipped" and before[s].status in FAILING
        ],
    )
    for s in both:
        x, y = before[s], after[s]
        for name in sorted(set(x.metrics) & set(y.metrics)):
            change = MetricChange(
                y.name,
                y.case_id,
                s,
                name,
                y.units.get(name) or x.units.get(name),
                statistics.median(x.metrics[name]),
                statistics.median(y.metrics[name]),
                x.metrics[name],
                y.metrics[name],
                (a.id, b.id),
            )
            out.metrics.append(change)
    out.metrics.sort(key=lambda m: (-abs(m.change or 0.0), m.case, m.metric))
    out.run_times = _run_times(before, after, both, (a.id, b.id))
    if significance is not None:
        for changes in (out.metrics, out.run_times):
            for change in changes if judged is None else changes[:judged]:
                verdict = significance(change)
                if isinstance(verdict, Judgement):
                    change.judgement, verdict = verdict, verdict.text(b.id)
                change.significance = verdict
    out.unchanged = sum(1 for s in both if before[s].status == after[s].status)
    return out


def _run_times(
    before: dict[str, CaseState],
    after: dict[str, CaseState],
    both: list[str],
    sessions: tuple[str, str],
) -> list[MetricChange]:
    """The run stage's change of each case that passed in both sessions, where the medians
    differ by :data:`RUN_TIME_FLOOR` or more; the largest relative change first."""
    out = []
    for s in both:
        x, y = before[s], after[s]
        if x.status != "passed" or y.status != "passed" or not x.run_times or not y.run_times:
            continue
        a, b = statistics.median(x.run_times), statistics.median(y.run_times)
        if abs(b - a) < RUN_TIME_FLOOR:
            continue
        change = MetricChange(y.name, y.case_id, s, RUN_TIME, "s", a, b, x.run_times, y.run_times)
        change.sessions, change.run_time = sessions, True
        out.append(change)
    out.sort(key=lambda m: (-abs(m.change or 0.0), m.case))
    return out


def _json_text(data: dict[str, Any]) -> str:
    """Indented JSON, written by msgspec's C encoder (the json module's indenting encoder is
    pure Python: most of the time of a large history)."""
    import msgspec

    return msgspec.json.format(msgspec.json.encode(data), indent=1).decode()


def to_json(c: Comparison, judged: int | None = None) -> dict[str, Any]:
    """The comparison as plain data (``--json``); ``judged``: how many of the largest
    changes (of metrics, and of run times) were judged (None: all)."""

    def session(s: SessionRecord) -> dict[str, Any]:
        return {
            "id": s.id,
            "started": iso(s.started),
            "commit": s.git_commit,
            "dirty": s.git_dirty,
            "host": s.host,
        }

    def case(state: CaseState) -> dict[str, Any]:
        return {
            "id": state.case_id,
            "name": state.name,
            "status": state.status,
            "reason": state.reason,
        }

    return {
        "a": session(c.a),
        "b": session(c.b),
        "new_failures": [case(s) for s in c.new_failures],
        "fixed": [case(s) for s in c.fixed],
        "still_failing": [case(s) for s in c.still_failing],
        "now_skipped": [case(s) for s in c.now_skipped],
        "appeared": [case(s) for s in c.appeared],
        "disappeared": [case(s) for s in c.disappeared],
        "metrics": [change(m) for m in c.metrics],
        "run_times": [change(m) for m in c.run_times],
        "judged": judged,
    }


def change(m: MetricChange) -> dict[str, Any]:
    """A metric's (or a run time's) change as JSON."""
    return {
        "id": m.case_id,
        "case": m.case,
        "metric": m.metric,
        "unit": m.unit,
        "a": m.before,
        "b": m.after,
        "change": m.change,
        "a_samples": m.before_samples,
        "b_samples": m.after_samples,
        "significance": m.significance,
        "judgement": None if m.judgement is None else m.judgement.to_json(),
    }


def _describe(s: SessionRecord) -> str:
    commit = f" · {s.git_commit[:10]}{'+dirty' if s.git_dirty else ''}" if s.git_commit else ""
    return f"{s.id} ({iso(s.started)}{commit})"


def _why(s: CaseState) -> str:
    """A case's reason after its name: a failure's, or a skip's (``skipped: ...``)."""
    if s.status == "skipped":
        return f"  (skipped: {s.reason.splitlines()[0] if s.reason else NOT_RECORDED})"
    if s.reason and s.status in FAILING:
        return f"  ({s.reason.splitlines()[0]})"
    return ""


def show(c: Comparison, as_json: bool, top: int | None = None) -> int:
    """Print a comparison: sections and a table of metric changes, or JSON."""
    import click

    if as_json:
        click.echo(terminal.json_text(_json_text(to_json(c, top))))
        return 0
    from rich.console import Console
    from rich.text import Text

    from assay.results import table

    console = Console(highlight=False)

    def say(text: str, style: str | None = None) -> None:
        console.print(Text(terminal.line(text), style=style or ""), soft_wrap=True)

    say(f"A: {_describe(c.a)}", "bold")
    say(f"B: {_describe(c.b)}", "bold")
    sections = [
        ("new failures", c.new_failures, "bold red"),
        ("fixed", c.fixed, "green"),
        ("still failing", c.still_failing, "red"),
        ("failing in A, skipped in B (not fixed)", c.now_skipped, "yellow"),
        ("appeared (only in B)", c.appeared, "cyan"),
        ("disappeared (only in A)", c.disappeared, "yellow"),
    ]
    for title, states, style in sections:
        if not states:
            continue
        say("")
        say(f"{title}: {len(states)}", style)
        for s in states:
            say(f"  [{s.case_id}] {s.name}{_why(s)}")
    for changes, what in ((c.metrics, "metric"), (c.run_times, RUN_TIME)):
        if not changes:
            continue
        say("")
        if what == RUN_TIME:
            say(f"{RUN_TIME} (the run stage), changes of {RUN_TIME_FLOOR:g} s or more:", "bold")
        rows: list[list[table.Cell]] = []
        for m in changes if top is None else changes[:top]:
            change = m.change
            unit = f" [{m.unit}]" if m.unit else ""
            name = "run" if m.run_time else m.metric  # (the run stage)
            rows.append(
                [
                    table.cell(terminal.line(m.case)),
                    table.cell(terminal.line(name + unit)),
                    table.cell(metric_value(m.before)),
                    table.cell(metric_value(m.after)),
                    table.cell("-" if change is None else f"{change:+.1%}"),
                    table.cell(terminal.line(m.significance or "")),
                ]
            )
        header = ["case", "stage" if what == RUN_TIME else what, "A", "B", "change", "significance"]
        table.write(table.render(header, rows, frozenset({2, 3, 4}), styled=console.is_terminal))
        if top is not None and len(changes) > top:
            say(f"... and {len(changes) - top} more {what}(s) (--all shows them)", "dim")
    say("")
    times = f", {len(c.run_times)} run time(s) changed" if c.run_times else ""
    skipped = f", {len(c.now_skipped)} failing now skipped" if c.now_skipped else ""
    say(
        f"{len(c.new_failures)} new failure(s), {len(c.fixed)} fixed{skipped}, {len(c.appeared)} "
        f"appeared, {len(c.disappeared)} disappeared, {len(c.metrics)} metric(s) compared"
        f"{times}",
        "bold red" if c.new_failures else "bold",
    )
    return 0


def run(
    first: str | None,
    second: str | None,
    as_json: bool,
    show_all: bool,
    config: str | None,
    system: str | None,
    prefix: str | None,
    significance: Callable[[ResultsDB], Significance] | None = None,
) -> int:
    """``assay compare``; ``significance`` makes the judge of changes for the open database
    (default: :func:`history_significance` with the config's ``[detection]`` settings)."""
    from assay.config import load_config
    from assay.results.history import open_results

    with open_results(config, system, prefix) as db, as_written(db.where):
        a, b = choose(db, first, second)
        if significance is None:
            settings = load_config(config).detection.settings()
            judge = history_significance(db, settings)
        else:
            judge = significance(db)
        top = None if show_all else SHOWN
        return show(compare(db, a, b, judge, judged=top), as_json, top)
