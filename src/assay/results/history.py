"""``assay history``: per case, its last verdicts and durations and each metric's values."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay import terminal
from assay.durations import format_duration
from assay.errors import UsageError
from assay.results.db import MetricValue, ResultsDB, Run, SeriesInfo
from assay.results.db.backends import as_written
from assay.results.db.types import NOT_RECORDED
from assay.results.numbers import metric_value
from assay.results.report import iso
from assay.select import Selection

if TYPE_CHECKING:
    from assay.config import Config

MARKS = {"passed": ("✓", "green"), "failed": ("✗", "red"), "skipped": ("-", "yellow")}
MARKS["aborted"] = ("!", "magenta")


@dataclass
class CaseHistory:
    """One case's recent record."""

    info: SeriesInfo
    runs: list[Run]
    metrics: dict[str, list[MetricValue]]


def open_results(config: str | None, system: str | None, prefix: str | None) -> ResultsDB:
    """The results database of the selected system (importing session directories it
    lacks), or a clear error when recording is off."""
    from assay.config import load_config
    from assay.results.recorder import database_target, nothing_recorded, open_database

    loaded = load_config(config)
    name, chosen = loaded.system(system)
    where = Path(prefix or chosen.prefix or ".assay")
    target = database_target(loaded, name, where)
    if target is None:
        raise UsageError(
            f'{loaded.source}: system {name!r} has results = "none": nothing is recorded',
            hint="remove that setting (or point it at a database) to keep history",
        )
    if nothing_recorded(target, where):
        # (a reader run in the wrong directory: it neither makes a database nor a prefix)
        raise UsageError(
            f"nothing is recorded under {where}: no results database ({target}) and no "
            "session directory",
            hint="run this where `assay run` ran, or give --prefix (or --config) of those runs",
        )
    return open_database(target, where)


def failed_ids(prefix: Path, config: Config, system: str) -> list[str]:
    """``--failed``: the cases whose last verdict in the results database is a failure (or
    an abort); without a database, those of the newest session under ``prefix``."""
    from assay.results.db import DatabaseError
    from assay.results.recorder import database_target, open_database, warn_on_stderr
    from assay.select import last_failed

    target = database_target(config, system, prefix)
    if target is None:
        return last_failed(prefix)
    try:
        with open_database(target, prefix) as db, as_written(db.where):
            ids = db.failed_case_ids()
            recorded = bool(db.sessions(1))
    except DatabaseError as exc:
        warn_on_stderr(f"{exc.message}; --failed reads the newest session under {prefix} instead")
        return last_failed(prefix)
    if not recorded:
        raise UsageError(f"--failed: no earlier session recorded (in {db.where} or under {prefix})")
    if not ids:
        raise UsageError(
            f"--failed: no case's last verdict is a failure (results database {db.where})"
        )
    return ids


def select(db: ResultsDB, selection: Selection) -> list[SeriesInfo]:
    """The recorded cases the selection matches, in name order. A ``-n``/``-x`` pattern
    that occurs as written in a recorded name means that text, as for ``run`` (a name
    pasted from assay's output, brackets and all); else a regular expression, checked."""
    catalogue = db.catalogue()
    parts = [info.name.partition(" @") for info in catalogue]
    selection = selection.resolve({v for v, _, _ in parts}, {f" @{c}" for _, _, c in parts})
    out = []
    for info, (variant, _, _) in zip(catalogue, parts, strict=True):
        if not selection.variant_ok(variant, info.params):
            continue
        if not selection.case_ok(variant, info.name):
            continue
        if not selection.partition_ok(info.system, info.partition):
            continue
        if not selection.environment_ok(info.environment) or not selection.id_ok(info.case_id):
            continue
        out.append(info)
    return out


def gather(db: ResultsDB, selection: Selection, last: int) -> list[CaseHistory]:
    """The last ``last`` runs (and their metrics) of every selected case."""
    chosen = select(db, selection)
    runs = db.recent_runs([info.series for info in chosen], last)
    values = db.run_metrics([r for found in runs.values() for r in found])
    out = []
    for info in chosen:
        metrics: dict[str, list[MetricValue]] = {}
        for run in runs[info.series]:  # oldest first
            for value in values.get((run.session, run.case_id, run.rep), []):
                metrics.setdefault(value.name, []).append(value)
        out.append(CaseHistory(info, runs[info.series], metrics))
    return out


def _json_text(data: dict[str, Any]) -> str:
    """Indented JSON, written by msgspec's C encoder (the json module's indenting encoder is
    pure Python: most of the time of a large history)."""
    import msgspec

    return msgspec.json.format(msgspec.json.encode(data), indent=1).decode()


def to_json(histories: Sequence[CaseHistory]) -> dict[str, Any]:
    """The history as plain data (``--json``)."""
    cases = []
    for h in histories:
        info = h.info
        cases.append(
            {
                "id": info.case_id,
                "name": info.name,
                "test": info.test,
                "params": info.params,
                "system": info.system,
                "partition": info.partition,
                "environment": info.environment,
                "nodes": info.nodes,
                "last_verdict": info.last_status,
                "runs": [
                    {
                        "session": r.session,
                        "time": iso(r.time),
                        "commit": r.commit,
                        "status": r.status,
                        "duration": r.duration,
                        "failure": None
                        if r.failure_stage is None
                        else {"stage": r.failure_stage, "reason": r.failure_reason},
                        "skip_reason": r.skip_reason,
                        "rep": r.rep,
                    }
                    for r in h.runs
                ],
                "metrics": {
                    name: [
                        {
                            "session": v.session,
                            "rep": v.rep,
                            "value": v.value,
                            "unit": v.unit,
                            "verdict": v.verdict,
                        }
                        for v in values
                    ]
                    for name, values in sorted(h.metrics.items())
                },
            }
        )
    return {"cases": cases}


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _seconds(value: float | None) -> str:
    return "-" if value is None else format_duration(value)


def _number(value: float | None) -> str:
    return "-" if value is None else metric_value(value)


def show(histories: Sequence[CaseHistory], last: int, as_json: bool) -> int:
    """Print the history: a table (styled on a terminal), or JSON."""
    import click

    if as_json:
        click.echo(terminal.json_text(_json_text(to_json(histories))))
        return 0
    from assay.results import table

    if not histories:
        click.echo("no recorded case matches")
        return 0
    rows: list[list[table.Cell]] = []
    for h in histories:
        marks = [MARKS.get(r.status, ("?", "")) for r in h.runs]
        durations = [r.duration for r in h.runs if r.duration is not None]
        passed = [r.duration for r in h.runs if r.status == "passed" and r.duration is not None]
        rows.append(
            [
                table.cell(terminal.line(h.info.name), "bold"),
                table.cell(h.info.case_id),
                marks,
                table.cell(_seconds(durations[-1] if durations else None)),
                table.cell(_seconds(_median(passed))),
            ]
        )
        if h.runs and h.runs[-1].status == "skipped":  # why its newest run was skipped
            why = h.runs[-1].skip_reason or NOT_RECORDED
            rows.append([table.cell(terminal.line(f"  skipped: {why}"), "yellow")])
        for name, values in sorted(h.metrics.items()):
            numbers = [v.value for v in values if v.value is not None]
            unit = next((v.unit for v in values if v.unit), None)
            label = f"  {name}" + (f" [{unit}]" if unit else "")
            by_run = {(v.session, v.rep): v.value for v in values}
            # One value per run, "-" where a run measured none (it failed before).
            aligned = " ".join(_number(by_run.get((r.session, r.rep))) for r in h.runs)
            rows.append(
                [
                    table.cell(terminal.line(label), "dim"),
                    table.cell(""),
                    table.cell(aligned),
                    table.cell(_number(numbers[-1] if numbers else None)),
                    table.cell(_number(_median(numbers))),
                ]
            )
    header = ["case", "id", f"last {last} (oldest first)", "last", "median"]
    table.write(table.render(header, rows, frozenset({3, 4}), styled=sys.stdout.isatty()))
    return 0


def run(
    selection: Selection,
    last: int,
    as_json: bool,
    reimport: bool,
    config: str | None,
    system: str | None,
    prefix: str | None,
) -> int:
    """``assay history``."""
    with open_results(config, system, prefix) as db:
        if reimport:
            return _reimport(db, config, system, prefix)
        with as_written(db.where):
            return show(gather(db, selection, last), last, as_json)


def _reimport(db: ResultsDB, config: str | None, system: str | None, prefix: str | None) -> int:
    from assay.config import load_config
    from assay.results.db.importer import import_sessions

    _, chosen = load_config(config).system(system)
    where = Path(prefix or chosen.prefix or ".assay")
    found = import_sessions(db, where, force=True)
    runs = where / "runs"
    terminal.echo(f"imported {len(found.imported)} session(s) from {runs} into {db.where}")
    for path, problem in found.problems:
        terminal.echo(f"  not imported: {path}: {problem}", err=True)
    return 1 if found.problems else 0
