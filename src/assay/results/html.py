"""The HTML report: one self-contained file (no script, no network) with plots.

It is made from the JSON report's data (a session's ``report.json``, or the document
:func:`assay.results.report.to_dict` makes at the end of a run) and a
:class:`~assay.results.series.HistorySource` for the metrics' history. Every value from a
test reaches the page through jinja2's autoescaping; the page also forbids scripts with a
Content-Security-Policy, so even a value that slipped through could not run.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from assay import terminal
from assay.errors import UsageError
from assay.files import tail, write_named
from assay.results import plots
from assay.results.changes import Point, Settings, analyse, better_of
from assay.results.db.source import open_history
from assay.results.differences import describe_differences
from assay.results.model import SOURCES, CaseResult, Status
from assay.results.numbers import metric_value
from assay.results.recorder import warn_on_stderr
from assay.results.series import HistorySource

MAX_METRIC_PLOTS = 60  # beyond this, metrics are listed in the table only
SLOWEST = 15
TAIL_LINES = 20


def write(
    data: dict[str, Any],
    path: str | Path,
    source: HistorySource | None = None,
    settings: Settings | None = None,
) -> Path:
    """Render the report ``data`` to ``path`` (atomically)."""
    page = render(data, source, settings)
    try:
        write_named(path, page)
    except OSError as exc:
        raise UsageError(
            f"cannot write the HTML report {path}: {exc.strerror or exc}",
            hint="give --html a path in a directory you can write to",
        ) from None
    return Path(path)


# Control characters (but tab and newlines) in a test's texts: output tails, reasons, names.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _visible(value: Any) -> Any:
    """A text as the page shows it: its control characters (an escape sequence from a
    test's output, a NUL) as ``\\xNN``, visible and harmless, as the terminal shows them.
    The page's own markup (plots: ``Markup``) is left as it is."""
    if type(value) is str and _CONTROL.search(value):
        return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", value)
    return value


def render(
    data: dict[str, Any], source: HistorySource | None = None, settings: Settings | None = None
) -> str:
    """The HTML page for the report ``data``, with the metrics' history from ``source``
    (change points found with ``settings``)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("assay.results", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,  # a report from another version may lack fields
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_visible,
    )
    env.filters["num"] = _num
    env.filters["seconds"] = _seconds
    template = env.get_template("report.html.j2")
    cases = [c for c in data.get("cases", []) if isinstance(c, dict)]
    return template.render(
        session=data.get("session", {}),
        summary=data.get("summary", {}),
        problems=data.get("problems", []),
        failures=_failures(cases),
        aborted=[c for c in cases if c.get("status") == "aborted"],
        skipped=_skipped(cases),
        regressions=data.get("regressions", []),
        not_judged=[n for n in data.get("not_judged", []) if isinstance(n, dict)],
        samples=data.get("samples", []),
        metrics=_metrics(cases, data.get("session", {}), source, settings or Settings()),
        scaling=[_scaling(t, n) for n, t in enumerate(data.get("scaling", []))],
        slowest=_slowest(cases),
        store_versions=_store_versions(cases),
        version=data.get("assay_version", "?"),
    )


def command(
    prefix: Path, session: str | None, out: str, settings: Settings, database: str | None = None
) -> int:
    """``assay report [SESSION] --html FILE``; history from the results database at
    ``database`` when there is one, else from the session directories under ``prefix``."""
    directory = find_session(prefix, session)
    path = directory / "report.json"
    try:
        data = json.loads(_read_regular(path))
    except FileNotFoundError:
        raise UsageError(
            f"session {directory.name} has no report ({path} is missing)",
            hint="a session killed before it ended has none: finish it with `assay run --resume`",
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("cases"), list)
        or not isinstance(data.get("session") or {}, dict)
    ):
        raise UsageError(f"{path} is not an assay run report")
    started = _epoch((data.get("session") or {}).get("started"))
    with open_history(
        database, prefix, warn_on_stderr, exclude=directory.name, until=started
    ) as history:
        try:
            written = write(data, out, history, settings)
        except (msgspec.ValidationError, TypeError, AttributeError, KeyError, ValueError) as exc:
            # A report changed by hand (or by anyone who may write the prefix) into values of
            # other types than assay writes: one line naming it, not a traceback.
            raise UsageError(
                f"{path} is not a report as assay writes it: {exc}",
                hint="was it changed after its run? `assay run` makes a new one",
            ) from None
    terminal.echo(f"wrote {written}")
    return 0


def _read_regular(path: Path) -> bytes:
    """The content of ``path`` if it is a regular file: a FIFO put at its name (opened
    without blocking, never read) or a link to a device such as /dev/zero would hang the
    command, or fill the memory, reading it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(
                f"{path} is not a regular file (a FIFO, a device, a directory?); "
                "assay writes its report as one",
                hint="`assay run` makes a new one",
            )
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read()
    finally:
        os.close(fd)


def find_session(prefix: Path, session: str | None) -> Path:
    """The session directory ``session`` names: a directory, an id or the start of one;
    the newest session when ``None``."""
    if session is not None and Path(session, "report.json").exists():
        return Path(session)
    runs = prefix / "runs"
    try:
        names = sorted(n for n in (p.name for p in runs.iterdir()) if not n.startswith("."))
    except OSError:
        names = []
    if not names:
        raise UsageError(
            f"no sessions under {prefix}",
            hint="run `assay run` first, or give --prefix where the sessions are",
        )
    if session is None:
        latest = prefix / "latest"
        return latest.resolve() if latest.exists() else runs / names[-1]
    matches = [n for n in names if n.startswith(session)]
    if len(matches) == 1:
        return runs / matches[0]
    if not matches:
        raise UsageError(
            f"no session {session!r} under {prefix}",
            hint=f"the newest are, newest first: {', '.join(reversed(names[-3:]))}",
        )
    raise UsageError(
        f"{session!r} names {len(matches)} sessions under {prefix}: {', '.join(matches[:5])}",
        hint="give more of the id",
    )


def _bounds(m: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """A report metric's reference and accepted bounds (numbers only: old or damaged
    reports may hold anything)."""

    def number(key: str) -> float | None:
        value = m.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None

    return number("reference"), number("low_bound"), number("high_bound")


def _failures(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        if case.get("status") != "failed":
            continue
        failure = case.get("failure") or {}
        differences = [
            {"summary": v.get("summary", ""), "text": describe_differences(v)}
            for v in case.get("comparisons") or []
            if isinstance(v, dict) and not v.get("ok", True)
        ]
        stage = "build" if failure.get("stage") == "build" else "run"
        base = case.get("output_dir") or case.get("stage_dir")
        tails = []
        if base:
            for stream in ("out", "err"):
                text = tail(Path(base) / f"assay-{stage}.{stream}", TAIL_LINES)
                if text:
                    tails.append(
                        {
                            "name": f"{'stdout' if stream == 'out' else 'stderr'} of {stage}",
                            "text": text,
                        }
                    )
        out.append(
            {
                "case": case,
                "stage": failure.get("stage", "?"),
                "reason": failure.get("reason", ""),
                "details": failure.get("details"),
                "differences": differences,
                "tails": tails,
            }
        )
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _skipped(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The skipped cases by reason (:mod:`assay.results.reasons`): each reason once, with its
    cases (a report from before skip reasons were written: ``skipped``)."""
    from assay.results.reasons import group

    results = []
    for case in cases:
        if case.get("status") != "skipped":
            continue
        params = case.get("params")
        results.append(
            CaseResult(
                name=_text(case.get("name")) or "?",
                id=_text(case.get("id")) or "?",
                test="",
                variant=_text(case.get("variant")) or "",
                params={str(k): str(v) for k, v in params.items()}
                if isinstance(params, dict)
                else {},
                system="",
                partition="",
                environment="",
                status=Status.SKIPPED,
                skip_reason=_text(case.get("skip_reason")),
                stage_dir=_text(case.get("stage_dir")),
                output_dir=_text(case.get("output_dir")),
                remote_dir=_text(case.get("remote_dir")),
            )
        )
    return [
        {"reason": g.reason, "cases": [{"name": r.name, "id": r.id} for r in g.results]}
        for g in group(results, lambda r: r.skip_reason or "skipped")
    ]


def _metrics(
    cases: list[dict[str, Any]],
    session: dict[str, Any],
    source: HistorySource | None,
    settings: Settings,
) -> dict[str, Any]:
    """Every metric in a table, and plots of the first ``MAX_METRIC_PLOTS`` (worst first)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for case in cases:
        for m in case.get("metrics") or []:
            if not isinstance(m, dict) or not isinstance(m.get("name"), str):
                continue
            entry = groups.setdefault(
                (case.get("id", ""), m["name"]),
                {"case": case, "metric": m, "values": [], "verdicts": set()},
            )
            value = m.get("value")
            if isinstance(value, int | float) and math.isfinite(value):
                entry["values"].append(float(value))
            entry["verdicts"].add(m.get("verdict"))
    rows = list(groups.values())
    rows.sort(key=lambda e: "fail" not in e["verdicts"] and "error" not in e["verdicts"])
    plotted = []
    session_id = str(session.get("id", "this"))
    for n, entry in enumerate(rows):
        if n >= MAX_METRIC_PLOTS or not entry["values"]:
            continue
        m = entry["metric"]
        history = source.metric_series(_result(entry["case"]), m["name"]) if source else []
        current = [Point(session_id, None, None, v, m.get("unit")) for v in entry["values"]]
        better = better_of(
            m.get("unit"),
            m.get("lower"),
            m.get("upper"),
            m.get("better"),
            bounds=_bounds(m),
        )
        analysis = analyse(m["name"], history + current, better, settings)
        band = plots.Band(m.get("reference"), m.get("low_bound"), m.get("high_bound"))
        entry["svg"] = plots.metric_history(
            history, entry["values"], m.get("unit"), band, analysis.change_points, f"m{n}"
        )
        entry["analysis"] = analysis
        entry["sessions"] = len({p.session for p in history}) + 1
        plotted.append(entry)
    return {"rows": rows, "plotted": plotted, "unplotted": len(rows) - len(plotted)}


def _result(case: dict[str, Any]) -> CaseResult:
    """A report's case as the model's :class:`CaseResult` (for history sources)."""
    data = {k: v for k, v in case.items() if k not in ("duration", "started", "finished")}
    data["started"], data["finished"] = _epoch(case.get("started")), _epoch(case.get("finished"))
    return msgspec.convert(data, CaseResult, strict=False)


def _epoch(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if isinstance(text, str) else None
    except ValueError:
        return None


def _scaling(table: dict[str, Any], n: int) -> dict[str, Any]:
    measured = [r for r in table.get("rows", []) if r.get("speedup") is not None]
    svg = plots.scaling(table, f"s{n}") if len(measured) > 1 else None
    return {"table": table, "svg": svg}


def _store_versions(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store versions cases used (``artifacts`` of the report): one entry per set of
    versions, with every case that used exactly that set, so each case is named once."""
    groups: dict[tuple[tuple[str, int, str, str], ...], list[dict[str, Any]]] = {}
    for case in cases:
        uses = case.get("artifacts")
        if not isinstance(uses, list) or not uses:
            continue
        key = tuple(
            sorted(
                (
                    str(u.get("artifact")),
                    _int(u.get("layer")),
                    str(u.get("ref") or ""),
                    str(u.get("tree")),
                )
                for u in uses
                if isinstance(u, dict) and u.get("artifact") != SOURCES  # not store versions
            )
        )
        if key:
            groups.setdefault(key, []).append(case)
    return [
        {
            "uses": [{"artifact": a, "layer": n, "ref": r, "tree": t} for a, n, r, t in key],
            "cases": members,
        }
        for key, members in sorted(groups.items(), key=lambda g: g[0])
    ]


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _slowest(cases: list[dict[str, Any]]) -> dict[str, Any]:
    timed = [c for c in cases if isinstance(c.get("duration"), int | float) and c["duration"] > 0]
    timed.sort(key=lambda c: -c["duration"])
    top = timed[:SLOWEST]
    return {"cases": top, "svg": plots.durations(top, "d") if top else None}


def _num(value: Any) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return metric_value(value) if isinstance(value, float) else str(value)


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "\u2013"
    from assay.durations import format_duration

    return format_duration(value)
