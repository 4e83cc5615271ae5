"""A session's metrics against their history: the significant changes of the newest values."""

from __future__ import annotations

from assay.results.changes import Point, Settings, analyse, better_of
from assay.results.model import CaseResult, MetricResult, NotJudged, Regression, Session
from assay.results.series import HistorySource


def find(
    session: Session, source: HistorySource, settings: Settings | None = None
) -> list[Regression]:
    """Every (case, metric) of ``session`` whose newest values changed significantly."""
    return find_all(session, source, settings)[0]


def find_all(
    session: Session, source: HistorySource, settings: Settings | None = None
) -> tuple[list[Regression], list[NotJudged]]:
    """Every (case, metric) of ``session`` whose newest values changed significantly, and
    every one whose newest values lie outside every earlier value of their level but are
    too few to be judged (:mod:`assay.results.unjudged`).

    All repetitions of a case (``--repeat``) are samples of one session. A series with no
    history says nothing.
    """
    groups: dict[tuple[str, str], tuple[CaseResult, MetricResult, list[float]]] = {}
    for result in session.results:
        for metric in result.metrics:
            if metric.value is None:
                continue
            entry = groups.setdefault((result.id, metric.name), (result, metric, []))
            entry[2].append(metric.value)
    settings = settings or Settings()
    found: list[Regression] = []
    unsure: list[NotJudged] = []
    for (_, name), (result, metric, values) in groups.items():
        history = source.metric_series(result, name)
        if not history:
            continue
        now = [Point(session.id, session.started, None, v, metric.unit) for v in values]
        better = better_of(
            metric.unit,
            metric.lower,
            metric.upper,
            metric.better,
            bounds=(metric.reference, metric.low_bound, metric.high_bound),
        )
        analysis = analyse(name, history + now, better, settings)
        latest, pending = analysis.latest, analysis.pending
        if pending is not None:
            unsure.append(
                NotJudged(
                    case=result.name,
                    id=result.id,
                    metric=name,
                    kind=pending.kind,
                    message=pending.message,
                    value=pending.value,
                    samples=pending.samples,
                    needed=pending.needed,
                    side=pending.side,
                    earlier=pending.earlier,
                    low=pending.low,
                    high=pending.high,
                    level=pending.level,
                    since=pending.since,
                )
            )
        if latest is None or analysis.kind is None or analysis.message is None:
            continue
        found.append(
            Regression(
                case=result.name,
                id=result.id,
                metric=name,
                kind=analysis.kind,
                message=analysis.message,
                value=latest.after,
                before=latest.before,
                relative=latest.relative,
                pvalue=latest.pvalue,
                session=latest.session,
                commit=latest.commit,
                since=latest.since,
            )
        )
    return found, unsure


def summary_lines(session: Session) -> list[tuple[str, str]]:
    """The terminal summary's lines about significant changes (and newest values not
    judged yet), as (text, style)."""
    if not session.regressions and not session.not_judged:
        return []
    worse = session.regressed
    lines: list[tuple[str, str]] = [("", "")]
    if worse:
        failing = " (--fail-on-regression)" if session.options.get("fail_on_regression") else ""
        lines.append((f"{len(worse)} metric(s) regressed against history{failing}:", "bold red"))
    for change in worse:
        lines.append((f"  {change.case}  [{change.id}]", "red"))
        lines.append((f"    {change.message}", "red"))
    better = [r for r in session.regressions if r.kind == "improvement"]
    if better:
        lines.append((f"{len(better)} metric(s) improved against history:", "bold green"))
        for change in better:
            lines.append((f"  {change.case}  [{change.id}]", "green"))
            lines.append((f"    {change.message}", "green"))
    if session.not_judged:
        count = len(session.not_judged)
        lines.append(
            (
                f"{count} metric(s) not judged yet (too few samples to show a new level):",
                "bold yellow",
            )
        )
        for note in session.not_judged:
            lines.append((f"  {note.case}  [{note.id}]", "yellow"))
            lines.append((f"    {note.message}", "yellow"))
    return lines
