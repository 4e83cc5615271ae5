"""Durations are decoded once, where they are given: a test class's fields when it is
defined, a variant's when planned, an instance's when set, a suite file's when it is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import assay
from assay.define.suite import compile_suite
from assay.define.test import CaseInfo, bind
from assay.durations import Duration
from tests.unit.toml_fuzz import dumps


def case_info(tmp_path: Path) -> CaseInfo:
    return CaseInfo("c", "id", "v", "sys", "part", "env", tmp_path, tmp_path)


def test_a_class_duration_is_decoded_when_the_class_is_defined() -> None:
    class Limited(assay.Test):
        command = "true"
        time_limit = "01:30:00"
        build_time_limit = 90

    assert Limited._assay.errors == []
    for value, seconds in [(Limited.time_limit, 5400.0), (Limited.build_time_limit, 90.0)]:
        assert isinstance(value, Duration) and value.seconds == seconds

    class Inherits(Limited):
        pass

    assert isinstance(Inherits.time_limit, Duration) and Inherits.time_limit == 5400.0


def test_a_bad_class_duration_is_reported_and_left_as_written() -> None:
    class Bad(assay.Test):
        command = "true"
        time_limit = "soon"

    assert Bad._assay.errors == [
        "time_limit 'soon' is not a duration; write e.g. '90s', '5m', '1h30m', '2.5s' or '01:30:00'"
    ]
    assert Bad.time_limit == "soon"


def test_a_duration_parameter_names_variants_as_written_and_binds_seconds(
    tmp_path: Path,
) -> None:
    class Swept(assay.Test):
        command = "true"
        time_limit = assay.parameter(["90s", "01:00:00"])

    assert Swept._assay.errors == []
    labels = [labels for _, labels in Swept._assay.space.labeled()]
    assert labels == [("90s",), ("01:00:00",)]
    obj = bind(Swept, {"time_limit": "90s"}, {}, case_info(tmp_path))
    assert isinstance(obj.time_limit, Duration) and obj.time_limit == 90.0


def test_bind_decodes_a_duration_set_with_minus_s_and_refuses_a_bad_one(tmp_path: Path) -> None:
    class Overridden(assay.Test):
        command = "true"

    obj = bind(Overridden, {}, {"time_limit": "2m"}, case_info(tmp_path))
    assert isinstance(obj.time_limit, Duration) and obj.time_limit == 120.0
    with pytest.raises(ValueError, match="time_limit 'later' is not a duration"):
        bind(Overridden, {}, {"time_limit": "later"}, case_info(tmp_path))


def test_bind_sets_every_value_through_a_test_class_s_own_setattr(tmp_path: Path) -> None:
    """bind fills an instance's __dict__ at once, but a class that sets attributes its own
    way still sees each value (decoded by Test.__setattr__ through super())."""
    seen: list[str] = []

    class Watched(assay.Test):
        command = "true"
        n = assay.parameter([1])
        time_limit = assay.parameter(["90s"])
        depth = assay.variable(int, 3)

        def __setattr__(self, name: str, value: Any) -> None:
            seen.append(name)
            super().__setattr__(name, value)

    info = case_info(tmp_path)
    obj = bind(Watched, {"n": 1, "time_limit": "90s"}, {}, info)
    assert {"n", "time_limit", "depth", "case", "params", "tags", "env"} <= set(seen)
    assert isinstance(obj.time_limit, Duration) and obj.time_limit == 90.0
    assert (obj.n, obj.depth, obj.case, obj.params) == (1, 3, info, {"n": 1, "time_limit": "90s"})


def test_variant_fields_durations_are_decoded_when_planned() -> None:
    class Varying(assay.Test):
        command = "true"
        size = assay.parameter([1, 2])

        @assay.variant_fields
        def by_size(size: int) -> dict[str, Any]:
            return {"time_limit": f"{size}m"}

    fields = Varying._assay.fields_for((2,))
    assert isinstance(fields["time_limit"], Duration) and fields["time_limit"] == 120.0


def test_assigning_a_duration_to_an_instance_decodes_it(tmp_path: Path) -> None:
    class Plain(assay.Test):
        command = "true"

    obj = bind(Plain, {}, {}, case_info(tmp_path))
    obj.time_limit = "2m"
    assert isinstance(obj.time_limit, Duration) and obj.time_limit == 120.0
    obj.time_limit = None
    assert obj.time_limit is None
    with pytest.raises(ValueError, match=r"^build_time_limit 'later' is not a duration"):
        obj.build_time_limit = "later"


def test_a_duration_set_in_init_is_decoded(tmp_path: Path) -> None:
    class Initialised(assay.Test):
        command = "true"

        def __init__(self) -> None:
            self.time_limit = "1h"

    obj = bind(Initialised, {}, {}, case_info(tmp_path))
    assert isinstance(obj.time_limit, Duration) and obj.time_limit == 3600.0


def test_bind_takes_one_test_class_as_depends_on(tmp_path: Path) -> None:
    # The check allowed it and planning read it, but bind once iterated the class itself.
    class Prepare(assay.Test):
        command = "true"

    class Uses(assay.Test):
        command = "true"
        depends_on = Prepare

    assert Uses._assay.errors == []
    assert bind(Uses, {}, {}, case_info(tmp_path)).depends_on == [Prepare]


# --- suite files ----------------------------------------------------------------------------


def suite(tmp_path: Path, **extra: Any) -> tuple[list[type[assay.Test]], list[str]]:
    for name in ("c1", "c2"):
        (tmp_path / "cases" / name).mkdir(parents=True, exist_ok=True)
    path = tmp_path / "s.suite.toml"
    body = {"command": "true", "cases": "cases/*", **extra}
    path.write_text(dumps({"suite": body}))
    classes, problems = compile_suite(path)
    return classes, [f"{p.line}: {p.key}: {p.message}" for p in problems]


def test_suite_durations_are_decoded_when_the_suite_is_read(tmp_path: Path) -> None:
    classes, problems = suite(
        tmp_path,
        time_limit="1m",
        groups=[{"cases": ["c2"], "time_limit": "01:00:00"}],
        sweep=[{"name": "sw", "a": [1], "time_limit": 30}],
        scaling={"nodes": [1, 2], "time_limit": "2m"},
    )
    assert problems == []
    by_name = {cls.__name__: cls for cls in classes}
    cases, sweep, scaling = by_name["s"], by_name["s-sw"], by_name["s-scaling"]
    for value, seconds in [
        (cases.time_limit, 60.0),
        (sweep.time_limit, 30.0),
        (scaling.time_limit, 120.0),
    ]:
        assert isinstance(value, Duration) and value.seconds == seconds
    c1, c2 = cases._assay.space.names and list(cases._assay.space)
    assert cases._assay.fields_for(c1) == {}
    group_limit = cases._assay.fields_for(c2)["time_limit"]
    assert isinstance(group_limit, Duration) and group_limit == 3600.0


@pytest.mark.parametrize(
    ("table", "where", "line"),
    [
        ('time_limit = "soon"', "suite.time_limit", 4),
        ('[[suite.groups]]\ncases = ["c1"]\ntime_limit = "soon"', "suite.groups[0].time_limit", 6),
        ('[[suite.sweep]]\na = [1]\ntime_limit = "soon"', "suite.sweep[0].time_limit", 6),
        ('[suite.scaling]\nnodes = [1]\ntime_limit = "soon"', "suite.scaling.time_limit", 6),
    ],
)
def test_a_bad_suite_duration_names_its_key_and_line(
    tmp_path: Path, table: str, where: str, line: int
) -> None:
    (tmp_path / "cases" / "c1").mkdir(parents=True)
    path = tmp_path / "s.suite.toml"
    path.write_text(f'[suite]\ncommand = "true"\ncases = "cases/*"\n{table}\n')
    _, problems = compile_suite(path)
    assert [(p.key, p.line) for p in problems] == [(where, line)], problems
    assert problems[0].message.startswith("'soon' is not a duration; write e.g. '90s'")
