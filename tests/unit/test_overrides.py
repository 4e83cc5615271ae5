"""``-S`` overrides: typed, per test, specific beats generic."""

from __future__ import annotations

import pytest

import assay
from assay.durations import Duration
from assay.errors import UsageError
from assay.overrides import resolve


class Alpha(assay.Test):
    command = "true"
    size = assay.variable(int, 10)
    mode = assay.variable(str, "fast", choices=["fast", "slow"])
    verbose = assay.variable(bool, False)


class Beta(assay.Test):
    command = "true"
    size = assay.variable(int, 5)
    ratio = assay.variable(float, 0.5)
    names = assay.variable(list, ["a"])


class Gamma(assay.Test):
    command = "true"


TESTS = [Alpha, Beta, Gamma]


def usage_error(pairs: list[str], tests: list[type[assay.Test]] = TESTS) -> UsageError:
    with pytest.raises(UsageError) as info:
        resolve(tests, pairs)
    return info.value


def test_no_overrides() -> None:
    assert resolve(TESTS, []) == {"Alpha": {}, "Beta": {}, "Gamma": {}}


def test_generic_override_applies_to_every_test_with_the_variable() -> None:
    result = resolve(TESTS, ["size=42"])
    assert result == {"Alpha": {"size": 42}, "Beta": {"size": 42}, "Gamma": {}}


def test_values_are_converted_to_the_variable_type() -> None:
    result = resolve(TESTS, ["verbose=yes", "ratio=2", "names=x, y", "mode=slow"])
    assert result["Alpha"] == {"verbose": True, "mode": "slow"}
    assert result["Beta"] == {"ratio": 2.0, "names": ["x", "y"]}
    assert isinstance(result["Beta"]["ratio"], float)


def test_specific_override_only_touches_its_test() -> None:
    result = resolve(TESTS, ["Beta.size=7"])
    assert result == {"Alpha": {}, "Beta": {"size": 7}, "Gamma": {}}


@pytest.mark.parametrize("order", [["size=1", "Alpha.size=2"], ["Alpha.size=2", "size=1"]])
def test_specific_wins_whatever_the_order(order: list[str]) -> None:
    result = resolve(TESTS, order)
    assert result["Alpha"]["size"] == 2
    assert result["Beta"]["size"] == 1


def test_later_generic_override_wins() -> None:
    assert resolve(TESTS, ["size=1", "size=3"])["Alpha"]["size"] == 3


def test_value_may_contain_equals() -> None:
    class Opt(assay.Test):
        command = "true"
        flags = assay.variable(str, "")

    assert resolve([Opt], ["flags=--x=1"])["Opt"] == {"flags": "--x=1"}


def test_type_error_names_test_variable_and_type() -> None:
    error = usage_error(["size=big"])
    assert error.message.startswith("-S size=big: Alpha.size expects int: ")
    assert "'big' is not an integer" in error.message


def test_type_error_in_specific_override() -> None:
    error = usage_error(["Beta.ratio=fast"])
    assert error.message.startswith("-S Beta.ratio=fast: Beta.ratio expects float: ")
    assert "'fast' is not a number" in error.message


def test_choices_error() -> None:
    error = usage_error(["mode=medium"])
    assert error.message.startswith("-S mode=medium: Alpha.mode expects str: ")
    assert "allowed values: fast, slow" in error.message


def test_bool_error() -> None:
    error = usage_error(["verbose=maybe"])
    assert "Alpha.verbose expects bool" in error.message


def test_unknown_variable_with_suggestion() -> None:
    error = usage_error(["sise=3"])
    assert error.message == "-S sise=3: no loaded test has a variable 'sise' (did you mean 'size'?)"
    assert error.hint is not None
    assert "size" in error.hint
    assert "time_limit" in error.hint


def test_unknown_variable_of_a_specific_test() -> None:
    error = usage_error(["Alpha.ratio=1"])
    assert error.message.startswith("-S Alpha.ratio=1: Alpha has no variable 'ratio'")
    assert error.hint is not None
    assert "mode" in error.hint
    assert "ratio" not in error.hint


def test_unknown_test_with_suggestion() -> None:
    error = usage_error(["Alfa.size=1"])
    assert error.message == "-S Alfa.size=1: no loaded test named 'Alfa' (did you mean 'Alpha'?)"


@pytest.mark.parametrize("bad", ["size", "=3", ""])
def test_malformed_pair(bad: str) -> None:
    error = usage_error([bad])
    assert error.message == f"-S {bad}: expected NAME=VALUE or TEST.NAME=VALUE"


def test_builtin_fields_apply_to_every_test() -> None:
    result = resolve(TESTS, ["time_limit=5m", "tasks=4"])
    for name in ("Alpha", "Beta", "Gamma"):
        assert result[name] == {"time_limit": Duration("5m"), "tasks": 4}
        assert isinstance(result[name]["time_limit"], Duration)  # decoded once, here


def test_builtin_field_for_one_test() -> None:
    result = resolve(TESTS, ["Gamma.nodes=2", "Gamma.exclusive=on", "Gamma.gpus_per_node=0"])
    assert result["Gamma"] == {"nodes": 2, "exclusive": True, "gpus_per_node": 0}
    assert result["Alpha"] == {}


@pytest.mark.parametrize(
    ("pair", "fragment"),
    [
        ("tasks=0", "Alpha.tasks expects tasks: '0' must be 1 or more"),
        ("tasks=two", "Alpha.tasks expects tasks: 'two' is not an integer"),
        ("nodes=-1", "Alpha.nodes expects nodes: '-1' must be 1 or more"),
        ("time_limit=forever", "Alpha.time_limit expects time_limit: 'forever' is not a duration"),
        ("time_limit=0", "must be positive"),
        ("exclusive=perhaps", "Alpha.exclusive expects exclusive"),
        ("Gamma.cpus_per_task=1.5", "Gamma.cpus_per_task expects cpus_per_task"),
    ],
)
def test_builtin_field_errors(pair: str, fragment: str) -> None:
    error = usage_error([pair])
    assert error.message.startswith(f"-S {pair}: ")
    assert fragment in error.message


def test_fields_that_cannot_be_overridden() -> None:
    error = usage_error(["command=rm -rf /"])
    assert "no loaded test has a variable 'command'" in error.message


def test_string_variable_keeps_text_as_written() -> None:
    class Custom(assay.Test):
        command = "true"
        label = assay.variable(str, "x")

    assert resolve([Custom], ["label=01"])["Custom"] == {"label": "01"}


def test_dotted_test_name_uses_last_dot() -> None:
    error = usage_error(["pkg.Alpha.size=1"])
    assert "no loaded test named 'pkg.Alpha'" in error.message


class Swept(assay.Test):
    command = "true"
    threads = assay.parameter([1, 2])


def test_a_parameter_set_with_s_says_how_to_choose_its_variants() -> None:
    """A newcomer's ``-S threads=2`` on a parameter: not "no variable", but what to do."""
    error = usage_error(["threads=2"], [Alpha, Swept])
    assert error.message == (
        "-S threads=2: 'threads' is a parameter of Swept, not a variable: its values make "
        "the variants, and -S cannot change them"
    )
    assert error.hint is not None and "-P threads=2" in error.hint
