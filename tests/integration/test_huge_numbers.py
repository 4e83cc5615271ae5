"""TOML reads an integer of any length whole, and Python code can write one: a count or a
duration no job could ever have (a 401-digit node count, a time limit of 1e308 seconds) is
a problem named where it was written, never an internal error or a results database that
stops recording."""

from __future__ import annotations

import pytest

from assay.durations import parse_duration

HUGE = "1" + "0" * 400

SUITE_LINES = {
    "nodes": f"nodes = {HUGE}",
    "tasks": f"tasks = {HUGE}",
    "time_limit int": f"time_limit = {HUGE}",
    "time_limit float": "time_limit = 1e308",
    "time_limit text": 'time_limit = "99999999999999999999d"',
    "scaling nodes": f"[suite.scaling]\nnodes = [1, {HUGE}]",
}


@pytest.mark.parametrize("name", list(SUITE_LINES))
def test_a_suite_with_a_count_or_duration_beyond_any_job_is_a_load_problem(assay_cli, write, name):
    write("cases/a/input.txt", "x")
    write(
        "s.suite.toml",
        f'[suite]\nname = "s"\ncases = "cases/*"\ncommand = "true"\n{SUITE_LINES[name]}\n',
    )
    result = assay_cli("run", "s.suite.toml", "--plain")
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert "problem(s) loading tests" in result.stdout + result.stderr, result
    assert "warning: results database" not in result.stderr, result


@pytest.mark.parametrize("field", ["nodes = 10**400", "time_limit = 10**400", "tasks = 2**70"])
def test_a_python_test_with_a_count_or_duration_beyond_any_job_is_a_load_problem(
    assay_cli, write, field
):
    write("test_n.py", f"import assay\n\nclass N(assay.Test):\n    command = 'true'\n    {field}\n")
    result = assay_cli("run", "test_n.py", "--plain")
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert "problem(s) loading tests" in result.stdout + result.stderr, result


@pytest.mark.parametrize(
    "value",
    [10**400, 1e308, "99999999999999999999d", "9" * 30 + ":00:00"],
    ids=["int", "float", "days", "clock"],
)
def test_durations_beyond_any_job_are_refused_with_the_longest_accepted(value):
    with pytest.raises(ValueError, match="at most"):
        parse_duration(value)
