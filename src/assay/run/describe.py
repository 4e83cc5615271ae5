"""How results and failures are worded: exit statuses, exceptions in a test's own code, and
the identity every result of a case carries."""

from __future__ import annotations

import signal

from assay.guard import describe_exception
from assay.plan import Case, nodes_needed
from assay.results.model import CaseResult, Status

__all__ = ["describe_exception", "describe_status", "new_result", "planned_nodes"]


def describe_status(status: int | None) -> str:
    """``exit code 3`` or ``killed by signal 9 (SIGKILL)``."""
    if status is None:
        # A batch job whose script stopped before its command ended (a shell syntax error,
        # a launcher that would not start) records none: "no exit code" alone said nothing.
        return "no exit code: the job script stopped before its command ended (its stderr says why)"
    if status >= 0:
        return f"exit code {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = "unknown"
    return f"killed by signal {-status} ({name})"


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
        nodes=planned_nodes(case),
        repeat=case.repeat,
    )


def planned_nodes(case: Case) -> int | None:
    """The nodes a case asks for, as planned (None if its fields cannot say yet)."""
    try:
        return nodes_needed(case)
    except (TypeError, ValueError):  # fields a hook has yet to set right
        return None
