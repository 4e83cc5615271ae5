"""What recording costs the database connection: batches of any size use a few statement
texts, so each is prepared once and kept (SQLite's statement cache holds 128; a new text per
batch size compiled a statement per batch and kept megabytes of them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from assay.results.db import ResultsDB, SessionRecord
from assay.results.db.backends import Row, Writer
from assay.results.db.records import case_rows, write_cases
from assay.results.model import ArtifactUse, MetricResult
from tests.unit.test_results_db import T0, result


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
