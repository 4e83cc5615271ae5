"""JUnit XML for CI servers: one testsuite per test, one testcase per case.

Failures carry the stage as ``type``, the reason as ``message``, and the tails
of the case's output as text, so a CI page shows why without opening files.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from assay.files import tail, write_named
from assay.results.model import CaseResult, Session, Status
from assay.results.report import iso

# Characters XML 1.0 cannot carry at all (terminal escapes are fine once ESC is gone).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
TAIL_LINES = 50


def _clean(text: str) -> str:
    return _INVALID_XML.sub("", text)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _output_tails(result: CaseResult) -> tuple[str, str]:
    out = err = ""
    if result.output_dir:
        base = Path(result.output_dir)
        stage = "build" if result.failure and result.failure.stage == "build" else "run"
        out = tail(base / f"assay-{stage}.out", TAIL_LINES) or ""
        err = tail(base / f"assay-{stage}.err", TAIL_LINES) or ""
    return out, err


def _metrics_text(result: CaseResult) -> str:
    lines = []
    for m in result.metrics:
        unit = f" {m.unit}" if m.unit else ""
        value = "n/a" if m.value is None else f"{m.value:.6g}"
        ref = "" if m.reference is None else f" (reference {m.reference:.6g}{unit})"
        lines.append(f"metric {m.name} = {value}{unit}{ref}: {m.verdict}")
    return "\n".join(lines)


def _testcase(parent: ET.Element, result: CaseResult) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        name=_clean(result.name),
        classname=_clean(result.test),
        time=_seconds(result.duration),
    )
    if result.status == Status.SKIPPED:
        ET.SubElement(case, "skipped").text = _clean(result.skip_reason or "skipped")
    elif result.status in (Status.FAILED, Status.ABORTED) and result.failure:
        tag = "error" if result.status == Status.ABORTED else "failure"
        failure = result.failure
        element = ET.SubElement(
            case, tag, type=failure.stage, message=_clean(failure.reason.splitlines()[0])
        )
        body = [f"stage: {failure.stage}", f"reason: {failure.reason}"]
        if failure.details:
            body.append(failure.details)
        if result.stage_dir:
            body.append(f"stage dir: {result.stage_dir}")
        for earlier in result.earlier_failures:
            body.append(f"earlier attempt failed at {earlier.stage}: {earlier.reason}")
        element.text = _clean("\n".join(body))
    out, err = _output_tails(result)
    metrics = _metrics_text(result)
    if metrics:
        out = f"{metrics}\n{out}" if out else metrics
    if out:
        ET.SubElement(case, "system-out").text = _clean(out)
    if err:
        ET.SubElement(case, "system-err").text = _clean(err)


def _suite(
    root: ET.Element, name: str, results: Iterable[CaseResult], session: Session
) -> ET.Element:
    results = list(results)
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_clean(name),
        tests=str(len(results)),
        failures=str(sum(r.status == Status.FAILED for r in results)),
        errors=str(sum(r.status == Status.ABORTED for r in results)),
        skipped=str(sum(r.status == Status.SKIPPED for r in results)),
        time=_seconds(sum(r.duration for r in results)),
        timestamp=iso(session.started) or "",
        hostname=_clean(session.hostname or socket.gethostname()),
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (("system", session.system), ("session", session.id)):
        ET.SubElement(props, "property", name=key, value=_clean(value))
    for result in results:
        _testcase(suite, result)
    return suite


def to_xml(session: Session) -> str:
    """The JUnit XML document for ``session``."""
    root = ET.Element(
        "testsuites",
        name="assay",
        tests=str(len(session.results) + len(session.problems)),
        failures=str(session.count(Status.FAILED)),
        errors=str(session.count(Status.ABORTED) + len(session.problems)),
        time=_seconds((session.finished or session.started) - session.started),
    )
    by_test: dict[str, list[CaseResult]] = {}
    for result in session.results:
        by_test.setdefault(result.test, []).append(result)
    for test, results in by_test.items():
        _suite(root, test, results, session)
    if session.problems:
        suite = _suite(root, "assay.load", [], session)
        suite.set("tests", str(len(session.problems)))
        suite.set("errors", str(len(session.problems)))
        for problem in session.problems:
            case = ET.SubElement(
                suite, "testcase", name=_clean(problem.location), classname="assay.load", time="0"
            )
            ET.SubElement(
                case, "error", type="load", message=_clean(problem.message.splitlines()[0])
            ).text = _clean(problem.message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(session: Session, path: str | Path) -> Path:
    """Write the JUnit XML to ``path``, a path the user named (``--junit``: see
    :func:`assay.files.write_named`)."""
    write_named(path, to_xml(session))  # (the name as given: "out/" names a directory)
    return Path(path)
