"""Performance references: bounds, checks, and which reference applies where."""

from __future__ import annotations

import math

import pytest

import assay
from assay.define.reffile import entry
from assay.define.refs import Ref, as_ref, choose, pattern_matches, ref


def test_ref_helper_builds_a_ref() -> None:
    r = assay.ref(20_000, lower=-0.2, unit="MB/s")
    assert r == Ref(20_000, -0.2, None, "MB/s")
    assert ref(1.0, upper=0.5) == Ref(1.0, None, 0.5, None)


def test_bounds_are_relative_to_the_value() -> None:
    assert Ref(100.0, -0.2, 0.1).bounds() == (pytest.approx(80.0), pytest.approx(110.0))


def test_bounds_unbounded_sides() -> None:
    assert Ref(100.0).bounds() == (None, None)
    low, high = Ref(100.0, lower=-0.5).bounds()
    assert low == pytest.approx(50.0)
    assert high is None
    low, high = Ref(100.0, upper=0.0).bounds()
    assert low is None
    assert high == pytest.approx(100.0)


def test_bounds_of_negative_reference_values() -> None:
    # Tolerances scale with |value|: -50 with -10%/+20% accepts -55 .. -40.
    low, high = Ref(-50.0, -0.1, 0.2).bounds()
    assert low == pytest.approx(-55.0)
    assert high == pytest.approx(-40.0)
    assert low is not None and high is not None and low < high


def test_check_inside_and_on_the_bounds() -> None:
    r = Ref(100.0, -0.2, 0.1)
    for measured in (80.0, 95.0, 100.0, 110.0):
        assert r.check(measured) is None, measured


def test_check_below() -> None:
    message = Ref(100.0, -0.2, 0.1, "MB/s").check(79.0)
    assert message is not None
    assert message.startswith("79 MB/s is below the reference 100 MB/s")
    assert "-20%" in message
    assert "lowest accepted 80 MB/s" in message


def test_check_above() -> None:
    message = Ref(2.0, -0.1, 0.05, "s").check(2.5)
    assert message is not None
    assert message.startswith("2.5 s is above the reference 2 s")
    assert "+5%" in message
    assert "highest accepted 2.1 s" in message


def test_check_without_unit() -> None:
    message = Ref(10.0, lower=-0.1).check(1.0)
    assert message is not None
    assert message.startswith("1 is below the reference 10 ")


def test_check_unbounded_side_never_fails() -> None:
    assert Ref(100.0, lower=-0.1).check(1e12) is None
    assert Ref(100.0, upper=0.1).check(-1e12) is None


def test_check_negative_reference() -> None:
    r = Ref(-50.0, -0.1, 0.2)
    assert r.check(-50.0) is None
    assert r.check(-55.0) is None
    assert r.check(-40.0) is None
    below = r.check(-56.0)
    assert below is not None
    assert "below" in below
    assert "lowest accepted -55" in below
    above = r.check(-39.0)
    assert above is not None
    assert "above" in above
    assert "highest accepted -40" in above


@pytest.mark.parametrize(
    ("r", "fragment"),
    [
        (Ref(True), "must be a number"),  # type: ignore[arg-type]
        (Ref("100"), "must be a number"),  # type: ignore[arg-type]
        (Ref(math.inf), "must be finite"),
        (Ref(math.nan), "must be finite"),
        (Ref(100.0, lower=0.2), "lower tolerance 0.2 must be between -1 and 0"),
        (Ref(100.0, lower=-1.5), "lower tolerance -1.5 must be between -1 and 0"),
        (Ref(100.0, upper=-0.1), "upper tolerance -0.1 must be 0 or more"),
        # NaN compares false with everything: it would have made a side silently unbounded
        (Ref(100.0, upper=math.nan), "upper tolerance nan must be a finite number"),
        (Ref(-100.0, lower=math.nan), "lower tolerance nan must be a finite number"),
        (Ref(100.0, upper=math.inf), "upper tolerance inf must be a finite number"),
        (Ref(100.0, upper="x"), "upper tolerance must be a number, got the string 'x'"),  # type: ignore[arg-type]
        # integers beyond any float (TOML reads them whole) are no error of assay's own
        (Ref(10**400), "must be finite"),
        (Ref(5.0, upper=10**400), "must be a finite number"),
        (Ref(5.0, upper_abs=10**400), "must be a finite number"),
        (Ref(1e308, upper=10.0), "highest accepted value is not a finite number"),
    ],
)
def test_ref_problems(r: Ref, fragment: str) -> None:
    problems = r.problems()
    assert len(problems) == 1
    assert fragment in problems[0]


@pytest.mark.parametrize(
    "value",
    [
        10**400,
        {"value": 10**400},
        {"value": 5, "upper": 10**400},
        {"value": 5, "lower_abs": -(10**400)},
    ],
    ids=["value", "table value", "upper", "lower_abs"],
)
def test_a_references_file_with_huge_integers_is_a_problem_not_a_crash(value: object) -> None:
    ref, wrong = entry(value)
    assert wrong and "finite" in wrong, (ref, wrong)


def test_good_ref_has_no_problems() -> None:
    assert Ref(100.0, -0.2, 0.1, "MB/s").problems() == []
    assert Ref(5, -1.0, 0.0).problems() == []


# --- choosing a reference -------------------------------------------------------------------


REFS = {
    "*": {"bw": 1.0, "lat": 9.0},
    "sys:*": {"bw": 2.0},
    "sys:part": {"bw": 3.0},
    "other:*": {"bw": 4.0},
}


def test_exact_beats_system_wildcard_beats_star() -> None:
    assert choose(REFS, "sys", "part")["bw"] == Ref(3.0)
    assert choose(REFS, "sys", "gpu")["bw"] == Ref(2.0)
    assert choose(REFS, "else", "where")["bw"] == Ref(1.0)
    assert choose(REFS, "other", "part")["bw"] == Ref(4.0)


def test_specificity_does_not_depend_on_key_order() -> None:
    reversed_refs = dict(reversed(list(REFS.items())))
    assert choose(reversed_refs, "sys", "part")["bw"] == Ref(3.0)
    assert choose(reversed_refs, "sys", "gpu")["bw"] == Ref(2.0)


def test_metrics_from_less_specific_keys_fill_in() -> None:
    chosen = choose(REFS, "sys", "part")
    assert chosen == {"bw": Ref(3.0), "lat": Ref(9.0)}


def test_bare_system_matches_every_partition() -> None:
    refs = {"sys": {"bw": 5.0}}
    assert choose(refs, "sys", "cpu")["bw"] == Ref(5.0)
    assert choose(refs, "sys", "gpu")["bw"] == Ref(5.0)
    assert choose(refs, "system2", "cpu") == {}


def test_bare_system_beats_wildcards_and_loses_to_exact_partition() -> None:
    refs = {"sys:part": {"bw": 3.0}, "sys": {"bw": 5.0}, "sys:*": {"bw": 2.0}, "*": {"bw": 1.0}}
    assert choose(refs, "sys", "part")["bw"] == Ref(3.0)
    assert choose(refs, "sys", "gpu")["bw"] == Ref(5.0)


def test_longer_wildcard_beats_shorter() -> None:
    refs = {"sys:gpu*": {"bw": 7.0}, "sys:*": {"bw": 2.0}}
    assert choose(refs, "sys", "gpu-a100")["bw"] == Ref(7.0)
    assert choose(refs, "sys", "cpu")["bw"] == Ref(2.0)


def test_nothing_matches() -> None:
    assert choose({"a:b": {"bw": 1.0}}, "x", "y") == {}
    assert choose({}, "x", "y") == {}


def test_choose_converts_values_to_refs() -> None:
    chosen = choose({"*": {"a": 3, "b": (10, -0.1, 0.1, "s"), "c": ref(1.0, unit="x")}}, "s", "p")
    assert chosen == {
        "a": Ref(3.0),
        "b": Ref(10, -0.1, 0.1, "s"),
        "c": Ref(1.0, None, None, "x"),
    }


@pytest.mark.parametrize(
    ("pattern", "system", "partition", "expected"),
    [
        ("*", "a", "b", True),
        ("a", "a", "b", True),
        ("a", "ab", "b", False),
        ("a*", "ab", "b", True),
        ("a:b", "a", "b", True),
        ("a:b", "a", "c", False),
        ("a:*", "a", "anything", True),
        ("*:gpu", "x", "gpu", True),
        ("*:gpu", "x", "cpu", False),
        ("A", "a", "b", False),
    ],
)
def test_pattern_matches(pattern: str, system: str, partition: str, expected: bool) -> None:
    assert pattern_matches(pattern, system, partition) is expected


# --- as_ref ---------------------------------------------------------------------------------


def test_as_ref_number() -> None:
    r = as_ref(5)
    assert r == Ref(5.0)
    assert isinstance(r.value, float)
    assert as_ref(2.5) == Ref(2.5)


def test_as_ref_tuple_and_list() -> None:
    assert as_ref((100, -0.2)) == Ref(100, -0.2, None, None)
    assert as_ref((100, -0.2, 0.1, "MB/s")) == Ref(100, -0.2, 0.1, "MB/s")
    assert as_ref([7]) == Ref(7)


def test_as_ref_passes_refs_through() -> None:
    r = Ref(1.0, unit="s")
    assert as_ref(r) is r


@pytest.mark.parametrize("bad", [True, "100", None, (), (1, 2, 3, "u", 5), {"value": 1}])
def test_as_ref_rejects_invalid(bad: object) -> None:
    with pytest.raises(TypeError) as info:
        as_ref(bad)
    assert "is not a reference" in str(info.value)
    assert "assay.ref(" in str(info.value)


# --- absolute bounds --------------------------------------------------------------------------


def test_absolute_bounds_are_in_the_metric_unit() -> None:
    r = assay.ref(2.0, upper_abs=0.5, unit="s")
    assert r.bounds() == (None, 2.5)
    assert r.check(2.5) is None
    assert r.check(2.6) == "2.6 s is above the reference 2 s +0.5 s (highest accepted 2.5 s)"
    near_zero = assay.ref(0.0, lower_abs=-1e-3, upper_abs=1e-3)  # where relative ones say 0
    assert near_zero.bounds() == (-1e-3, 1e-3) and near_zero.check(5e-4) is None


def test_with_a_relative_and_an_absolute_bound_on_a_side_the_wider_one_holds() -> None:
    r = assay.ref(10.0, lower=-0.1, lower_abs=-2.0, upper=0.3, upper_abs=1.0, unit="s")
    assert r.bounds() == (8.0, 13.0)
    assert r.check(7.5) == ("7.5 s is below the reference 10 s -10% or -2 s (lowest accepted 8 s)")


@pytest.mark.parametrize(
    ("kw", "problem"),
    [
        ({"lower_abs": 0.5}, "lower_abs 0.5 must be 0 or less (e.g. -0.5 for 0.5 below"),
        ({"upper_abs": -1}, "upper_abs -1 must be 0 or more (e.g. 0.5 for 0.5 above"),
        ({"upper_abs": float("inf")}, "upper_abs must be a finite number, got inf (None: unbo"),
        ({"lower_abs": "1"}, "lower_abs must be a number, got the string '1'"),
    ],
)
def test_wrong_absolute_bounds_are_problems(kw: dict[str, object], problem: str) -> None:
    (found,) = assay.ref(1.0, **kw).problems()  # type: ignore[arg-type]
    assert found.startswith(problem)


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"value": "10"}, "reference value must be a number, got the string '10'"),
        ({"value": 10, "lower": "-0.1"}, "lower tolerance must be a number, got the string '-0.1'"),
        ({"value": 10, "upper": "0.1"}, "upper tolerance must be a number, got the string '0.1'"),
        ({"value": 10, "upper_abs": "2"}, "upper_abs must be a number, got the string '2'"),
    ],
)
def test_a_number_written_as_a_string_says_to_drop_the_quotes(kwargs, said):
    (problem,) = Ref(**kwargs).problems()
    assert problem == f"{said}; write it without quotes"
