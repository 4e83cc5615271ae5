"""Performance references: absolute bounds (``lower_abs``/``upper_abs``) in Python tests,
suite files and references files kept beside them, and ``assay bless`` writing new
references there (with a diff first), never skipping a case without saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PY_TEST = """
import os
import assay

class Solve(assay.Test):
    command = "echo elapsed: $T"
    env = {"T": os.environ.get("T", "2.0")}
    references = {"*": {"elapsed": assay.ref(2.0, upper_abs=0.5, unit="s")}}

    @assay.metric("s")
    def elapsed(self, out):
        return out.extract(r"elapsed: (\\S+)", float)
"""

SUITE = """
[suite]
name = "solver"
cases = "cases/*"
command = "echo elapsed: $T"

[suite.metrics.elapsed]
regex = "elapsed: (\\\\S+)"
unit = "s"

[suite.references."*"]
elapsed = { value = 2.0, lower_abs = -0.25, upper_abs = 0.5 }
"""


def _metric(case: dict[str, Any], name: str = "elapsed") -> dict[str, Any]:
    (found,) = [m for m in case["metrics"] if m["name"] == name]
    return found


def test_absolute_bounds_of_a_python_test(assay_cli, write):
    write("test_solve.py", PY_TEST)
    ok = assay_cli("run", "test_solve.py", "--plain", env={"T": "2.5"})
    assert ok.code == 0, ok
    metric = _metric(ok.case("Solve"))
    assert (metric["upper_abs"], metric["high_bound"], metric["verdict"]) == (0.5, 2.5, "pass")
    bad = assay_cli("run", "test_solve.py", "--plain", env={"T": "2.6"})
    assert bad.code == 1, bad
    failure = bad.case("Solve")["failure"]
    assert failure["stage"] == "performance"
    assert "2.6 s is above the reference 2 s +0.5 s (highest accepted 2.5 s)" in failure["reason"]


def test_absolute_bounds_of_a_suite_file(assay_cli, write):
    write("solver.suite.toml", SUITE)
    write("cases/a/in.txt", "a\n")
    inside = assay_cli("run", "solver.suite.toml", "--plain", env={"T": "1.8"})
    assert inside.code == 0, inside
    metric = _metric(inside.case("solver[case=a]"))
    assert (metric["lower_abs"], metric["low_bound"], metric["high_bound"]) == (-0.25, 1.75, 2.5)
    below = assay_cli("run", "solver.suite.toml", "--plain", env={"T": "1.7"})
    assert below.code == 1, below
    reason = below.case("solver[case=a]")["failure"]["reason"]
    assert "1.7 s is below the reference 2 s -0.25 s (lowest accepted 1.75 s)" in reason


def test_a_wrong_absolute_bound_in_a_suite_file_is_a_load_error(assay_cli, write):
    write("solver.suite.toml", SUITE.replace("lower_abs = -0.25", "lower_abs = 0.25"))
    write("cases/a/in.txt", "a\n")
    done = assay_cli("run", "solver.suite.toml", "--plain")
    assert done.code == 1, done  # load problems fail the run
    assert "lower_abs 0.25 must be 0 or less (e.g. -0.5 for 0.5 below" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_references_file_beside_the_test_beats_its_own_references(assay_cli, write):
    write("test_solve.py", PY_TEST)
    write(
        "test_solve.references.toml",
        '["Solve"."*"]\nelapsed = { value = 3.0, lower_abs = -0.5, upper_abs = 0.25 }\n',
    )
    done = assay_cli("run", "test_solve.py", "--plain", env={"T": "3.2"})
    assert done.code == 0, done
    metric = _metric(done.case("Solve"))
    assert (metric["reference"], metric["low_bound"], metric["high_bound"]) == (3.0, 2.5, 3.25)


def test_a_wrong_references_file_names_its_line_and_the_tests_do_not_run(assay_cli, write):
    write("test_solve.py", PY_TEST)
    write("test_solve.references.toml", '["Solve"."*"]\nelapsd = 3.0\n')
    done = assay_cli("run", "test_solve.py", "--plain")
    assert done.code == 1, done  # load problems fail the run
    text = done.stdout + done.stderr
    assert "test_solve.references.toml:2:" in text
    assert "Solve * elapsd: Solve has no metric 'elapsd' (metrics: elapsed)" in text
    assert "Traceback" not in text


def _refs(tmp_path: Path) -> str:
    return (tmp_path / "test_solve.references.toml").read_text()
