"""The JSON run report: one document per session, with a versioned schema.

The schema is ``report.schema.json`` next to this file (JSON Schema 2020-12)
and is documented in docs/report.md. A change that removes or renames a field
bumps :data:`SCHEMA`; adding optional fields does not.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from assay.files import write_atomic
from assay.results import samples, scaling
from assay.results.model import CaseResult, Session, Status

SCHEMA = "assay-report/1"


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC timestamp."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


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


def write(session: Session, path: str | Path) -> Path:
    """Write the report atomically; return its path."""
    path = Path(path)
    text = msgspec.json.format(msgspec.json.encode(to_dict(session)), indent=2)
    write_atomic(path, text.decode() + "\n")
    return path


def schema() -> dict[str, Any]:
    """The JSON Schema every report validates against."""
    # (imported here: importlib.resources costs every run's end some 10 M instructions,
    # its Traversable protocol the first compile() of the process, for a schema it never reads)
    from importlib import resources

    text = resources.files("assay.results").joinpath("report.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded
