"""Built-in field values wherever a test author may give them (class, parameter,
``@variant_fields``, hook, ``-S``) reach the run decoded: a time limit given any of these ways
is the one the run stage enforces."""

from __future__ import annotations

TESTS = """
import assay

class ClassLimit(assay.Test):
    command = "sleep 30"
    time_limit = "1s"

class ParamLimit(assay.Test):
    command = "sleep 30"
    time_limit = assay.parameter(["1s", "01:00:00"])

    @assay.before("run")
    def shorten_the_long_one(self):
        if self.params["time_limit"] == "01:00:00":
            self.command = "true"

class VariantLimit(assay.Test):
    command = "sleep 30"
    size = assay.parameter([1])

    @assay.variant_fields
    def by_size(size):
        return {"time_limit": "1s"}

class HookLimit(assay.Test):
    command = "sleep 30"

    @assay.before("run")
    def limit(self):
        self.time_limit = "1s"

class BadHookLimit(assay.Test):
    command = "true"

    @assay.before("run")
    def limit(self):
        self.time_limit = "a while"

class AroundSetattr(assay.Test):
    command = "sleep 30"

    @assay.before("run")
    def limit(self):
        vars(self)["time_limit"] = "1s"  # not through Test.__setattr__

class BadAroundSetattr(assay.Test):
    command = "true"

    @assay.before("run")
    def limit(self):
        vars(self)["time_limit"] = "soon"

class HookStrings(assay.Test):
    command = "test -f built.txt && test -f input.txt"

    @assay.before("setup")
    def late(self):
        self.sources = "data"  # one string: one source, as in a class
        self.build = "touch built.txt"

class Prepare(assay.Test):
    command = "true"

class NeedsPrepare(assay.Test):
    depends_on = Prepare  # one class, not a list
    command = "true"
"""


def test_a_time_limit_given_any_way_is_enforced(assay_cli, write):
    write("tests/test_limits.py", TESTS)
    write("tests/data/input.txt", "x\n")
    result = assay_cli("run", "tests", "--plain")
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    limited = ("ClassLimit", "ParamLimit[time_limit=1s]", "VariantLimit", "HookLimit")
    for name in (*limited, "AroundSetattr"):
        case = result.case(name)
        assert case["failure"] == {
            "stage": "run",
            "reason": "time limit 1s exceeded",
            "details": None,
        }, (name, case)
    # Variants are named by the values as written.
    assert result.case("ParamLimit[time_limit=01:00:00]")["status"] == "passed"
    bad = result.case("BadHookLimit")
    assert bad["failure"]["stage"] == "run"
    assert "time_limit 'a while' is not a duration" in bad["failure"]["reason"]
    around = result.case("BadAroundSetattr")["failure"]
    assert around["stage"] == "run"
    assert around["reason"].startswith("time_limit 'soon' is not a duration"), around
    assert result.case("HookStrings")["status"] == "passed", result.case("HookStrings")
    assert result.case("Prepare")["status"] == "passed"
    assert result.case("NeedsPrepare")["status"] == "passed"


def test_a_time_limit_set_with_s_is_enforced(assay_cli, write):
    write(
        "tests/test_s.py",
        """
        import assay

        class Sleeps(assay.Test):
            command = "sleep 30"
            time_limit = "1h"
        """,
    )
    result = assay_cli("run", "tests", "--plain", "-S", "time_limit=00:00:01")
    assert result.code == 1, result
    assert result.case("Sleeps")["failure"]["reason"] == "time limit 1s exceeded"
