"""What recording costs the database connection: batches of any size use a few statement
texts, so each is prepared once and kept (SQLite's statement cache holds 128; a new text per
batch size compiled a statement per batch and kept megabytes of them)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from assay.results.db import ResultsDB, SessionRecord
from assay.results.db.backends import Row, Writer
from assay.results.db.records import case_rows, write_cases
from assay.results.model import ArtifactUse, Failure, MetricResult
from assay.results.recorder import Recorder
from tests.unit.test_results_db import T0, result
from tests.unit.test_results_import import _session


class ObservingWriter(Writer):
    """A real writer whose statement texts are noted on the way through."""

    def __init__(self, inner: Writer, seen: set[str]) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.seen = seen

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.seen.add(sql)
        self.inner.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.seen.add(sql)
        self.inner.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.seen.add(sql)
        return self.inner.query(sql, params)


def _batch(first: int, size: int) -> list[Any]:
    out = []
    for i in range(first, first + size):
        r = result(params={"i": str(i)}, case_id=f"{i:08x}", metrics={"triad": float(i)})
        r.artifacts = [ArtifactUse("build", 0, "solver@1", "t" * 64)]
        r.metrics.append(MetricResult("copy", 1.0, "GB/s"))
        out.append(r)
    return out


def test_batches_of_every_size_share_a_few_statement_texts(results_target):
    seen: set[str] = set()
    with ResultsDB.open(results_target) as db:
        db.begin_session(SessionRecord(id="s0", started=T0))
        first = 0
        for size in range(1, 301):
            items = [case_rows("s0", T0, r) for r in _batch(first, size)]
            first += size
            db.backend.write(
                lambda w, items=items: write_cases(ObservingWriter(w, seen), items, replace=False)
            )
        recorded = db.backend.query("SELECT count(*) FROM cases")[0][0]
        series = db.backend.query("SELECT count(*) FROM series")[0][0]
        metrics = db.backend.query("SELECT count(*) FROM metrics")[0][0]
    assert recorded == series == first == 300 * 301 // 2
    assert metrics == 2 * first
    # 300 batch sizes: per table, a statement for each power of two up to the largest
    assert len(seen) <= 40, len(seen)


def test_reads_by_many_keys_share_a_few_statement_texts(results_target):
    with ResultsDB.open(results_target) as db:
        db.begin_session(SessionRecord(id="s0", started=T0))
        db.record("s0", T0, _batch(0, 700))
        names = [r.series.series for r in (case_rows("s0", T0, r) for r in _batch(0, 700))]
        texts: set[str] = set()
        real = db.backend.query

        def noting(sql: str, params: Sequence[Any] = ()) -> list[Row]:
            texts.add(sql)
            return real(sql, params)

        db.backend.query = noting  # type: ignore[method-assign]
        for n in range(1, 700, 7):
            found = db.expected(names[:n])
            assert sorted(found) == sorted(set(names[:n]))
        assert len(texts) <= 11, len(texts)


def test_the_recorders_connection_keeps_a_small_page_cache(tmp_path):
    from assay.results.recorder import RECORDING_CACHE_KIB, Recorder

    recorder = Recorder.open(str(tmp_path / "results.sqlite"), tmp_path)
    try:
        assert recorder.db is not None
        assert recorder.db.backend.query("PRAGMA cache_size") == [(-RECORDING_CACHE_KIB,)]
    finally:
        recorder.close()
    # a reader keeps SQLite's default (history and compare read many pages)
    with ResultsDB.open(tmp_path / "results.sqlite") as db:
        assert db.backend.query("PRAGMA cache_size") == [(-2000,)]


def test_expectations_are_small_objects(results_target):
    with ResultsDB.open(results_target) as db:
        db.begin_session(SessionRecord(id="s0", started=T0))
        db.record("s0", T0, [result()])
        (found,) = db.expected([r.series.series for r in [case_rows("s0", T0, result())]]).values()
    assert not hasattr(found, "__dict__")  # one per case of a run, held through it
    assert (found.work, found.run, found.samples) == (1.01, 1.0, 1)


def test_an_import_looks_into_no_directory_of_a_recorded_session(tmp_path, monkeypatch):
    from assay.results.db import importer

    prefix = tmp_path / "prefix"
    for i in range(5):
        (prefix / "runs" / f"s{i}").mkdir(parents=True)
    with ResultsDB.open(tmp_path / "results.sqlite") as db:
        for i in range(5):
            db.begin_session(SessionRecord(id=f"s{i}", started=T0 + i))
            db.end_session(f"s{i}", T0 + i + 1)
        looked: list[str] = []
        real = importer.Path.is_file

        def noting(self: importer.Path) -> bool:
            looked.append(str(self))
            return real(self)

        monkeypatch.setattr(importer.Path, "is_file", noting)
        out = importer.import_sessions(db, prefix)
    assert out.skipped == 5 and not out.imported
    assert looked == []


def test_statement_sizes_add_up_in_powers_of_two():
    from assay.results.db.records import in_list, statement_sizes

    for n in range(300):
        sizes = list(statement_sizes(n, 64))
        assert sum(sizes) == n
        assert all(s & (s - 1) == 0 and 0 < s <= 64 for s in sizes)
        assert sizes == sorted(sizes, reverse=True)
    for n in range(1, 70):
        marks, params = in_list(list(range(n)))
        assert marks.count("?") == len(params) >= n
        assert len(params) & (len(params) - 1) == 0 and set(params) == set(range(n))


def test_a_batch_reaches_the_series_index_in_its_order(tmp_path):
    # The series index takes each new row at its series' place anywhere in it: rows in
    # that order read and write each of its pages once per batch (the recorder's cache
    # holds few), not once per row.
    with ResultsDB.open(tmp_path / "results.sqlite") as db:
        db.begin_session(SessionRecord(id="s0", started=T0))
        batch = _batch(0, 300)
        db.record_new("s0", T0, batch)
        stored = db.backend.query("SELECT series, at, rep FROM cases ORDER BY rowid")
        metrics = db.backend.query("SELECT series FROM metrics ORDER BY rowid")
    assert len(stored) == 300
    assert stored == sorted(stored)
    assert [r[0] for r in metrics] == sorted(r[0] for r in metrics)
    # (and nothing was lost or made up on the way: the batch's own series, each once)
    assert sorted(r[0] for r in stored) == sorted(
        case_rows("s0", T0, r).series.series for r in batch
    )


def _wal_salts(path: Path) -> bytes:
    """The salts of an SQLite write-ahead log's header: new each time the log restarts
    after a checkpoint folded it into the database."""
    with open(f"{path}-wal", "rb") as fh:
        return fh.read(24)[16:24]


def test_the_recorder_folds_its_log_into_the_database_once_at_the_end(tmp_path):
    # SQLite's default checkpoint (at 1,000 pages of log) ran in nearly every transaction
    # of a session, with two syncs each, while the cases ran.
    path = tmp_path / "results.sqlite"
    recorder = Recorder.open(str(path), tmp_path)
    session = _session()
    recorder.start(session, None)
    assert recorder.db is not None
    # (the fold of what earlier sessions left, the recorder's first work, is done once the
    # session is recorded: the batches below are written from this thread, not the
    # recorder's, and must come after it)
    deadline = time.monotonic() + 60
    while recorder.db.session(session.id) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    salts = None
    for first in range(0, 1500, 500):  # about 1,700 pages of log in three transactions
        batch = _batch(first, 500)
        for r in batch:
            assert r.failure is None
            r.failure = Failure("run", "x" * 3000)  # a page of its own per case
        recorder.db.record_new(session.id, T0, batch)
        salts = salts or _wal_salts(path)
        assert _wal_salts(path) == salts  # the log was never restarted: no checkpoint
    with ResultsDB.open(path) as reader:  # (a reader open at the end: no fold at close)
        assert len(reader.session_cases(session.id)) == 1500
        session.finished = T0 + 3
        recorder.finish(session)
        # folded in at the end all the same: the next writer starts the log anew
        reader.begin_session(SessionRecord(id="s-next", started=T0 + 10))
        assert _wal_salts(path) != salts
        assert len(reader.session_cases(session.id)) == 1500


def test_a_live_sessions_merge_reads_no_series_identity(tmp_path):
    # A live session's cases are the newest of their series and replace its identity
    # (name, parameters, ...): the merge reads only the last verdict and durations, not
    # eight more columns with the longest texts per case.
    seen: set[str] = set()
    with ResultsDB.open(tmp_path / "results.sqlite") as db:
        for i, sid in enumerate(("s0", "s1")):
            db.begin_session(SessionRecord(id=sid, started=T0 + i))
            items = [case_rows(sid, T0 + i, r) for r in _batch(0, 40)]
            db.backend.write(
                lambda w, items=items: write_cases(ObservingWriter(w, seen), items, replace=False)
            )
    reads = [s for s in seen if s.startswith("SELECT") and "FROM series" in s]
    assert reads
    assert all(" name," not in s and "params" not in s for s in reads), reads
