"""How results and failures are worded: exit statuses, exceptions in a test's own code, and
the identity every result of a case carries."""

from __future__ import annotations

import os
import signal
import traceback
from pathlib import Path

from assay.plan import Case
from assay.results.model import CaseResult, Status


def describe_status(status: int | None) -> str:
    """``exit code 3`` or ``killed by signal 9 (SIGKILL)``."""
    if status is None:
        return "no exit code"
    if status >= 0:
        return f"exit code {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = "unknown"
    return f"killed by signal {-status} ({name})"


_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """A one-line reason naming the test's own file and line, and the traceback below it."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_PACKAGE_DIR)
    ]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    first = (str(exc).splitlines() or [""])[0]
    more = " ..." if len(str(exc).splitlines()) > 1 else ""
    reason = f"{type(exc).__name__}: {first}{more}{where}"
    details = "".join(traceback.format_list(frames)) + f"{type(exc).__name__}: {exc}"
    return reason, details


def new_result(case: Case, status: Status, reason: str | None = None) -> CaseResult:
    """A result for ``case`` that carries its identity (and a skip reason, if any)."""
    return CaseResult(
        name=case.name,
        id=case.id,
        test=case.test.__name__,
        variant=case.variant.name,
        params=case.variant.param_labels,
        system=case.partition.system,
        partition=case.partition.name,
        environment=case.environment,
        status=status,
        tags=sorted(case.field("tags")),
        scaling=case.test.scaling,
        file=case.test._assay.file,
        line=case.test._assay.line,
        skip_reason=reason if status == Status.SKIPPED else None,
        selected=case.selected,
        dependencies=[d.name for d in case.deps],
    )
