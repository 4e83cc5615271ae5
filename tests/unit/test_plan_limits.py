"""Plans past what a run can hold are refused at once, each with one message that names
the numbers and the fix, where they once kept the planner busy for hours: a test whose
parameters multiply to a billion variants, a sweep likewise, ``--repeat`` of a huge
number (even with nothing selected: the loop over repetitions ran regardless)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import assay
import assay.cli
from assay import plan as plan_module
from assay.commands.params import MAX_REPEAT, RUN
from assay.define.params import MAX_VARIANTS
from assay.errors import UsageError
from assay.plan import MAX_CASES, Case, TooManyCases, make_plan
from assay.repeats import repeat_cases
from assay.select import Selection
from tests.unit.test_plan import cluster
from tests.unit.test_toml_regressions import problems


def test_parameters_that_multiply_past_the_limit_make_one_error_naming_each_size() -> None:
    class Huge(assay.Test):
        command = "true"
        a = assay.parameter(range(1000))
        b = assay.parameter(range(1000))
        c = assay.parameter(range(1000))

    (error,) = Huge._assay.errors
    assert error == (
        "the parameters make 1,000,000,000 variants (a: 1,000 x b: 1,000 x c: 1,000), more "
        f"than the {MAX_VARIANTS:,} one test may have; give them fewer values, or split the "
        "test into several"
    )


def test_a_zipped_group_counts_once_and_the_limit_itself_is_allowed() -> None:
    class AtTheLimit(assay.Test):
        command = "true"
        a = assay.parameter(range(1000), group="g")
        b = assay.parameter(range(1000), group="g")
        c = assay.parameter(range(MAX_VARIANTS // 1000))

    assert AtTheLimit._assay.errors == []


def test_a_sweep_past_the_limit_is_one_problem_and_its_points_are_never_walked(
    tmp_path: Path,
) -> None:
    # (expected dirs are looked for at every point of a sweep: a billion stats, before)
    sweep = {"a": list(range(1000)), "b": list(range(1000)), "c": list(range(1000))}
    sweep["expected"] = "expected/{a}-{b}-{c}"
    (found,) = problems(tmp_path, {"suite": {"command": "true", "sweep": [sweep]}})
    assert "suite.sweep[0]: the parameters make 1,000,000,000 variants" in found
    assert "a: 1,000 x b: 1,000 x c: 1,000" in found


def _case(selected: bool) -> object:
    class Case:  # (only what repeat_cases reads before it copies anything)
        pass

    case = Case()
    case.selected = selected  # type: ignore[attr-defined]
    return case


def test_repeating_nothing_selected_returns_at_once_whatever_the_count() -> None:
    cases = [_case(False)]
    assert repeat_cases(cases, 10**20) == cases  # type: ignore[arg-type]


def test_a_repeat_that_would_plan_too_many_cases_names_both_numbers() -> None:
    cases = [_case(True) for _ in range(2000)]
    with pytest.raises(UsageError) as raised:
        repeat_cases(cases, 600)  # type: ignore[arg-type]
    assert str(raised.value.message) == (
        "--repeat 600 would plan 1,200,000 cases (2,000 selected x 600), more than the "
        f"{MAX_CASES:,} one run may have"
    )
    assert raised.value.hint is not None and "-n" in raised.value.hint


@pytest.mark.parametrize("value", ["0", str(MAX_REPEAT + 1), "99999999999999999999"])
def test_repeat_outside_its_range_is_refused_by_both_command_lines(value: str, tmp_path):
    (repeat,) = [p for p in RUN if p.name == "repeat"]
    assert repeat.convert(value) is None  # the light parser leaves it to click, which says
    done = subprocess.run(
        [sys.executable, "-m", "assay", "run", str(tmp_path), "--repeat", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"'--repeat': {value} is not in the range 1<=x<={MAX_REPEAT}" in done.stderr
    assert "Traceback" not in done.stderr


def test_repeat_within_its_range_is_taken() -> None:
    (repeat,) = [p for p in RUN if p.name == "repeat"]
    assert repeat.convert(str(MAX_REPEAT)) == MAX_REPEAT
    assert repeat.convert("1") == 1


class Wide(assay.Test):  # 3 variants x 3 places of cluster() (cpu+gnu, cpu+intel, gpu+gnu)
    command = "true"
    n = assay.parameter([1, 2, 3])


class Narrow(assay.Test):  # 3 cases
    command = "true"


def _plan_both() -> list[Case]:
    return make_plan([Wide, Narrow], cluster(), "cluster", Selection(), {}).cases


def test_tests_whose_cases_together_pass_the_limit_are_refused_naming_where(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (each test alone is within its own variant limit: only their sum, over partitions
    # and environments, is too many)
    monkeypatch.setattr(plan_module, "MAX_CASES", 10)
    with pytest.raises(TooManyCases) as raised:
        _plan_both()
    assert raised.value.message == (
        "the selection plans more than 10 cases (the count passed it in Narrow's variants), "
        "more than one run may have"
    )
    assert raised.value.hint is not None and "-p" in raised.value.hint


def test_the_limit_itself_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_module, "MAX_CASES", 12)
    assert len(_plan_both()) == 12


def test_too_many_cases_is_a_usage_error_of_list_and_run_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "test_many.py").write_text(
        "import assay\n\nclass Many(assay.Test):\n    command = 'true'\n"
        "    i = assay.parameter(range(50))\n"
    )
    monkeypatch.setattr(plan_module, "MAX_CASES", 20)
    monkeypatch.chdir(tmp_path)
    for argv in (["list", str(tmp_path)], ["run", str(tmp_path), "--plain"]):
        assert assay.cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "the selection plans more than 20 cases" in err, err
        assert "hint: select fewer cases" in err
        assert "Traceback" not in err
    runs = tmp_path / ".assay" / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # (refused before a session began)
