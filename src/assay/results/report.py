"""The JSON run report: one document per session, with a versioned schema.

The schema is ``report.schema.json`` next to this file (JSON Schema 2020-12)
and is documented in docs/report.md. A change that removes or renames a field
bumps :data:`SCHEMA`; adding optional fields does not.
"""

from __future__ import annotations

import gc
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from assay.files import write_atomic, write_named
from assay.results import samples, scaling
from assay.results.model import CaseResult, Session, Status

SCHEMA = "assay-report/1"


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC timestamp, to the millisecond: what
    ``datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")`` says.

    A report has two per case, and that datetime costs some 18 k instructions a call (two
    Python objects, the time zone's ``fromutc``, the formatting): 7 % of a 200-case run's
    report. Here the microseconds are rounded as ``fromtimestamp`` rounds them (half to
    even, carried into the seconds), and the date and time of the whole second come from a
    datetime made once per second (the cases of a run share a few)."""
    if ts is None:
        return None
    if not 0.0 <= ts < _FAST_UNTIL:  # (negative, far off, not finite: as it always was)
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    fraction, whole = math.modf(ts)
    micro = round(fraction * 1e6)  # (round() of a float: half to even, as fromtimestamp)
    second = int(whole)
    if micro >= 1_000_000:
        micro -= 1_000_000
        second += 1
    day_time = _SECONDS.get(second)
    if day_time is None:
        if len(_SECONDS) >= 4096:  # (a long session's history: kept small)
            _SECONDS.clear()
        day_time = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _SECONDS[second] = day_time
    return f"{day_time}.{micro // 1000:03d}+00:00"


# Timestamps from 0 up to here (the year 9999 is 253402300800) take the fast way of iso.
_FAST_UNTIL = 253402300799.0
# Whole seconds since the epoch -> their date and time as iso writes them.
_SECONDS: dict[int, str] = {}


def case_to_dict(result: CaseResult) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(result)
    data["started"] = iso(result.started)
    data["finished"] = iso(result.finished)
    data["duration"] = round(result.duration, 6)
    data["timings"] = {k: round(v, 6) for k, v in result.timings.items()}
    return data


def to_dict(session: Session) -> dict[str, Any]:
    """The report document for ``session``."""
    results = session.results
    return {
        "schema": SCHEMA,
        "assay_version": session.version,
        "session": {
            "id": session.id,
            "started": iso(session.started),
            "finished": iso(session.finished),
            "duration": round((session.finished or session.started) - session.started, 6),
            "command": session.command,
            "cwd": session.cwd,
            "hostname": session.hostname,
            "user": session.user,
            "system": session.system,
            "config": session.config,
            "interrupted": session.interrupted,
            "directory": session.directory,
            "options": session.options,
            "estimate": _estimate(session),
            "git": msgspec.to_builtins(session.git),
            **({"remote": session.remote} if session.remote else {}),
        },
        "summary": {
            "total": len(results),
            "passed": session.count(Status.PASSED),
            "failed": session.count(Status.FAILED),
            "skipped": session.count(Status.SKIPPED),
            "aborted": session.count(Status.ABORTED),
            "problems": len(session.problems),
            "regressions": len(session.regressed),
            "ok": session.ok,
        },
        "problems": msgspec.to_builtins(session.problems),
        "cases": [case_to_dict(r) for r in results],
        "scaling": scaling.tables(results),
        "samples": samples.summarize(results),
        "regressions": msgspec.to_builtins(session.regressions),
        "not_judged": msgspec.to_builtins(session.not_judged),
    }


def _estimate(session: Session) -> dict[str, Any] | None:
    if session.estimate is None:
        return None
    made, left = session.estimate
    actual = (session.finished or session.started) - session.started
    total = made + left
    return {
        "made": round(made, 3),
        "left": round(left, 3),
        "total": round(total, 3),
        "actual": round(actual, 3),
        "error": round((actual - total) / total, 4) if total > 0 else None,
    }


def write(session: Session, path: str | Path, named: bool = False) -> Path:
    """Write the report atomically; return its path. ``named``: a path the user named
    (``--report``), written as :func:`assay.files.write_named` writes."""
    given, path = path, Path(path)
    # The document is new dicts and lists, none in a cycle: the collector, set off by their
    # allocations, went through them and the run's results for nothing (a tenth of the
    # instructions of a 200-case report).
    collecting = gc.isenabled()
    gc.disable()
    try:
        text = msgspec.json.format(msgspec.json.encode(to_dict(session)), indent=2)
    finally:
        if collecting:
            gc.enable()
    # (UTF-8 bytes as msgspec made them: no str of the whole document to make and encode
    # again, 240 KB for 200 cases)
    if named:  # (the name as given: "out/" names a directory, which Path("out/") drops)
        write_named(given, text + b"\n")
    else:
        write_atomic(path, text + b"\n")
    return path


def schema() -> dict[str, Any]:
    """The JSON Schema every report validates against."""
    # (imported here: importlib.resources costs every run's end some 10 M instructions,
    # its Traversable protocol the first compile() of the process, for a schema it never
    # reads; json some 4 M more where nothing else needs it, a run that records nothing)
    import json
    from importlib import resources

    text = resources.files("assay.results").joinpath("report.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded
