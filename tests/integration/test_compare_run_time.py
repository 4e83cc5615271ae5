"""`assay compare` says which cases got slower or faster: the run stage's time of each case
that passed in both sessions, judged against its recorded history like a metric. Real runs,
real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from assay.results.sessions import RUN_TIME_FLOOR
from tests.integration.test_history import use_database

SLEEPER = """
import assay

class Nap(assay.Test):
    which = assay.parameter(["slow", "steady"])
    t = assay.variable(float, 0.1)
    command = "case {which} in slow) sleep {t};; *) sleep 0.1;; esac"
"""


def test_compare_shows_run_time_changes_judged_against_history(
    assay_cli, write, tmp_path, results_target
):
    use_database(tmp_path, results_target)
    write("test_nap.py", SLEEPER)
    for _ in range(5):
        assert assay_cli("run", "test_nap.py", "--plain").code == 0
    step = assay_cli("run", "test_nap.py", "-S", "t=1.2", "--repeat", "2", "--plain")
    assert step.code == 0, step
    data = json.loads(assay_cli("compare", "--json").stdout)
    assert data["b"]["id"] == step.report["session"]["id"]
    changed = data["run_times"]
    # Only a case whose run stage moved by the floor or more is listed, the largest change
    # first: the slow one. (The steady one's 'sleep 0.1' is listed too when a loaded
    # machine stretches it past the floor: seen in a CI run at load 5 on 2 cores.)
    assert changed[0]["case"] == "Nap[which=slow] @local:default+builtin"
    assert all(abs(c["b"] - c["a"]) >= RUN_TIME_FLOOR for c in changed), changed
    listed = {c["case"].partition(" ")[0] for c in changed}
    assert listed <= {"Nap[which=slow]", "Nap[which=steady]"}
    slow = changed[0]
    assert slow["a"] < 0.6 < 1.2 <= slow["b"] and slow["change"] > 1
    assert slow["unit"] == "s" and len(slow["b_samples"]) == 2
    assert slow["significance"].startswith("regression, p=")
    table = assay_cli("compare")
    assert table.code == 0, table
    assert "run time (the run stage)" in table.stdout
    line = next(x for x in table.stdout.splitlines() if "Nap[which=slow]" in x)
    assert "regression, p=" in line
    assert ("Nap[which=steady]" in table.stdout) == ("Nap[which=steady]" in listed)
    assert f"{len(changed)} run time(s) changed" in table.stdout.splitlines()[-1]


def test_compare_of_two_sessions_alone_says_there_is_too_little_history(
    assay_cli, write, tmp_path, results_target
):
    use_database(tmp_path, results_target)
    write("test_nap.py", SLEEPER)
    assert assay_cli("run", "test_nap.py", "--plain").code == 0
    assert assay_cli("run", "test_nap.py", "-S", "t=0.9", "--plain").code == 0
    data = json.loads(assay_cli("compare", "--json").stdout)
    # The slow case's change is judged; the steady one's 'sleep 0.1' is listed too when a
    # loaded machine stretches it past the floor (seen at load 14): judged the same way.
    slow = [c for c in data["run_times"] if c["case"].startswith("Nap[which=slow]")]
    assert [c["significance"] for c in slow] == ["too little history"]
    assert {c["significance"] for c in data["run_times"]} == {"too little history"}
