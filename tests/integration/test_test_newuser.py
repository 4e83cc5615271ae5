"""Test-file mistakes a new user makes on a first test (habits from ReFrame or pytest):
each fails with one line naming the thing and the fix, and none passes unnoticed."""

from __future__ import annotations

MISTAKES = """
import assay

class ReturnsFalse(assay.Test):
    command = "echo hello"

    def sanity(self, out):
        return "Solution Validates" in out.stdout

class ReturnsTrue(assay.Test):
    command = "echo hello"

    def sanity(self, out):
        return "hello" in out.stdout

class ReferencesWithoutPlace(assay.Test):
    command = "echo 'rate: 5'"
    references = {"rate": assay.ref(10, lower=-0.1)}

    @assay.metric("op/s")
    def rate(self, out):
        return out.extract(r"rate: (\\S+)", float)

class ForgetsToReturn(assay.Test):
    command = "echo 'rate: 5'"

    @assay.metric("op/s")
    def rate(self, out):
        out.extract(r"rate: (\\S+)", float)

class Passes(assay.Test):
    command = "true"
"""

PARAMETERS = """
import assay

class OneValue(assay.Test):
    n = assay.parameter(5)
    command = "echo {n}"

class AString(assay.Test):
    mode = assay.parameter("fast")
    command = "echo {mode}"

class Passes(assay.Test):
    command = "true"
"""


def test_a_sanity_returning_false_fails_and_other_mistakes_say_their_fix(assay_cli, write):
    write("test_first.py", MISTAKES)
    result = assay_cli("run", "test_first.py", "--plain")
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert result.case("ReturnsTrue")["status"] == "passed"

    false = result.case("ReturnsFalse")["failure"]  # it passed: sanity passed unless it raised
    assert false["stage"] == "sanity"
    assert false["reason"].startswith("sanity returned False: fail a check by raising"), false

    forgets = result.case("ForgetsToReturn")["failure"]["reason"]
    assert forgets.endswith("; return the value: return out.extract(regex, float)"), forgets

    (problem,) = result.report["problems"]
    assert "references = {'*': {'rate': ...}}" in problem["message"], problem


def test_a_parameter_given_one_value_or_a_string_is_a_problem_of_its_test(assay_cli, write):
    # Before, parameter(5) raised TypeError in the class body: the whole file failed to load
    # with "'int' object is not iterable"; parameter("fast") made one variant per character.
    write("test_params.py", PARAMETERS)
    result = assay_cli("run", "test_params.py", "--plain")
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert result.case("Passes")["status"] == "passed"  # the file still loads
    text = "\n".join(p["message"] for p in result.report["problems"])
    assert "parameter 'n' takes a list of values, got one value, 5; " in text, text
    assert "write assay.parameter([5])" in text, text
    assert "parameter 'mode' takes a list of values, got a string, 'fast'; " in text, text


def test_a_misspelt_sources_directory_names_the_one_beside_it(assay_cli, write, tmp_path):
    # Found when the file is loaded (before, each case failed at setup with it), with the
    # place of the class statement; a source a case names itself ({...}) waits for setup.
    (tmp_path / "src").mkdir()
    write(
        "test_src.py",
        'import assay\n\nclass X(assay.Test):\n    sources = "srcs/"\n'
        '    command = "true"\n\n'
        'class Y(assay.Test):\n    sources = "{stage_dir}/../nowhere"\n'
        '    command = "true"\n',
    )
    result = assay_cli("run", "test_src.py", "--plain")
    assert "Traceback" not in result.stdout + result.stderr, result
    (problem,) = result.report["problems"]
    assert problem["location"] == "test_src.py:3", problem
    assert (
        f"sources: 'srcs/' not found (looked for {tmp_path / 'srcs'}); did you mean 'src'?"
        in problem["message"]
    ), problem
    assert "test X is malformed" in problem["message"]
    assert result.case("Y")["failure"]["stage"] == "setup"


INSTANCE_COMMANDS = """
import assay


class InInit(assay.Test):
    size = assay.parameter([4])
    command = "true"

    def __init__(self):
        self.command = "echo {sise}"


class InAHook(assay.Test):
    threads = assay.variable(int, 2)
    command = "true"

    @assay.before("run")
    def choose(self):
        self.command = "echo {thread} ${HOME}"


class Fine(assay.Test):
    size = assay.parameter([4])
    command = "true"

    def __init__(self):
        self.label = "x"
        self.command = "echo {size} ${HOME} {{sise}} {label} {nothing_like_it}"
"""


def test_a_misspelt_name_in_a_command_the_tests_code_sets_fails_its_case(assay_cli, write):
    # A command set on the instance (in __init__, in a hook) is not the class's: the check
    # when the class is defined cannot see it; before, the job ran `echo {sise}`.
    write("test_instance.py", INSTANCE_COMMANDS)
    result = assay_cli("run", "test_instance.py", "--plain")
    assert "Traceback" not in result.stdout + result.stderr, result
    in_init = result.case("InInit")["failure"]
    assert in_init["stage"] == "run", in_init
    assert in_init["reason"] == (
        "cannot write the run script: {sise} names no parameter, variable or field, so it "
        "would stay as written; did you mean {size}? ({{sise}} is the literal text)"
    )
    assert "did you mean {threads}?" in result.case("InAHook")["failure"]["reason"]
    assert result.case("Fine")["status"] == "passed", result.case("Fine")
