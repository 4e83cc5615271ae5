"""Comparing two recorded sessions (both backends), and the hook that judges changes."""

from __future__ import annotations

import pytest

from assay.errors import UsageError
from assay.results.db import ResultsDB
from assay.results.model import Status
from assay.results.sessions import MetricChange, choose, compare, resolve, to_json
from tests.unit.test_results_db import T0, repeated, result, session


@pytest.fixture
def db(results_target: str):
    with ResultsDB.open(results_target) as opened:
        yield opened


def test_changes_are_sorted_largest_first_and_judged_by_the_hook(db):
    a = {"case_id": "aaaa0000", "params": {"threads": "1"}}
    b = {"case_id": "bbbb0000", "params": {"threads": "4"}}
    for i, (x, y) in enumerate([(10.0, 100.0), (10.5, 101.0), (9.5, 99.0)]):
        session(db, f"s{i}", T0 + i, result(metrics={"bw": x}, **a), result(metrics={"bw": y}, **b))
    session(db, "s3", T0 + 3, result(metrics={"bw": 10.1}, **a), result(metrics={"bw": 80.0}, **b))
    seen: list[MetricChange] = []

    def judge(change: MetricChange) -> str:
        seen.append(change)
        history = [p.value for p in db.metric_series_of(change.series, change.metric)]
        spread = max(history[:-1]) - min(history[:-1])
        return "significant" if abs(change.after - change.before) > spread else "noise"

    first, last = db.session("s2"), db.session("s3")
    found = compare(db, first, last, judge)
    assert [(m.case_id, m.significance) for m in found.metrics] == [
        ("bbbb0000", "significant"),  # -19%
        ("aaaa0000", "noise"),  # +6%
    ]
    assert found.metrics[0].change == pytest.approx(-19 / 99)
    assert {c.sessions for c in seen} == {("s2", "s3")}
    assert to_json(found)["metrics"][0]["significance"] == "significant"


def test_statuses_fold_repetitions_worst_first(db):
    from assay.results.db import SessionRecord

    session(db, "s0", T0, result())
    db.begin_session(SessionRecord(id="s1", started=T0 + 1))
    db.record("s1", T0 + 1, [result(), repeated(result(status=Status.FAILED), 2)])
    db.end_session("s1", T0 + 2)
    found = compare(db, db.session("s0"), db.session("s1"))
    assert [s.case_id for s in found.new_failures] == ["0000aaaa"]
    assert found.new_failures[0].reason == "run: it failed"


def test_sessions_are_found_by_a_start_of_their_id(db):
    session(db, "20300101-000000-aaaa", T0, result())
    session(db, "20300101-000000-abcd", T0 + 1, result())
    assert resolve(db, "20300101-000000-ab").id == "20300101-000000-abcd"
    with pytest.raises(UsageError, match="ambiguous"):
        resolve(db, "20300101-000000-a")
    with pytest.raises(UsageError, match="no recorded session 'x'"):
        resolve(db, "x")
    # One given: against the newest.
    a, b = choose(db, "20300101-000000-aaaa", None)
    assert (a.id, b.id) == ("20300101-000000-aaaa", "20300101-000000-abcd")


def test_a_start_of_an_id_is_no_pattern(db):
    session(db, "20300101-000000-aaaa", T0, result())
    for text in ("2030010_", "20300101%", "%"):
        with pytest.raises(UsageError, match="no recorded session"):
            resolve(db, text)
