"""The end of a session: its report.json, the end of its recording, regressions against
its history, and the report files the command line asked for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import AssayError
from assay.results.model import Session
from assay.results.recorder import Recorder, database_target, warn_on_stderr
from assay.session.request import Prepared, Request, prefix_of

if TYPE_CHECKING:
    from assay.results.series import HistorySource

# What the end of every session imports (and nothing before its first case needs): the
# report, with the statistics of its samples.
END_MODULES = ("assay.results.report",)


def write_reports(
    request: Request, prepared: Prepared, session: Session, directory: Path, recorder: Recorder
) -> tuple[Path, list[str]]:
    """The session's report.json (first: whatever follows must not lose it), the end of its
    recording, regressions found against its history (the results database, else the
    prefix's session directories), and the reports the command line asked for. Returns the
    report's path and the files that could not be written (the user's to fix: shown after
    the summary, without losing it or the other files)."""
    from assay.results import report  # lazy: the end of a run only

    estimate = tuple(reversed(session.estimate)) if session.estimate else ()
    recorder.end(session, *estimate)  # the database's end, in its thread, meanwhile
    path = report.write(session, directory / "report.json")
    recorder.finish(session)
    if not request.html and not _measured(session):
        # Nothing to hold against history: the database is not opened again, and the
        # detection is not imported.
        return _against_history(request, prepared, session, path, None)
    from assay.results.db.source import open_history  # lazy: sessions that measured

    config, system = prepared.config, prepared.system
    prefix = prefix_of(request, config, system)
    # A database the recorder could not open was reported then: not tried (and said) again.
    with open_history(
        database_target(config, system, prefix) if recorder.opened else None,
        prefix,
        warn_on_stderr,
        exclude=session.id,
        until=session.started,
    ) as history:
        return _against_history(request, prepared, session, path, history)


def needs_history(request: Request, session: Session) -> bool:
    """Whether the end of ``session`` reads its history: the regressions of what it
    measured, or the plots of ``--html``. Then its report and summary wait for the end of
    its recording (:func:`write_reports`); else they need not (:func:`write_unjudged`)."""
    return bool(request.html) or _measured(session)


def write_unjudged(
    request: Request, prepared: Prepared, session: Session, directory: Path
) -> tuple[Path, list[str]]:
    """For a session with nothing to hold against its history (see :func:`needs_history`):
    its report.json and the reports the command line asked for, as :func:`write_reports`
    writes them, without the recorder (which may still be opening, or writing the last
    cases: :func:`end_recording` waits for it). Returns what write_reports returns."""
    from assay.results import report  # lazy: the end of a run only

    path = report.write(session, directory / "report.json")
    return _against_history(request, prepared, session, path, None)


def end_recording(recorder: Recorder, session: Session, wait: bool = True) -> None:
    """The end of ``session``'s recording (the session complete, the database closed), for
    a session whose reports :func:`write_unjudged` writes; returns once it is done, or
    (``wait=False``) once handed to the recorder's thread, to be waited for by a later call."""
    estimate = tuple(reversed(session.estimate)) if session.estimate else ()
    if wait:
        recorder.finish(session, *estimate)
    else:
        recorder.end(session, *estimate)


def _measured(session: Session) -> bool:
    """Whether a case of ``session`` has a metric value (what regressions are found in)."""
    return any(m.value is not None for r in session.results for m in r.metrics)


def _against_history(
    request: Request,
    prepared: Prepared,
    session: Session,
    path: Path,
    history: HistorySource | None,
) -> tuple[Path, list[str]]:
    """Regressions against ``history`` (None: the session measured nothing), then the
    report files the command line asked for."""
    from assay.results import report

    detection = prepared.config.detection.settings()
    if history is not None:
        from assay.results import regressions  # lazy: sessions that measured

        try:
            session.regressions, session.not_judged = regressions.find_all(
                session, history, detection
            )
        except AssayError as exc:  # (a database changed by other means: no traceback)
            warn_on_stderr(f"{exc.message}; this run's metrics are not held against it")
    if session.regressions or session.not_judged:
        report.write(session, path)
    problems: list[str] = []
    if request.report:
        _write_file(
            "JSON report",
            request.report,
            problems,
            lambda out: report.write(session, out, named=True),
        )
    if request.junit:
        from assay.results import junit  # lazy: start-up time (xml.etree: 22 ms; --junit only)

        _write_file(
            "JUnit XML report", request.junit, problems, lambda out: junit.write(session, out)
        )
    if request.html:
        from assay.results import html  # lazy: start-up time (plotting; --html only)

        assert history is not None  # --html always reads it

        data = report.to_dict(session)
        _write_file(
            "HTML report",
            request.html,
            problems,
            lambda out: html.write(data, out, history, detection),
        )
    return path, problems


def _write_file(what: str, path: str, problems: list[str], write: Callable[[str], object]) -> None:
    """Write a report file the user asked for; a path that cannot be written is theirs to
    fix, and must lose neither the summary nor the other files."""
    try:
        write(path)
    except AssayError as exc:  # it says what went wrong itself (the history's reads too)
        problems.append(str(exc))
    except OSError as exc:
        problems.append(f"cannot write the {what} {path}: {exc.strerror or exc}")
