"""The report: its timestamps (``iso`` says what ``datetime`` says, to the millisecond) and
the document report.json holds."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from assay.results import report
from assay.results.model import (
    ArtifactUse,
    CaseResult,
    Failure,
    MetricResult,
    Problem,
    Session,
    Status,
)
from assay.results.report import iso


def _datetime_says(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


# Whole seconds of today's clock, the epoch and the last second datetime can show.
_SECONDS = [0, 1, 59, 1_796_150_641, 1_796_169_599, 253_402_300_798]


@pytest.mark.parametrize("second", _SECONDS)
def test_every_rounding_edge_of_a_second_is_told_as_datetime_tells_it(second: int) -> None:
    """The microseconds round half to even and carry into the next second (a different
    minute, day or year then), as ``fromtimestamp`` rounds them; the milliseconds are cut."""
    values = [second + micro / 1e6 for micro in range(0, 1_000_000, 997)]
    values += [second + (micro + 0.5) / 1e6 for micro in (0, 499, 500, 999, 999_998, 999_999)]
    values += [math.nextafter(second + 1.0, 0.0), second + 0.9995, second + 0.0005]
    for value in values:
        assert iso(value) == _datetime_says(value), repr(value)


def test_random_timestamps_are_told_as_datetime_tells_them() -> None:
    rng = random.Random(12)
    values = [rng.uniform(0, 253_402_300_798) for _ in range(20_000)]
    values += [1_796_150_641 + rng.uniform(-1e6, 1e6) for _ in range(20_000)]
    for value in values:
        assert iso(value) == _datetime_says(value), repr(value)


def test_timestamps_outside_the_usual_range_are_told_or_refused_as_before() -> None:
    assert iso(None) is None
    assert iso(-1.25) == _datetime_says(-1.25)
    for odd in (float("nan"), float("inf"), 1e20):
        with pytest.raises((ValueError, OverflowError, OSError)) as ours:
            iso(odd)
        with pytest.raises((ValueError, OverflowError, OSError)) as theirs:
            _datetime_says(odd)
        assert ours.type is theirs.type


def _full_case(i: int) -> CaseResult:
    """A case with every kind of value a report holds: failures, metrics, artifacts,
    comparisons, dependencies, parameters, text that is not ASCII."""
    return CaseResult(
        name=f"Tést[i={i}] @local:default+builtin",
        id=f"{i:08x}",
        test="Tést",
        variant=f"Tést[i={i}]",
        params={"i": str(i), "ß": "☃"},
        system="local",
        partition="default",
        environment="builtin",
        status=Status.FAILED if i % 2 else Status.PASSED,
        tags=["a", "b"],
        file="/t/test_x.py",
        line=4,
        failure=Failure("sanity", "pattern 'x' not found", "details\n\tthere") if i % 2 else None,
        skip_reason=None,
        timings={"setup": 0.0009713330000522546, "run": 0.027241063999099424, "cleanup": 1e-7},
        metrics=[
            MetricResult(
                "speed", 12.5 + i, "GB/s", 12.0, -0.1, 0.1, 10.8, 13.2, "pass", None, "higher"
            ),
            MetricResult("none", None, None),
        ],
        attempts=2,
        earlier_failures=[Failure("run", "exit 1")],
        exit_code=1,
        job_id="123",
        hosts="c[1-2]",
        stage_dir=None,
        output_dir="/o/x",
        remote_dir=None,
        started=1_796_150_641.943169 + i,
        finished=1_796_150_641.971827 + i,
        selected=bool(i % 3),
        dependencies=["abc"],
        comparisons=[{"file": "out.txt", "same": False, "n": [1, 2.5]}],
        scaling="i",
        nodes=2,
        artifacts=[ArtifactUse("build", 1, "build@3", "t" * 64)],
        repeat=1 + i % 2,
    )


def test_the_written_report_is_the_document_to_dict_gives(tmp_path: Path) -> None:
    """report.write encodes the cases' own values, not the builtins to_dict makes of them
    (the HTML report's input): the same document, byte for byte."""
    session = Session(
        id="s1",
        started=1_796_150_640.5,
        command=["assay", "run", "."],
        cwd="/w",
        system="local",
        config="builtin",
        hostname="h",
        user="u",
        version="0.1.0",
        results=[_full_case(i) for i in range(6)],
        finished=1_796_150_650.25,
        problems=[Problem("x.py:3", "bad")],
    )
    written = report.write(session, tmp_path / "report.json").read_bytes()
    expected = msgspec.json.format(msgspec.json.encode(report.to_dict(session)), indent=2)
    assert written == expected + b"\n"
    assert json.loads(written) == report.to_dict(session)
