"""Closing an SQLite results database in the ``assay`` program (which ends without the
interpreter's teardown) leaves its write-ahead log for the next opener: the fold, a copy
and two syncs, is not at the end of a run, where the user waits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay import entry
from assay.results.db import ResultsDB, SessionRecord, backends


@pytest.fixture
def the_program(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as the ``assay`` program; what it left open is closed afterwards."""
    monkeypatch.setattr(entry, "ENDS_AT_ONCE", True)
    yield
    left, backends._LEFT_OPEN[:] = list(backends._LEFT_OPEN), []
    for conn in left:
        conn.close()


def _frames(path: Path) -> int:
    """The frames an SQLite write-ahead log file holds (none if it is gone)."""
    wal = Path(f"{path}-wal")
    return max(0, (wal.stat().st_size - 32) // (4096 + 24)) if wal.exists() else 0


def test_the_program_leaves_the_log_for_the_next_opener(tmp_path, the_program):
    path = tmp_path / "results.sqlite"
    db = ResultsDB.open(path)
    db.begin_session(SessionRecord(id="s1", started=1.0))
    db.close()
    assert _frames(path) > 0  # not folded into the file, not removed
    with ResultsDB.open(path) as again:  # (every later connection reads it)
        assert again.session("s1") is not None


def test_outside_the_program_a_close_folds_the_log_in(tmp_path):
    path = tmp_path / "results.sqlite"
    db = ResultsDB.open(path)
    db.begin_session(SessionRecord(id="s1", started=1.0))
    db.close()
    assert _frames(path) == 0


def test_the_program_keeps_few_connections_open_however_often_it_opens(tmp_path, the_program):
    path = tmp_path / "results.sqlite"
    before = len(os.listdir("/proc/self/fd"))
    held = []
    for n in range(40):
        db = ResultsDB.open(path)
        db.begin_session(SessionRecord(id=f"s{n}", started=float(n)))
        db.close()
        held.append(len(os.listdir("/proc/self/fd")) - before)
    # A few descriptors per connection left open (its file, its log), as many after 40
    # opens as after 20.
    assert held[-1] == held[19] <= 3 * backends._LEAVE_AT_MOST, held
    with ResultsDB.open(path) as reader:
        assert len(reader.sessions(100)) == 40
