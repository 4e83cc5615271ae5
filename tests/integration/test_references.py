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


# ------------------------------------------------------------------------ bless references


def test_bless_writes_new_references_beside_the_test_after_showing_a_diff(
    assay_cli, write, tmp_path
):
    write("test_solve.py", PY_TEST)
    failed = assay_cli("run", "test_solve.py", "--plain", env={"T": "2.6"})
    assert failed.code == 1, failed
    # Without --yes (and no terminal to ask on) nothing is written, but the diff is shown.
    asked = assay_cli("bless")
    assert asked.code == 2, asked
    assert not (tmp_path / "test_solve.references.toml").exists()
    assert "new references for 1 metric(s) of 1 case(s):" in asked.stdout
    assert "  Solve @local:default+builtin: elapsed 2 -> 2.6" in asked.stdout
    assert "--- /dev/null\n+++ b/test_solve.references.toml\n" in asked.stdout
    assert '+elapsed = {value = 2.6, upper_abs = 0.5, unit = "s"}' in asked.stdout
    assert "pass --yes" in asked.stderr
    blessed = assay_cli("bless", "--yes")
    assert blessed.code == 0, blessed
    assert "blessed 1 reference(s) in test_solve.references.toml" in blessed.stdout
    again = assay_cli("run", "test_solve.py", "--plain", env={"T": "2.9"})
    assert again.code == 0, again  # 2.6 + 0.5 now holds
    assert _metric(again.case("Solve"))["reference"] == 2.6


def test_bless_keeps_the_rest_of_a_references_file_and_its_comments(assay_cli, write, tmp_path):
    write("test_solve.py", PY_TEST)
    kept = '# measured on the old cluster\n["Solve"."other:*"]\nelapsed = 9.0 # by hand\n'
    write("test_solve.references.toml", kept)
    assert assay_cli("run", "test_solve.py", "--plain", env={"T": "2.6"}).code == 1
    assert assay_cli("bless", "--yes").code == 0
    text = _refs(tmp_path)
    assert text.startswith(kept)
    assert '["Solve"."local:default"]' in text


def test_bless_writes_a_suites_references_beside_the_suite_file(assay_cli, write, tmp_path):
    write("solver.suite.toml", SUITE)
    write("cases/a/in.txt", "a\n")
    write("cases/b/in.txt", "b\n")
    assert assay_cli("run", "solver.suite.toml", "--plain", env={"T": "3"}).code == 1
    assert assay_cli("bless", "--yes", "-n", "solver[case=a]").code == 0
    text = (tmp_path / "solver.references.toml").read_text()
    assert '["solver[case=a]"."local:default"]' in text and "case=b" not in text
    again = assay_cli("run", "solver.suite.toml", "--plain", env={"T": "3"})
    assert again.code == 1 and again.case("solver[case=a]")["status"] == "passed", again


def test_bless_says_why_it_cannot_bless_a_case(assay_cli, write, tmp_path):
    write(
        "test_broken.py",
        """
import assay

class Broken(assay.Test):
    command = "exit 3"
""",
    )
    assert assay_cli("run", "test_broken.py", "--plain").code == 1
    done = assay_cli("bless", "--yes")
    assert done.code == 1, done
    assert (
        "note: Broken @local:default+builtin: failed at the sanity stage (exit code 3 "
        "(expected exit code 0)); nothing to bless" in done.stdout
    )


def test_bless_does_not_take_outputs_compared_only_to_show_them(assay_cli, write, tmp_path):
    """A case whose exit code failed it had its outputs compared only for the reader."""
    write(
        "p.suite.toml",
        '[suite]\ncases = "cases/*"\ncommand = "echo new > out.txt; exit 1"\n'
        '[suite.compare]\nfiles = ["out.txt"]\n',
    )
    write("cases/a/expected/out.txt", "old\n")
    failed = assay_cli("run", "p.suite.toml", "--plain")
    assert failed.code == 1, failed
    done = assay_cli("bless", "--yes")
    assert done.code == 1, done
    assert "the outputs of a run that failed are not blessed" in done.stdout
    assert (tmp_path / "cases/a/expected/out.txt").read_text() == "old\n"


def test_a_kept_reference_without_a_unit_takes_the_metrics(assay_cli, write):
    write("test_solve.py", PY_TEST)
    write(
        "test_solve.references.toml", '["Solve"."*"]\nelapsed = { value = 1.0, upper_abs = 0.1 }\n'
    )
    done = assay_cli("run", "test_solve.py", "--plain", env={"T": "1.5"})
    assert done.code == 1, done
    reason = done.case("Solve")["failure"]["reason"]
    assert "1.5 s is above the reference 1 s +0.1 s (highest accepted 1.1 s)" in reason


def test_bless_takes_the_median_of_a_cases_repetitions(assay_cli, write, tmp_path):
    counter = tmp_path / "count"
    write(
        "test_counted.py",
        f"""
import assay

class Counted(assay.Test):
    # each repetition measures one more than the last: 1, 2, 3
    command = "n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 )); echo $n > {counter}; echo n: $n"
    references = {{"*": {{"n": assay.ref(0.5, upper_abs=0.1)}}}}

    @assay.metric()
    def n(self, out):
        return out.extract(r"n: (\\d+)", float)
""",
    )
    assert assay_cli("run", "test_counted.py", "--plain", "--repeat", "3").code == 1
    done = assay_cli("bless", "--yes")
    assert done.code == 0, done
    assert "  Counted @local:default+builtin: n 0.5 -> 2" in done.stdout
    text = (tmp_path / "test_counted.references.toml").read_text()
    assert "n = {value = 2, upper_abs = 0.1}" in text


def test_bless_says_why_a_skipped_case_has_nothing_to_bless(assay_cli, write):
    write(
        "test_deps.py",
        """
import assay

class Broken(assay.Test):
    command = "exit 3"

class After(assay.Test):
    depends_on = ["Broken"]
    command = "true"
""",
    )
    assert assay_cli("run", "test_deps.py", "--plain").code == 1
    done = assay_cli("bless", "--yes", "-n", "After")
    assert done.code == 1, done
    (note,) = [line for line in done.stdout.splitlines() if line.startswith("note: After")]
    assert note.startswith("note: After @local:default+builtin: skipped (")
    assert "nothing to bless" in note and " stage" not in note.split("nothing")[0]


TWO_METRICS = PY_TEST.replace(
    'command = "echo elapsed: $T"', 'command = "echo elapsed: $T; echo rate: 1234567.891"'
) + (
    """
    @assay.metric("op/s")
    def rate(self, out):
        return out.extract(r"rate: (\\S+)", float)
"""
)


def _lines_to_copy(stdout: str, case: str) -> list[str]:
    """The indented lines the note on ``case``'s missing references offers to copy."""
    lines = stdout.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith(f"note: {case}: no ref")]
    out = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        out.append(line[4:])
    return out


def test_bless_names_the_metrics_without_a_reference_and_a_line_that_adds_one(
    assay_cli, write, tmp_path
):
    write("test_solve.py", TWO_METRICS)
    ok = assay_cli("run", "test_solve.py", "--plain")
    assert ok.code == 0, ok
    assert _metric(ok.case("Solve"), "rate")["verdict"] == "no reference"
    done = assay_cli("bless", "--yes")
    assert done.code == 0, done  # nothing to bless is not a failure
    assert (
        "note: Solve @local:default+builtin: no reference for rate (measured, never "
        "checked); to check it, add to test_solve.references.toml" in done.stdout
    )
    assert "elapsed" not in done.stdout.split("note:", 1)[1]  # it has one
    copied = _lines_to_copy(done.stdout, "Solve @local:default+builtin")
    assert copied == [
        '[Solve."local:default"]',
        'rate = {value = 1234570, lower = -0.1, upper = 0.1, unit = "op/s"}',
    ]
    assert not (tmp_path / "test_solve.references.toml").exists()  # bless invents no bounds
    # The user's copy is a valid references file, and the metric is checked from then on.
    write("test_solve.references.toml", "\n".join(copied) + "\n")
    again = assay_cli("run", "test_solve.py", "--plain")
    assert again.code == 0, again
    rate = _metric(again.case("Solve"), "rate")
    assert (rate["verdict"], rate["reference"]) == ("pass", 1234570)


def test_the_line_to_copy_goes_under_a_table_the_file_has_already(assay_cli, write, tmp_path):
    write("test_solve.py", TWO_METRICS)
    assert assay_cli("run", "test_solve.py", "--plain", env={"T": "2.6"}).code == 1
    done = assay_cli("bless", "--yes")  # writes elapsed's new reference, says rate has none
    assert done.code == 0, done
    assert "under its table" in done.stdout
    copied = _lines_to_copy(done.stdout, "Solve @local:default+builtin")
    assert copied == ['rate = {value = 1234570, lower = -0.1, upper = 0.1, unit = "op/s"}']


def test_a_references_file_without_its_test_file_is_warned_about_once(assay_cli, write):
    write("suite/test_solve.py", PY_TEST)
    write("suite/test_solve.references.toml", '["Solve"."*"]\nelapsed = 2.0\n')
    write("suite/test_slove.references.toml", '["Solve"."*"]\nelapsed = 9.0\n')
    write("suite/solver.references.toml", '["solver"."*"]\nelapsed = 9.0\n')
    write("suite/x\x1b[2J\nassay: warning: forged.references.toml", "")
    done = assay_cli("run", "suite", "--plain")
    assert done.code == 0, done
    warnings = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 3 and "\x1b" not in done.stderr, done.stderr
    assert "suite/x\\x1b[2J\\x0aassay: warning: forged.references.toml is ignored" in warnings[2]
    warnings = warnings[:2]
    assert (
        "assay: warning: suite/test_slove.references.toml is ignored: there is no test file "
        "test_slove.py or suite file test_slove.suite.toml beside it" in warnings[1]
    )
    assert "suite/solver.references.toml is ignored" in warnings[0]
    assert "rename it after the file whose tests it holds" in warnings[0]


def test_a_kept_reference_in_another_unit_than_its_metric_is_a_load_error(assay_cli, write):
    """A reference in ms against a metric in s once passed silently, the value shown in the
    reference's unit ("2 ms"): the file is refused, naming both units and the fix."""
    write("test_solve.py", PY_TEST)
    write(
        "test_solve.references.toml",
        '["Solve"."*"]\nelapsed = { value = 2000.0, upper = 0.1, unit = "ms" }\n',
    )
    done = assay_cli("run", "test_solve.py", "--plain")
    assert done.code == 1, done
    text = done.stdout + done.stderr
    assert "test_solve.references.toml:2:" in text
    assert "Solve * elapsed: the reference is in 'ms' but the metric is in 's'" in text
    assert "0 passed" in text and "Traceback" not in text


def test_a_kept_reference_whose_value_is_a_string_says_to_write_a_number(assay_cli, write):
    write("test_solve.py", PY_TEST)
    write("test_solve.references.toml", '["Solve"."*"]\nelapsed = { value = "2.0" }\n')
    text = assay_cli("run", "test_solve.py", "--plain").stdout
    assert "Solve * elapsed: value must be a number, got the string '2.0'" in text
    assert "without quotes" in text
