"""Deliberately broken tests: each fails at the documented stage with the documented message,
the other cases still run, and no traceback reaches the user."""

from __future__ import annotations

BROKEN = """
import assay

class Passes(assay.Test):
    command = "echo fine"

class BadSanity(assay.Test):
    command = "echo 'Result: 41'"

    def sanity(self, out):
        out.expect(r"Result: 42")

class BadBuild(assay.Test):
    build = "echo compiling; echo 'error: no such header' >&2; exit 4"
    command = "true"

class TooSlow(assay.Test):
    command = "sleep 30"
    time_limit = "1s"

class MissesReference(assay.Test):
    command = "echo 'rate: 80.0'"
    references = {"*": {"rate": assay.ref(100, lower=-0.1, upper=0.1, unit="op/s")}}

    @assay.metric("op/s")
    def rate(self, out):
        return out.extract(r"rate: (\\S+)", float)

class NonzeroExit(assay.Test):
    command = "echo partial; exit 3"

class AcceptsExitThree(assay.Test):
    command = "exit 3"
    exit_codes = {0, 3}

class BuggySanity(assay.Test):
    command = "echo ok"

    def sanity(self, out):
        return {}["missing"]
"""


def _assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stdout, result
    assert "Traceback" not in result.stderr, result


def test_each_broken_test_fails_at_its_stage_with_its_message(assay_cli, write):
    write("tests/test_broken.py", BROKEN)
    write("tests/test_import_error.py", "import assay\nimport no_such_module_anywhere\n")
    result = assay_cli("run", "tests", "--plain")
    assert result.code == 1, result
    _assert_no_traceback(result)

    assert result.case("Passes")["status"] == "passed"
    assert result.case("AcceptsExitThree")["status"] == "passed"

    sanity = result.case("BadSanity")
    assert sanity["status"] == "failed"
    assert sanity["failure"]["stage"] == "sanity"
    assert "pattern 'Result: 42' not found in stdout" in sanity["failure"]["reason"]
    assert sanity["failure"]["reason"].endswith("assay-run.out)")

    build = result.case("BadBuild")
    assert build["failure"] == {
        "stage": "build",
        "reason": "build failed: exit code 4",
        "details": None,
    }
    assert "run" not in build["timings"]  # the run stage never started
    assert "error: no such header" in result.stdout  # the build's stderr tail in the summary

    slow = result.case("TooSlow")
    assert slow["failure"]["stage"] == "run"
    assert slow["failure"]["reason"] == "time limit 1s exceeded"
    assert 1.0 <= slow["timings"]["run"] < 10

    perf = result.case("MissesReference")
    assert perf["failure"]["stage"] == "performance"
    assert "rate = 80 op/s is below the reference 100 op/s -10%" in perf["failure"]["reason"]
    (metric,) = perf["metrics"]
    assert metric["value"] == 80.0 and metric["verdict"] == "fail"
    assert metric["low_bound"] == 90.0 and metric["high_bound"] == 110.0

    nonzero = result.case("NonzeroExit")
    assert nonzero["failure"]["reason"] == "exit code 3 (expected exit code 0)"
    assert nonzero["exit_code"] == 3

    buggy = result.case("BuggySanity")
    assert buggy["failure"]["stage"] == "sanity"
    assert buggy["failure"]["reason"].startswith("KeyError: 'missing' at ")
    assert "test_broken.py" in buggy["failure"]["reason"]

    (problem,) = result.report["problems"]
    assert problem["location"].endswith("test_import_error.py:2")
    assert "No module named 'no_such_module_anywhere'" in problem["message"]
    assert "test_import_error.py:2: failed to import" in result.stdout


def test_failure_summary_names_stage_dir_and_rerun_command(assay_cli, write):
    write("test_one.py", BROKEN)
    result = assay_cli("run", "test_one.py", "-n", "BadSanity", "--plain")
    case = result.case("BadSanity")
    assert f"rerun:     assay run test_one.py --case {case['id']}" in result.stdout
    assert "stage dir: .assay/runs/" in result.stdout
    assert "| Result: 41" in result.stdout  # last lines of stdout
    rerun = assay_cli("run", "test_one.py", "--case", case["id"], "--plain")
    assert [c["name"] for c in rerun.report["cases"]] == [case["name"]]


def test_malformed_config_is_a_usage_error_without_traceback(assay_cli, write):
    write("test_ok.py", "import assay\nclass Ok(assay.Test):\n    command = 'true'\n")
    write(
        "assay.toml",
        """
        [systems.here.partitions.cpu]
        scheduler = "direct"
        max_jobs = "four"
        """,
    )
    result = assay_cli("run", "test_ok.py")
    assert result.code == 2
    _assert_no_traceback(result)
    assert "assay.toml: systems.here.partitions.cpu.max_jobs:" in result.stderr
    assert "expected an integer, got a string" in result.stderr


def test_unknown_config_key_suggests_the_right_one(assay_cli, write):
    write("test_ok.py", "import assay\nclass Ok(assay.Test):\n    command = 'true'\n")
    write("cfg.toml", "[systems.here.partitions.cpu]\nmax_job = 4\n")
    result = assay_cli("list", "test_ok.py", "--config", "cfg.toml")
    assert result.code == 2
    assert "cfg.toml: systems.here.partitions.cpu: unknown key 'max_job'" in result.stderr
    assert "(did you mean 'max_jobs'?)" in result.stderr


def test_usage_errors_exit_2(assay_cli, write):
    write("test_ok.py", "import assay\nclass Ok(assay.Test):\n    command = 'true'\n")
    missing = assay_cli("run", "nowhere/")
    assert missing.code == 2 and "nowhere/: no such file or directory" in missing.stderr
    bad_regex = assay_cli("run", "test_ok.py", "-n", "(")
    assert bad_regex.code == 2 and "-n '(': not a valid regular expression" in bad_regex.stderr
    nothing = assay_cli("run", "test_ok.py", "-n", "NoSuchTest")
    assert nothing.code == 2 and "no cases match the selection" in nothing.stderr
    bad_option = assay_cli("run", "test_ok.py", "--max-retries", "-1")
    assert bad_option.code == 2
    for result in (missing, bad_regex, nothing, bad_option):
        _assert_no_traceback(result)


def test_setting_errors_name_the_variable_and_type(assay_cli, write):
    write(
        "test_var.py",
        """
        import assay

        class Sized(assay.Test):
            n = assay.variable(int, 10)
            command = "echo {n}"

            def sanity(self, out):
                out.expect(rf"^{self.n}$")
        """,
    )
    bad = assay_cli("run", "test_var.py", "-S", "n=ten")
    assert bad.code == 2
    assert "-S n=ten: Sized.n expects int: 'ten' is not an integer" in bad.stderr
    unknown = assay_cli("run", "test_var.py", "-S", "m=3")
    assert unknown.code == 2 and "no loaded test has a variable 'm'" in unknown.stderr
    good = assay_cli("run", "test_var.py", "-S", "Sized.n=7", "--plain")
    assert good.code == 0, good
    assert "echo 7" in (good.cwd / good.case("Sized")["output_dir"] / "assay-run.sh").read_text()


def test_a_setting_or_parameter_of_a_file_that_failed_to_load_names_that_file(assay_cli, write):
    """-S fmt=... refused as "no loaded test has a variable" while the suite that has it
    failed to load sent the user looking for a typo in the -S: the error names the files
    that were not loaded and why."""
    write("cases/a.txt", "hi\n")
    write("cases/a.out", "hi\n")
    write(
        "conv.suite.toml",
        '[suite]\ncases = "cases/*.txt"\nexpected = "{stem}.out"\n'
        'command = "cat {input} > {output}"\nvariables = { format = "x" }\n',
    )
    for option in (("-S", "format=y"), ("-P", "format=y")):
        result = assay_cli("run", "conv.suite.toml", *option)
        assert result.code == 2, result
        lines = result.stderr.splitlines()
        assert "1 test file(s) could not be loaded; fix them first" in lines[1], result
        assert lines[2].startswith("    conv.suite.toml:5: suite.variables.format: 'format'")
        _assert_no_traceback(result)


def test_a_failed_build_names_the_command_it_stopped_at(assay_cli, write):
    # Which of several build commands failed: its exit code alone does not say.
    write(
        "test_builds.py",
        """
        import assay

        class Steps(assay.Test):
            build = ["echo configuring", "grep -q no-such-text /dev/null", "echo never"]
            command = "true"

        class Unbalanced(assay.Test):
            build = ["echo first", "cc -DLIMIT=) x.c"]
            command = "true"

        class Exits(assay.Test):
            build = "exit 4"
            command = "true"
        """,
    )
    result = assay_cli("run", "test_builds.py", "--plain")
    assert result.code == 1, result
    _assert_no_traceback(result)
    steps = result.case("Steps")["failure"]["reason"]
    assert steps == "build failed: exit code 1 from `grep -q no-such-text /dev/null`", steps
    assert "never" not in result.stdout
    unbalanced = result.case("Unbalanced")["failure"]["reason"]
    assert unbalanced == (
        "build failed: exit code 2: a shell syntax error in `cc -DLIMIT=) x.c` (check its quoting)"
    ), unbalanced
    assert result.case("Exits")["failure"]["reason"] == "build failed: exit code 4"


def test_a_build_entry_that_fails_before_its_and_ends_the_build(assay_cli, write):
    # set -e ignores a failure before `&&`: the failed compile went on to the next entry,
    # and the build passed when that one did (ReFrame's prebuild_cmds ported as one entry).
    write(
        "test_anded.py",
        """
        import assay

        class Anded(assay.Test):
            build = ["grep -q no-such-text /dev/null && echo compiled", "echo never > made"]
            command = "true"

        class Guarded(assay.Test):
            build = ["grep -q no-such-text /dev/null || echo optional", "echo ran > made"]
            command = "cat made"

            def sanity(self, out):
                out.expect("^ran$")
        """,
    )
    result = assay_cli("run", "test_anded.py", "--plain")
    assert result.code == 1, result
    anded = result.case("Anded")
    assert anded["status"] == "failed" and anded["failure"]["stage"] == "build", anded
    assert anded["failure"]["reason"] == (
        "build failed: exit code 1 from `grep -q no-such-text /dev/null && echo compiled`"
    )
    assert result.case("Guarded")["status"] == "passed", result
