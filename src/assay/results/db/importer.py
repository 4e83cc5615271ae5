"""Bringing session directories (``PREFIX/runs/ID``: report.json, else journal.jsonl) into
the results database, so that no history from before the database (or from a run that
could not reach it) is lost.

Idempotent: a session is written by its id, and written again only if it is incomplete in
the database while its directory has a report (the run ended, but its last writes did not
arrive), or while its runner is dead and its journal changed since it was recorded (a
session killed together with its recorder: the cases of its last batch are in the journal
only). Directories that cannot be read are noted and not tried again unless ``force``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from assay.results.db import ResultsDB, SessionRecord
from assay.results.db.backends import Writer
from assay.results.db.records import chunks, in_list
from assay.results.journal import NAME as JOURNAL
from assay.results.journal import recover
from assay.results.live import KILLED, is_live
from assay.results.model import CaseResult

REPORT = "report.json"
COMMAND = "command.json"


@dataclass
class ImportReport:
    """What an import did."""

    imported: list[str] = field(default_factory=list)
    skipped: int = 0  # already recorded (or noted as unreadable)
    problems: list[tuple[Path, str]] = field(default_factory=list)


class Unreadable(Exception):
    """A session directory whose report cannot be read as one."""


def import_sessions(db: ResultsDB, prefix: Path, force: bool = False) -> ImportReport:
    """Import the sessions under ``prefix/runs`` that the database lacks (all, if ``force``)."""
    out = ImportReport()
    runs = prefix / "runs"
    try:
        dirs = sorted(
            e.name for e in os.scandir(runs) if e.is_dir(follow_symlinks=False) and e.name
        )
    except (FileNotFoundError, NotADirectoryError):
        return out
    except OSError as exc:
        out.problems.append((runs, f"cannot list: {exc.strerror}"))
        return out
    if not dirs:
        return out
    known = db.session_states(dirs)
    failed = set() if force else _failures(db, dirs)
    for name in dirs:
        path = runs / name
        state = known.get(name)
        # A recorded session's directory is not looked into (a stat each, every open).
        if not force and ((state is not None and state[0]) or name in failed):
            out.skipped += 1
            continue
        has_report = (path / REPORT).is_file()
        if not has_report and (
            not (path / JOURNAL).is_file()  # nothing recorded yet (a session starting)
            or is_live(path)  # its runner records it
            or (not force and state is not None and _recorded_as_killed(path, state))
        ):
            out.skipped += state is not None
            continue
        try:
            import_one(db, path)
        except Unreadable as exc:
            out.problems.append((path, str(exc)))
            _note_failure(db, name, path, str(exc))
            continue
        out.imported.append(name)
    return out


def import_one(db: ResultsDB, path: Path) -> None:
    """Write one session directory into the database (again). A session without a report
    (its runner was killed) is written from its journal and recorded as ``killed``, not
    complete, with its journal's time: read again only if the journal changes (``--resume``
    of a session that did not reach the database) or a report arrives."""
    if (path / REPORT).is_file():
        session, results = _from_report(path)
        db.begin_session(session, keep_existing=True)
        db.record(session.id, session.started, results)
        db.end_session(session.id, session.finished, session.interrupted)
    else:
        session, results = _from_journal(path)
        db.begin_session(session, keep_existing=True)
        db.record(session.id, session.started, results)
        db.mark_killed(session.id, session.finished)
    db.backend.write(lambda w: w.execute("DELETE FROM import_failures WHERE id = ?", (session.id,)))


def _from_report(path: Path) -> tuple[SessionRecord, list[CaseResult]]:
    try:
        data = json.loads((path / REPORT).read_text())
        info = data["session"]
        results = [case_from_report(c) for c in data["cases"]]
        started = _epoch(info["started"])
        if started is None:
            raise ValueError("no start time")
        session = SessionRecord(
            id=path.name,
            started=started,
            finished=_epoch(info.get("finished")),
            user=info.get("user"),
            host=info.get("hostname"),
            command=list(info.get("command") or []),
            cwd=info.get("cwd"),
            system=info.get("system"),
            config=info.get("config"),
            version=data.get("assay_version"),
            directory=str(path.absolute()),
            interrupted=info.get("interrupted"),
        )
        git = info.get("git")
        if isinstance(git, dict) and isinstance(git.get("commit"), str):
            session.git_commit = git["commit"]
            dirty = git.get("dirty")
            session.git_dirty = dirty if isinstance(dirty, bool) else None
    except (OSError, ValueError, KeyError, TypeError, msgspec.ValidationError) as exc:
        raise Unreadable(f"{REPORT}: {exc}") from None
    return session, results


def _from_journal(path: Path) -> tuple[SessionRecord, list[CaseResult]]:
    """A session that never wrote its report (killed): what its journal kept."""
    recovered = recover(path)
    command: list[Any] = []
    if (path / COMMAND).is_file():  # a FIFO or a device there would block or never end
        try:
            found = json.loads((path / COMMAND).read_text())
            command = found if isinstance(found, list) else []
        except (OSError, ValueError):
            pass
    session = SessionRecord(
        id=path.name,
        started=_started_from_name(path),
        command=["assay", *map(str, command)],
        version=None,
        directory=str(path.absolute()),
        finished=journal_time(path),
    )
    return session, list(recovered.results.values())


def journal_time(directory: Path) -> float | None:
    """When a session's journal last changed (what a killed session is recorded with)."""
    try:
        return (directory / JOURNAL).stat().st_mtime
    except OSError:
        return None


def _recorded_as_killed(path: Path, state: tuple[bool, str | None, float | None]) -> bool:
    """A killed session whose journal has not changed since it was recorded as such."""
    _, interrupted, finished = state
    return interrupted == KILLED and finished is not None and finished == journal_time(path)


def _started_from_name(path: Path) -> float:
    """A session id starts with its local start time (``20250101-120000-ab12``)."""
    try:
        return time.mktime(time.strptime(path.name[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0


def _epoch(text: Any) -> float | None:
    if text is None:
        return None
    if isinstance(text, int | float):
        return float(text)
    return datetime.fromisoformat(str(text)).timestamp()


def case_from_report(data: dict[str, Any]) -> CaseResult:
    """A case of a JSON report (docs/report.md) as a :class:`CaseResult`."""
    fields = dict(data)
    fields.pop("duration", None)  # derived from timings
    fields["started"] = _epoch(fields.get("started"))
    fields["finished"] = _epoch(fields.get("finished"))
    return msgspec.convert(fields, CaseResult)


def _failures(db: ResultsDB, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(ids):
        marks, params = in_list(part)
        rows = db.backend.query(
            f"SELECT id FROM import_failures WHERE id IN ({marks})",  # noqa: S608
            params,
        )
        found.update(r[0] for r in rows)
    return found


def _note_failure(db: ResultsDB, name: str, path: Path, reason: str) -> None:
    def work(w: Writer) -> None:
        w.execute("DELETE FROM import_failures WHERE id = ?", (name,))
        w.execute(
            "INSERT INTO import_failures (id, directory, reason) VALUES (?, ?, ?)",
            (name, str(path), reason),
        )

    db.backend.write(work)
