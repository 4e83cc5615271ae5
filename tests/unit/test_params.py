"""Parameters, parameter spaces (lazily enumerated variants) and variables."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import assay
from assay.define.params import (
    Parameter,
    ParameterSpace,
    Variable,
    convert_text,
    format_value,
    variable,
)


def param(name: str, values: Any, **kw: Any) -> Parameter:
    p = Parameter(values, **kw)
    p.__set_name__(object, name)
    return p


# --- enumeration ---------------------------------------------------------------------------


def test_cartesian_product_order_first_parameter_slowest() -> None:
    space = ParameterSpace([param("a", [1, 2]), param("b", ["x", "y", "z"])])
    assert list(space) == [
        (1, "x"),
        (1, "y"),
        (1, "z"),
        (2, "x"),
        (2, "y"),
        (2, "z"),
    ]
    assert space.names == ("a", "b")


def test_no_parameters_gives_one_empty_variant() -> None:
    assert list(ParameterSpace([])) == [()]


def test_single_parameter_keeps_value_order() -> None:
    assert list(ParameterSpace([param("n", [3, 1, 2])])) == [(3,), (1,), (2,)]


def test_zipped_group_moves_together() -> None:
    space = ParameterSpace(
        [
            param("size", [10, 20, 30], group="g"),
            param("mode", ["a", "b"]),
            param("label", ["s", "m", "l"], group="g"),
        ]
    )
    # Values come back in declaration order even though the group is one axis.
    assert list(space) == [
        (10, "a", "s"),
        (10, "b", "s"),
        (20, "a", "m"),
        (20, "b", "m"),
        (30, "a", "l"),
        (30, "b", "l"),
    ]
    assert len(space.axes) == 2
    assert space.problems() == []


def test_two_groups_multiply_each_other() -> None:
    space = ParameterSpace(
        [
            param("a", [1, 2], group="g1"),
            param("b", [3, 4], group="g1"),
            param("c", [5, 6], group="g2"),
            param("d", [7, 8], group="g2"),
        ]
    )
    assert list(space) == [(1, 3, 5, 7), (1, 3, 6, 8), (2, 4, 5, 7), (2, 4, 6, 8)]


def test_unequal_group_lengths_are_reported() -> None:
    space = ParameterSpace([param("a", [1, 2], group="g"), param("b", [1, 2, 3], group="g")])
    problems = space.problems()
    assert len(problems) == 1
    assert "group 'g'" in problems[0]
    assert "equal lengths" in problems[0]
    assert "a has 2" in problems[0]
    assert "b has 3" in problems[0]


def test_exclude_drops_matching_partial_assignments() -> None:
    space = ParameterSpace(
        [param("a", [1, 2]), param("b", ["x", "y"])],
        excludes=[{"a": 1, "b": "y"}, {"a": 2}],
    )
    assert list(space) == [(1, "x")]
    assert space.problems() == []


def test_exclude_with_unknown_parameter_is_reported() -> None:
    space = ParameterSpace([param("a", [1, 2])], excludes=[{"z": 1}])
    (problem,) = space.problems()
    assert "['z']" in problem
    assert "parameters are ['a']" in problem


def test_exclude_that_is_not_a_dict_is_reported() -> None:
    space = ParameterSpace([param("a", [1])], excludes=[("a", 1)])
    (problem,) = space.problems()
    assert "exclude entries must be dicts" in problem


def test_filter_receives_only_the_parameters_it_names() -> None:
    seen: list[dict[str, Any]] = []

    def fits(size: int, nodes: int) -> bool:
        seen.append({"size": size, "nodes": nodes})
        return size >= nodes * 16

    space = ParameterSpace(
        [param("nodes", [1, 2, 4]), param("mode", ["a"]), param("size", [16, 32, 64])],
        filters=[fits],
    )
    assert list(space) == [
        (1, "a", 16),
        (1, "a", 32),
        (1, "a", 64),
        (2, "a", 32),
        (2, "a", 64),
        (4, "a", 64),
    ]
    assert len(seen) == 9
    assert all(set(s) == {"size", "nodes"} for s in seen)


def test_filter_naming_unknown_parameter_is_reported() -> None:
    def keep(sizee: int) -> bool:
        return True

    space = ParameterSpace([param("size", [1])], filters=[keep])
    (problem,) = space.problems()
    assert "'keep'" in problem
    assert "['sizee']" in problem


def test_variant_filter_and_exclude_in_a_test_class() -> None:
    class Sweep(assay.Test):
        command = "true"
        ranks = assay.parameter([1, 2, 4])
        size = assay.parameter([16, 32, 64])
        exclude = [{"ranks": 1, "size": 64}]

        @assay.variant_filter
        def fits(size, ranks):  # type: ignore[misc]
            return size >= ranks * 16

    definition = Sweep._assay
    assert definition.errors == []
    assert list(definition.space) == [(1, 16), (1, 32), (2, 32), (2, 64), (4, 64)]
    # The filter is a plain function again on the class, callable without an instance.
    assert Sweep.fits(size=16, ranks=2) is False


def test_iteration_is_lazy_on_a_huge_space() -> None:
    calls = 0

    def count(a: int) -> bool:
        nonlocal calls
        calls += 1
        return True

    space = ParameterSpace(
        [param("a", range(100)), param("b", range(100)), param("c", range(100))],
        filters=[count],
    )
    first = list(itertools.islice(space, 5))
    assert first == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 0, 4)]
    assert calls == 5  # only the combinations asked for were generated


def test_first_variants_of_a_large_space_cost_labels_per_value_not_per_combination() -> None:
    # 8 million combinations: labelling them all would mean 24 million fmt calls.
    calls = 0

    def fmt(value: int) -> str:
        nonlocal calls
        calls += 1
        return str(value)

    space = ParameterSpace([Parameter(range(200), fmt=fmt) for _ in "abc"])
    for p, name in zip(space.params, "abc", strict=True):
        p.name = name
    it = space.labeled()
    assert next(it) == ((0, 0, 0), ("0", "0", "0"))
    assert list(itertools.islice(it, 2)) == [
        ((0, 0, 1), ("0", "0", "1")),
        ((0, 0, 2), ("0", "0", "2")),
    ]
    assert calls <= 3 * 200  # each value labelled once, whatever the number of combinations


def test_full_space_size_is_the_product() -> None:
    space = ParameterSpace([param("a", range(100)), param("b", range(100)), param("c", range(10))])
    assert sum(1 for _ in space) == 100_000


# --- labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        ("x", "x"),
        (True, "True"),
        (None, "None"),
        (0.5, "0.5"),
        (1.0, "1.0"),
        ([1, 2], "(1,2)"),
        ((1, "a", 2.5), "(1,a,2.5)"),
        ({"k": 1}, "{'k': 1}"),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


def test_fmt_controls_labels() -> None:
    p = param("grid", [(8, 8), (16, 16)], fmt=lambda v: f"{v[0]}x{v[1]}")
    space = ParameterSpace([p, param("n", [1])])
    assert space.labels(((8, 8), 1)) == ("8x8", "1")
    assert p.problems() == []


def test_default_labels_of_tuples() -> None:
    p = param("grid", [(8, 8)])
    assert p.label((8, 8)) == "(8,8)"


def test_duplicate_labels_are_reported() -> None:
    p = param("n", [1, "1", 2])
    (problem,) = p.problems()
    assert "parameter 'n'" in problem
    assert "1 and '1' both print as '1'" in problem
    assert "fmt=" in problem


def test_fmt_that_collapses_values_is_reported() -> None:
    p = param("n", [1, 2], fmt=lambda v: "same")
    (problem,) = p.problems()
    assert "both print as 'same'" in problem


def test_a_value_that_prints_as_no_utf8_text_is_reported() -> None:
    # os.listdir gives a name in another encoding with lone surrogates: before, the raw codec
    # error ("surrogates not allowed") was the test's load problem, naming no parameter.
    p = param("f", ["ok", "bad\udcff"])
    (problem,) = p.problems()
    assert "parameter 'f'" in problem and "not UTF-8 text" in problem and "fmt=" in problem
    assert (
        param("f", ["bad\udcff"], fmt=lambda v: v.encode(errors="replace").decode()).problems()
        == []
    )


def test_fmt_that_raises_is_reported() -> None:
    p = param("n", [1, 0], fmt=lambda v: str(1 // v))
    (problem,) = p.problems()
    assert "fmt(0) raised" in problem
    assert "ZeroDivisionError" in problem


def test_fmt_that_exits_is_reported_not_raised() -> None:
    import sys

    def fmt(value: int) -> str:
        if value == 0:
            sys.exit(4)
        return str(value)

    p = param("n", [1, 0], fmt=fmt)
    (problem,) = p.problems()
    assert problem == "parameter 'n': fmt(0) raised SystemExit: 4"


def test_empty_parameter_is_reported() -> None:
    p = param("n", [])
    assert p.problems() == ["parameter 'n' has no values; give at least one"]


def test_parameter_takes_values_from_any_iterable() -> None:
    p = param("n", (x * x for x in range(3)))
    assert p.values == (0, 1, 4)


def test_parameter_name_comes_from_the_class_attribute() -> None:
    class Named(assay.Test):
        command = "true"
        threads = assay.parameter([1, 2])

    (p,) = Named._assay.space.params
    assert p.name == "threads"
    assert Named._assay.space.names == ("threads",)


# --- variables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typ", "text", "value"),
    [
        (int, "42", 42),
        (int, " 7 ", 7),
        (int, "-3", -3),
        (int, "0x10", 16),
        (float, "2.5", 2.5),
        (float, "1e3", 1000.0),
        (float, "3", 3.0),
        (str, "hello world", "hello world"),
        (str, "", ""),
        (bool, "true", True),
        (bool, "Yes", True),
        (bool, "on", True),
        (bool, "1", True),
        (bool, "false", False),
        (bool, "NO", False),
        (bool, "off", False),
        (bool, "0", False),
        (list, "a,b,c", ["a", "b", "c"]),
        (list, " a , b ,, c ", ["a", "b", "c"]),
        (list, "", []),
        (list, "single", ["single"]),
    ],
)
def test_variable_parse(typ: type, text: str, value: object) -> None:
    var = Variable(typ, None)
    parsed = var.parse(text)
    assert parsed == value
    assert type(parsed) is type(value)
    assert convert_text(text, typ) == value


@pytest.mark.parametrize(
    ("typ", "text", "fragment"),
    [
        (int, "1.5", "'1.5' is not an integer"),
        (int, "ten", "'ten' is not an integer"),
        (int, "", "'' is not an integer"),
        (float, "fast", "'fast' is not a number"),
        (bool, "maybe", "'maybe' is not a boolean"),
        (bool, "", "is not a boolean"),
    ],
)
def test_variable_parse_errors(typ: type, text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        Variable(typ, None).parse(text)
    assert fragment in str(info.value)


def test_variable_choices() -> None:
    var = Variable(str, "a", choices=("small", "large"))
    assert var.parse("large") == "large"
    with pytest.raises(ValueError) as info:
        var.parse("medium")
    assert str(info.value) == "'medium' is not one of the allowed values: small, large"


def test_variable_choices_compare_converted_values() -> None:
    var = Variable(int, 1, choices=(1, 2, 4))
    assert var.parse("4") == 4
    assert var.parse("0x2") == 2
    with pytest.raises(ValueError, match="allowed values: 1, 2, 4"):
        var.parse("3")


def test_variable_rejects_unsupported_types() -> None:
    with pytest.raises(TypeError, match="int, float, str, bool, list"):
        variable(dict, {})


def test_variable_in_class_reads_as_its_definition() -> None:
    class WithVars(assay.Test):
        command = "true"
        size = assay.variable(int, 10, help="problem size")
        mode = assay.variable(str, "fast", choices=["fast", "slow"])

    variables = WithVars._assay.variables
    assert set(variables) == {"size", "mode"}
    assert variables["size"].type is int
    assert variables["size"].default == 10
    assert variables["size"].help == "problem size"
    assert variables["size"].name == "size"
    assert variables["mode"].choices == ("fast", "slow")
    assert WithVars._assay.errors == []
