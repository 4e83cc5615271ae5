"""Duration-aware scheduling: slots served longest expected first, priorities from history
(and declared limits), packs balanced by recorded run times, and the time-left estimate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from assay.config import default_config, parse_config
from assay.load import load
from assay.plan import make_plan
from assay.results.db import Expected
from assay.run.eta import Estimator
from assay.run.priority import (
    Expectations,
    case_series,
    declared_limit,
    plan_series,
)
from assay.run.runner import Runner, RunOptions
from assay.schedulers.packing import balance
from assay.select import Selection
from tests.unit.test_packing import make_packer, spec, waiting

# --- expectations ------------------------------------------------------------------------


def _plan(tmp_path: Path, source: str, config: str | None = None):
    path = tmp_path / "test_sched.py"
    path.write_text(source)
    loaded = load([str(path)])
    assert not loaded.problems, loaded.problems
    cfg = parse_config(config, "x.toml") if config else default_config()
    system = next(iter(cfg.systems))
    return make_plan(loaded.tests, cfg, system, Selection(), {})


SUITE = """
import assay

class Short(assay.Test):
    i = assay.parameter(range(3))
    command = "true"
    time_limit = "10s"

class Long(assay.Test):
    command = "true"
    time_limit = "1h"

class Unlimited(assay.Test):
    command = "true"

class Build(assay.Test):
    command = "true"
    time_limit = "5s"

class UsesBuild(assay.Test):
    depends_on = "Build"
    command = "true"
    time_limit = "10m"
"""


def test_priority_from_history_else_declared_limit_plus_what_waits(tmp_path):
    plan = _plan(tmp_path, SUITE)
    by_name = {c.test.__name__ + str(c.variant.values): c for c in plan.cases}
    short0 = by_name["Short(0,)"]
    history = {case_series(short0): Expected(work=7200.0, run=7000.0, samples=3)}
    expect = Expectations.plan(plan.cases, history)
    assert expect.recorded == {short0.id: 7200.0}
    assert expect.run == {short0.id: 7000.0}
    p = {name: expect.priority[c.id] for name, c in by_name.items()}
    assert p["Short(0,)"] == 7200.0  # recorded beats declared
    assert p["Short(1,)"] == 10.0
    assert p["Long()"] == 3600.0
    assert p["Unlimited()"] == 0.0
    # A dependency is worth its own work plus the longest chain that waits for it.
    assert p["Build()"] == 5.0 + 600.0
    assert p["UsesBuild()"] == 600.0


def test_skipped_cases_are_expected_to_take_nothing(tmp_path):
    plan = _plan(
        tmp_path,
        "import assay\n\nclass Big(assay.Test):\n    command = 'true'\n    nodes = 4\n"
        "    time_limit = '1h'\n",
    )
    expect = Expectations.plan(plan.cases, {})
    assert plan.cases[0].skip
    assert expect.priority[plan.cases[0].id] == 0.0 and expect.recorded[plan.cases[0].id] == 0.0


def test_repetitions_go_round_by_round_and_longest_first_within_a_round(tmp_path):
    """--repeat: every case of round 1 before any of round 2 (round-robin samples), and
    inside a round the longest recorded first."""
    from assay.repeats import repeat_cases

    source = "import assay\n\nclass S(assay.Test):\n    t = assay.parameter([1, 2, 3])\n"
    source += "    command = 'true'\n"
    plan = _plan(tmp_path, source)
    cases = repeat_cases(plan.cases, 3)
    history = {
        case_series(c): Expected(work=float(c.variant.values[0]), run=None, samples=1)
        for c in plan.cases
    }
    expect = Expectations.plan(cases, history)
    assert len(expect.priority) == 9  # one per repetition: none overwrites another
    order = sorted(cases, key=lambda c: -expect.priority[c.key])
    assert [(c.repeat, c.variant.values[0]) for c in order] == [
        (r, t) for r in (1, 2, 3) for t in (3, 2, 1)
    ]
    # Each repetition is expected to take what its case took.
    assert {expect.recorded[c.key] for c in cases if c.variant.values[0] == 2} == {2.0}


def test_a_repetition_has_its_own_key_and_its_case_s_test(tmp_path):
    """Case.key and Case.test are set when a case is made (they are read many times per
    case): a repetition, made with dataclasses.replace, gets its own key."""
    from assay.repeats import repeat_cases

    source = "import assay\n\nclass S(assay.Test):\n    t = assay.parameter([1, 2])\n"
    source += "    command = 'true'\n"
    plan = _plan(tmp_path, source)
    cases = repeat_cases(plan.cases, 2)
    assert [c.key for c in cases] == [c.id for c in plan.cases] + [f"{c.id}-r2" for c in plan.cases]
    assert all(c.test is c.variant.test and c.test.__name__ == "S" for c in cases)


def test_declared_limit_falls_back_to_the_partition(tmp_path):
    config = """
[systems.s]
[systems.s.partitions.p]
time_limit = "2m"
"""
    plan = _plan(tmp_path, "import assay\n\nclass T(assay.Test):\n    command = 'true'\n", config)
    assert declared_limit(plan.cases[0]) == 120.0


def test_a_planned_case_and_its_result_name_the_same_series(tmp_path):
    from assay.results.db.records import result_series
    from assay.results.model import Status
    from assay.run.describe import new_result

    plan = _plan(tmp_path, SUITE)
    for case in plan.cases:
        assert case_series(case) == result_series(new_result(case, Status.PASSED))


SERIES_BY_NODES = """
import assay

class Plain(assay.Test):
    size = assay.parameter([1, 2])
    tasks = 4
    tasks_per_node = 2
    command = "true"

class ByParameter(assay.Test):
    nodes = assay.parameter([1, 2, 4])
    command = "true"

class ByVariant(assay.Test):
    size = assay.parameter([1, 2, 3])
    command = "true"

    @assay.variant_fields
    def per_size(size):
        return {"tasks": size * 2, "tasks_per_node": 2}
"""


def test_the_series_of_a_plan_are_each_cases_own(tmp_path):
    # The node count is found once per test where no variant can change it (plain; -S
    # settings), else per case (a parameter, @variant_fields).
    plan = _plan(tmp_path, SERIES_BY_NODES)
    assert plan_series(plan.cases) == [case_series(c) for c in plan.cases]
    assert len(set(plan_series(plan.cases))) == len(plan.cases) == 8
    path = tmp_path / "test_sched.py"
    loaded = load([str(path)])
    cfg = default_config()
    overridden = make_plan(
        loaded.tests, cfg, next(iter(cfg.systems)), Selection(), {"Plain": {"nodes": 3}}
    )
    assert plan_series(overridden.cases) == [case_series(c) for c in overridden.cases]
    assert plan_series(overridden.cases)[:2] != plan_series(plan.cases)[:2]


# --- packs -------------------------------------------------------------------------------


def test_packs_are_balanced_by_recorded_run_times(tmp_path):
    import dataclasses

    # Every case declares the same limit; history knows one takes much longer.
    runs = [40.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 30.0]
    members = [
        waiting(dataclasses.replace(spec(tmp_path, f"c{i}", 60.0), expected=r))
        for i, r in enumerate(runs)
    ]
    packs = balance(members, 3)
    loads = sorted(sum(m.spec.expected for m in p) for p in packs)
    assert loads == [10.0, 30.0, 40.0]  # the two long ones alone, the short ones together
    assert sorted(m.spec.name for p in packs for m in p) == sorted(m.spec.name for m in members)


def test_pack_count_comes_from_recorded_times_when_known(tmp_path):
    import dataclasses

    packer = make_packer(tmp_path, pack_time=60.0, cpus_per_node=1, nodes=1)
    # Declared limits say 16 minutes of work (16 packs of 60 s); history says 16 s.
    members = [
        waiting(dataclasses.replace(spec(tmp_path, f"c{i}", 60.0), expected=1.0)) for i in range(16)
    ]
    assert len(packer._split(members)) == 1
    unknown = [waiting(spec(tmp_path, f"u{i}", 60.0)) for i in range(16)]
    assert len(packer._split(unknown)) == 16


def test_a_pack_runs_its_cases_longest_first(tmp_path):
    import dataclasses

    from assay.schedulers.base import JobOutcome, JobState

    submitted: list[Path] = []

    async def fake_submit(job, members):
        submitted.append(job.workdir / "manifest.json")
        return JobOutcome(JobState.COMPLETED, 0, job_id="1")

    packer = make_packer(tmp_path)
    packer._submit_job = fake_submit
    members = [
        waiting(dataclasses.replace(spec(tmp_path, f"c{i}", 60.0), expected=e))
        for i, e in enumerate([1.0, 5.0, None, 3.0])
    ]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        again = [type(m)(m.spec, loop.create_future()) for m in members]
        await packer.submit(again)

    asyncio.run(main())
    manifest = json.loads(submitted[0].read_text())
    # Unknown (None) falls back to its declared limit, 60 s.
    assert [c["id"] for c in manifest["cases"]] == ["c2", "c1", "c3", "c0"]


# --- time left ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_time_left_lays_recorded_durations_on_the_slots():
    clock = Clock()
    cases = [(c, "p") for c in "abcd"]
    eta = Estimator(
        cases,
        {"a": 10.0, "b": 6.0, "c": 4.0, "d": 2.0},
        {"p": 2},
        {"a": 4, "b": 3, "c": 2, "d": 1},
        clock,
    )
    # LPT on 2 slots: a | b, c, d -> 10 and 12.
    assert eta.left() == pytest.approx(12.0)
    eta.note_first()
    assert eta.first is not None and (eta.first.made, eta.first.left) == (0.0, pytest.approx(12.0))
    assert eta.first.recorded  # made from recorded durations alone
    eta.case_started("a")
    eta.case_started("b")
    clock.now += 5
    # a has 5 left, b 1; c goes after b (at 1, to 5), d after a or c: both free at 5 -> 7.
    assert eta.left() == pytest.approx(7.0)
    eta.case_finished("b")
    eta.case_started("c")
    clock.now += 1
    assert eta.left() == pytest.approx(max(4.0, 3.0 + 2.0))


def test_time_left_counts_down_between_changes_and_never_below_zero():
    clock = Clock()
    eta = Estimator([("a", "p")], {"a": 3.0}, {"p": 1}, clock=clock)
    eta.case_started("a")
    assert eta.left() == pytest.approx(3.0)
    clock.now += 0.5
    assert eta.left() == pytest.approx(2.5)
    clock.now += 10  # overran its history
    assert eta.left() == 0.0


def test_unseen_cases_fall_back_to_elapsed_per_finished_case():
    clock = Clock()
    eta = Estimator([(c, "p") for c in "abcd"], {}, {"p": 2}, clock=clock)
    assert eta.left() is None  # nothing known, nothing done
    eta.case_started("a")
    clock.now += 4
    eta.case_finished("a")
    # The old rule: elapsed / done * (total - done) = 4 / 1 * 3.
    assert eta.left() == pytest.approx(12.0)
    assert eta.first is not None and eta.first.made == 4.0
    assert not eta.first.recorded  # a guess from the elapsed time, not a recorded prediction


def test_the_first_estimate_from_history_read_late_is_the_one_made_at_the_start():
    # A lone case starts before its history is read (assay.session.running): the first
    # estimate is then the one the start would have made with it.
    clock = Clock()
    with_history = Estimator([("a", "p")], {"a": 3.0}, {"p": 1}, clock=clock)
    with_history.note_first()
    late = Estimator([("a", "p")], {}, {"p": 1}, clock=clock)
    late.note_first()
    late.case_started("a")
    clock.now += 5
    late.case_finished("a")
    assert late.first is None  # (nothing recorded, nothing left once it is done)
    late.first_from_history({"a": 3.0})
    assert late.first == with_history.first
    assert late.first is not None and late.first.recorded and late.first.left == 3.0
    late.first_from_history({})  # (nothing recorded: what there is stays)
    assert late.first == with_history.first


def test_known_and_unseen_cases_add_up():
    clock = Clock()
    eta = Estimator(
        [("a", "p"), ("b", "p"), ("new", "p")], {"a": 2.0, "b": 2.0}, {"p": 1}, clock=clock
    )
    assert eta.left() is None  # one case never seen, nothing done yet
    eta.case_started("a")
    clock.now += 2
    eta.case_finished("a")
    # b: 2 s recorded; new: 2 s per finished case so far.
    assert eta.left() == pytest.approx(4.0)


def test_pools_run_side_by_side():
    clock = Clock()
    eta = Estimator(
        [("a", "x"), ("b", "x"), ("c", "y")],
        {"a": 5.0, "b": 5.0, "c": 7.0},
        {"x": 1, "y": 1},
        clock=clock,
    )
    assert eta.left() == pytest.approx(10.0)


def _runner_over_two_partitions(max_cases: int | None) -> Runner:
    """A runner for 4 cases of 10 s on each of two partitions of 4 slots (not run)."""
    parts = [SimpleNamespace(full_name=f"s:{p}", max_jobs=4) for p in "ab"]
    cases = [
        SimpleNamespace(key=f"{p.full_name}-{i}", partition=p, dependents=[], deps=[])
        for p in parts
        for i in range(4)
    ]
    place = SimpleNamespace(scheduler=SimpleNamespace(case_slots=lambda n: n, runs_here=False))
    ctx = SimpleNamespace(places={p.full_name: place for p in parts})
    recorded = {c.key: 10.0 for c in cases}
    return Runner(
        cases,  # type: ignore[arg-type]
        ctx,  # type: ignore[arg-type]
        RunOptions(max_cases=max_cases),
        SimpleNamespace(),  # type: ignore[arg-type]
        recorded=recorded,
    )


def test_time_left_counts_the_max_cases_cap_across_partitions():
    async def left(max_cases: int | None) -> float | None:
        return _runner_over_two_partitions(max_cases).eta.left()

    # 8 cases of 10 s: 8 slots in all -> 10 s; --max-cases 2 -> 4 rounds of 2 -> 40 s.
    assert asyncio.run(left(None)) == pytest.approx(10.0)
    assert asyncio.run(left(2)) == pytest.approx(40.0)
    assert asyncio.run(left(16)) == pytest.approx(10.0)  # a cap above the slots changes nothing


def test_stages_are_told_only_to_a_display_that_shows_them():
    # A log (the plain display) shows no stages: the runner gives the attempt no stage
    # callback, rather than one call per stage that does nothing. A live display gets them.
    from assay.ui import PlainDisplay

    runner = _runner_over_two_partitions(None)
    case = runner.cases[0]
    runner.events = PlainDisplay()  # type: ignore[assignment]
    assert runner._on_stage(case) is None
    seen: list[tuple[object, str]] = []
    runner.events = SimpleNamespace(case_stage=lambda c, stage: seen.append((c, stage)))  # type: ignore[assignment]
    told = runner._on_stage(case)
    assert told is not None
    told("run")
    assert seen == [(case, "run")]
