"""A recording session's writes keep their statement journals in memory: SQLite spilled
those of its multi-row inserts and upserts to temporary files (made, written a page at a
time and deleted, in most of a run's transactions). Real SQLite; the files are seen in
/proc/self/fd while the statements of a transaction run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from assay.results.db import ResultsDB, SessionRecord
from assay.results.model import CaseResult, Status
from assay.results.recorder import Recorder

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")

T0 = 1_800_000_000.0


def results(n: int) -> list[CaseResult]:
    return [
        CaseResult(
            name=f"Trivial[i={i}] @local:default+builtin",
            id=f"{i:08x}c0ffee",
            test="Trivial",
            variant=f"Trivial[i={i}]",
            params={"i": str(i)},
            system="local",
            partition="default",
            environment="builtin",
            status=Status.PASSED,
            timings={"setup": 0.001, "run": 0.01, "sanity": 0.0002},
            attempts=1,
        )
        for i in range(n)
    ]


def record(db: ResultsDB, sid: str, at: float, cases: list[CaseResult]) -> None:
    db.begin_session(SessionRecord(id=sid, started=at, command=["assay"]))
    db.record_new(sid, at, cases)
    db.end_session(sid, at + 10)


def temporary_files() -> set[str]:
    """The files SQLite made for this process and deleted (named etilqs_*)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.add(target)
    return found


def test_a_recorders_writes_make_no_temporary_file(tmp_path: Path):
    target = tmp_path / "results.sqlite"
    cases = results(1000)
    with ResultsDB.open(target) as db:
        record(db, "s1", T0, cases)  # (the series then exist: the next session upserts)
    recorder = Recorder.open(str(target), tmp_path, import_runs=False)
    assert recorder.db is not None
    seen: set[str] = set()
    # (at each statement's start: a statement journal lives until its transaction ends)
    recorder.db.backend.db.set_trace_callback(lambda _: seen.update(temporary_files()))  # type: ignore[attr-defined]
    record(recorder.db, "s2", T0 + 100, cases)
    recorder.db.backend.db.set_trace_callback(None)  # type: ignore[attr-defined]
    recorder.close()
    assert seen == set()
    with ResultsDB.open(target) as db:  # (and everything was written)
        assert len(db.session_cases("s2")) == 1000


def test_without_it_sqlite_spills_them(tmp_path: Path):
    """The test above can see the files: an opened database, as readers use it, does."""
    target = tmp_path / "results.sqlite"
    cases = results(1000)
    with ResultsDB.open(target) as db:
        record(db, "s1", T0, cases)
        seen: set[str] = set()
        db.backend.db.set_trace_callback(lambda _: seen.update(temporary_files()))  # type: ignore[attr-defined]
        record(db, "s2", T0 + 100, cases)
        db.backend.db.set_trace_callback(None)  # type: ignore[attr-defined]
    assert seen
