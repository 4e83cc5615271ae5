"""A test's fields are checked again before a case stages its inputs only where code may
have changed them since the class was checked: a ``before("setup")`` hook of the test's
own, or an ``__init__``. A suite case's own hook (its inputs, paths assay found) is not
such code: its cases skip the second check (a few tens of microseconds each)."""

from __future__ import annotations

from pathlib import Path

from assay.define.hooks import before
from assay.load import load
from assay.run.stage_setup import _may_change_fields
from tests.conftest import write_tiny_suite


def _suite(tmp_path: Path) -> type:
    write_tiny_suite(tmp_path, ["a", "b"])
    loaded = load([str(tmp_path)])
    assert not loaded.problems, loaded.problems
    (test,) = loaded.tests
    return test


def test_a_suites_own_inputs_hook_needs_no_second_check(tmp_path):
    assert _may_change_fields(_suite(tmp_path)) is False


def test_a_hook_of_the_tests_own_still_gets_the_check(tmp_path):
    suite = _suite(tmp_path)

    class Mine(suite):  # type: ignore[misc, valid-type]
        @before("setup")
        def tweak(self) -> None:
            pass

    assert _may_change_fields(Mine) is True


def test_a_field_broken_by_a_hook_fails_the_case_at_setup(assay_cli, write):
    write(
        "test_x.py",
        "import assay\n\n\n"
        "class X(assay.Test):\n"
        "    command = 'true'\n\n"
        "    @assay.before('setup')\n"
        "    def break_it(self):\n"
        "        object.__setattr__(self, 'exit_codes', 'sometimes')\n",
    )
    result = assay_cli("run", "test_x.py", "--plain")
    assert result.code == 1, result.stdout
    failure = result.case("X")["failure"]
    assert failure["stage"] == "setup"
    assert failure["reason"].startswith("invalid test attributes: exit_codes"), failure
