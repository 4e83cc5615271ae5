"""Selection: names, tags, parameters, partitions, environments, ids."""

from __future__ import annotations

import pytest

import assay
from assay.errors import UsageError
from assay.select import Selection


class Tagged(assay.Test):
    command = "true"
    tags = {"fast", "mpi"}
    threads = assay.parameter([1, 2, 4])
    mode = assay.parameter(["a", "b"])


class Untagged(assay.Test):
    command = "true"


class StringTag(assay.Test):
    command = "true"
    tags = ["slow"]
    size = assay.parameter([10])


def test_empty_selection_selects_everything() -> None:
    s = Selection()
    assert s.test_ok(Tagged)
    assert s.test_ok(Untagged)
    assert s.variant_ok("Tagged[threads=1,mode=a]", {"threads": "1", "mode": "a"})
    assert s.partition_ok("sys", "part")
    assert s.environment_ok("gnu")
    assert s.id_ok("deadbeef")


def test_names_are_searched_regexes_and_alternatives() -> None:
    s = Selection(names=["^Tag", "Stream"])
    assert s.variant_ok("Tagged[threads=1]", {})
    assert s.variant_ok("MyStream", {})
    assert not s.variant_ok("Untagged", {})
    # search, not fullmatch: a fragment selects
    assert Selection(names=["threads=2"]).variant_ok("Tagged[threads=2,mode=a]", {})
    assert not Selection(names=["threads=2"]).variant_ok("Tagged[threads=1,mode=a]", {})


def test_exclude_regexes() -> None:
    s = Selection(exclude=["mode=b", "^Un"])
    assert s.variant_ok("Tagged[threads=1,mode=a]", {})
    assert not s.variant_ok("Tagged[threads=1,mode=b]", {})
    assert not s.variant_ok("Untagged", {})


def test_exclude_wins_over_names() -> None:
    s = Selection(names=["Tagged"], exclude=["threads=4"])
    assert s.variant_ok("Tagged[threads=2]", {})
    assert not s.variant_ok("Tagged[threads=4]", {})


def test_tags_must_all_hold() -> None:
    assert Selection(tags=["fast"]).test_ok(Tagged)
    assert Selection(tags=["fast", "mpi"]).test_ok(Tagged)
    assert not Selection(tags=["fast", "gpu"]).test_ok(Tagged)
    assert not Selection(tags=["fast"]).test_ok(Untagged)


def test_tags_are_exact_not_substrings() -> None:
    assert not Selection(tags=["fas"]).test_ok(Tagged)
    assert not Selection(tags=["slo"]).test_ok(StringTag)
    assert Selection(tags=["slow"]).test_ok(StringTag)


def test_exclude_tags() -> None:
    assert not Selection(exclude_tags=["mpi"]).test_ok(Tagged)
    assert Selection(exclude_tags=["mpi"]).test_ok(Untagged)
    assert Selection(exclude_tags=["gpu"]).test_ok(Tagged)
    assert not Selection(tags=["fast"], exclude_tags=["mpi"]).test_ok(Tagged)


def test_string_tags_count_as_one_tag() -> None:
    class OneTag(assay.Test):
        command = "true"
        tags = "smoke"  # a definition error, but selection must not split it into letters

    assert Selection(tags=["smoke"]).test_ok(OneTag)
    assert not Selection(tags=["s"]).test_ok(OneTag)


def test_params_same_name_are_alternatives() -> None:
    s = Selection(params=["threads=1", "threads=4"])
    assert s.variant_ok("x", {"threads": "1", "mode": "a"})
    assert s.variant_ok("x", {"threads": "4", "mode": "b"})
    assert not s.variant_ok("x", {"threads": "2", "mode": "a"})


def test_params_different_names_must_all_hold() -> None:
    s = Selection(params=["threads=1", "mode=b"])
    assert s.variant_ok("x", {"threads": "1", "mode": "b"})
    assert not s.variant_ok("x", {"threads": "1", "mode": "a"})
    assert not s.variant_ok("x", {"threads": "2", "mode": "b"})


def test_params_compare_labels_exactly() -> None:
    s = Selection(params=["threads=1"])
    assert not s.variant_ok("x", {"threads": "10"})
    assert not s.variant_ok("x", {"threads": "1.0"})


def test_param_a_variant_lacks_is_not_selected() -> None:
    assert not Selection(params=["threads=1"]).variant_ok("Untagged", {})


def test_param_value_may_contain_equals_or_be_empty() -> None:
    s = Selection(params=["opt=a=b"])
    assert s.variant_ok("x", {"opt": "a=b"})
    assert Selection(params=["opt="]).variant_ok("x", {"opt": ""})


@pytest.mark.parametrize("bad", ["threads", "=1", ""])
def test_malformed_param(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        Selection(params=[bad])
    assert str(info.value) == f"-P {bad}: expected NAME=VALUE (e.g. -P threads=2)"


def test_partition_patterns() -> None:
    s = Selection(partitions=["default"])
    assert s.partition_ok("local", "default")
    assert s.partition_ok("cluster", "default")
    assert not s.partition_ok("local", "gpu")
    s = Selection(partitions=["local:*"])
    assert s.partition_ok("local", "default")
    assert s.partition_ok("local", "gpu")
    assert not s.partition_ok("cluster", "default")
    s = Selection(partitions=["gpu*", "cluster:cpu"])
    assert s.partition_ok("x", "gpu-a100")
    assert s.partition_ok("cluster", "cpu")
    assert not s.partition_ok("other", "cpu")


def test_partition_pattern_without_colon_does_not_match_the_system() -> None:
    assert not Selection(partitions=["local"]).partition_ok("local", "default")


def test_environments() -> None:
    s = Selection(environments=["gnu*", "builtin"])
    assert s.environment_ok("gnu")
    assert s.environment_ok("gnu-12")
    assert s.environment_ok("builtin")
    assert not s.environment_ok("intel")
    assert not Selection(environments=["gnu"]).environment_ok("gnu-12")


def test_ids_are_prefixes_case_insensitive() -> None:
    s = Selection(ids=["ab12", "FF"])
    assert s.id_ok("ab12cd34")
    assert s.id_ok("ff000000")
    assert not s.id_ok("0ab12cd3")
    assert not s.id_ok("abc12345")


@pytest.mark.parametrize(("field", "option"), [("names", "-n"), ("exclude", "-x")])
def test_invalid_regex_names_the_option(field: str, option: str) -> None:
    with pytest.raises(UsageError) as info:
        Selection(**{field: ["ok", "Test[("]}).resolve(["Test[a=1]"], [" @s:p+e"])
    message = str(info.value)
    assert message.startswith(f"{option} 'Test[(': not a valid regular expression")
    assert message.endswith("and no case's name contains it as written")


SUFFIXES = [" @local:default+builtin", " @cluster:gpu+gnu"]


def test_a_displayed_name_selects_its_case_brackets_and_all() -> None:
    names = ["yaml[case=Y2GN]", "yaml[case=Y2GX]", "yamlc[case=1]", "yaml"]
    s = Selection(names=["yaml[case=Y2GN]"]).resolve(names, SUFFIXES)
    assert s.literal == {"yaml[case=Y2GN]"}
    # As a regex it would be "yaml" then one of the characters c, a, s, e, =, Y, 2, G, N.
    assert [n for n in names if s.variant_ok(n, {})] == ["yaml[case=Y2GN]"]


def test_a_pasted_case_name_with_its_partition_selects_that_case_only() -> None:
    names = ["yaml[case=Y2GN]"]
    s = Selection(names=["yaml[case=Y2GN] @local:default+builtin"]).resolve(names, SUFFIXES)
    assert s.variant_ok("yaml[case=Y2GN]", {})  # decided with the case name
    assert s.case_ok("yaml[case=Y2GN]", "yaml[case=Y2GN] @local:default+builtin")
    assert not s.case_ok("yaml[case=Y2GN]", "yaml[case=Y2GN] @cluster:gpu+gnu")


def test_a_pattern_no_name_contains_stays_a_regex() -> None:
    names = ["Stream[threads=1]", "Stream[threads=2]", "Hello"]
    s = Selection(names=["Stream[threads=[12]]"]).resolve(names, SUFFIXES)
    assert s.literal == frozenset()
    assert [n for n in names if s.variant_ok(n, {})] == []  # the regex: "threads=" then 1/2
    regex = Selection(names=[r"Stream\[threads=[12]\]"]).resolve(names, SUFFIXES)
    assert [n for n in names if regex.variant_ok(n, {})] == names[:2]


def test_an_invalid_regex_that_is_a_name_selects_it() -> None:
    names = ["odd[x=(]", "other"]
    s = Selection(exclude=["odd[x=("]).resolve(names, SUFFIXES)
    assert [n for n in names if s.variant_ok(n, {})] == ["other"]


def test_params_known_accepts_known_names() -> None:
    Selection(params=["threads=1", "mode=a"]).params_known([Tagged, Untagged])
    Selection().params_known([])


def test_params_known_rejects_unknown_with_suggestion() -> None:
    s = Selection(params=["thread=1"])
    with pytest.raises(UsageError) as info:
        s.params_known([Tagged, StringTag])
    error = info.value
    assert "-P thread=...: no selected test has a parameter 'thread'" in error.message
    assert "(did you mean 'threads'?)" in error.message
    assert error.hint == "parameters: mode, size, threads"


def test_params_known_only_looks_at_the_given_tests() -> None:
    with pytest.raises(UsageError) as info:
        Selection(params=["threads=1"]).params_known([Untagged])
    assert info.value.hint == "parameters: none"
