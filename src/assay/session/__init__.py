"""One session, the application's wiring point: load, select and plan, run with interrupt
handling, record, report.

Everything below the command line meets here (config, loading, selection, the plan, the
runner, the schedulers, the store, the results); the user interface does not: the CLI
builds the display and hands it in, and the session talks to it through :class:`Display`.

A module per job: :mod:`~assay.session.request` (what was asked, and the plan made of it),
:mod:`~assay.session.directory` (the session's directory and record),
:mod:`~assay.session.context` (what the cases run with), :mod:`~assay.session.signals`,
:mod:`~assay.session.reports` (the end of a session) and :mod:`~assay.session.running`, which
wires them. The names below are imported on first use: ``assay list`` needs the plan, not
the runner.
"""

from typing import TYPE_CHECKING

from assay.lazy import exports

if TYPE_CHECKING:
    from assay.session.directory import COMMAND_FILE, resumable_session, resume_arguments
    from assay.session.display import Display, JobStates
    from assay.session.request import Prepared, Request, prepare
    from assay.session.running import run

__getattr__ = exports(
    __name__,
    {
        "COMMAND_FILE": "assay.session.directory",
        "resumable_session": "assay.session.directory",
        "resume_arguments": "assay.session.directory",
        "Display": "assay.session.display",
        "JobStates": "assay.session.display",
        "Prepared": "assay.session.request",
        "Request": "assay.session.request",
        "prepare": "assay.session.request",
        "run": "assay.session.running",
    },
)

__all__ = [
    "COMMAND_FILE",
    "Display",
    "JobStates",
    "Prepared",
    "Request",
    "prepare",
    "resumable_session",
    "resume_arguments",
    "run",
]
