"""A test written by a ReFrame user: ReFrame's attribute names (``valid_systems``,
``sourcesdir``, ``num_tasks``...) are not assay's, and were silently kept as the test's own
attributes, so ``valid_systems = ["nothere"]`` ran everywhere. Each is now an error naming
assay's field."""

from __future__ import annotations

import pytest

import assay
from tests.unit.test_definition import errors_of, one_error


@pytest.mark.parametrize(
    ("theirs", "value", "ours"),
    [
        ("valid_systems", ["cluster:batch"], "systems"),
        ("valid_prog_environs", ["gnu"], "environments"),
        ("sourcesdir", "src", "sources"),
        ("num_tasks", 4, "tasks"),
        ("num_tasks_per_node", 2, "tasks_per_node"),
        ("num_cpus_per_task", 2, "cpus_per_task"),
        ("num_gpus_per_node", 1, "gpus_per_node"),
        ("prerun_cmds", ["module list"], "prerun"),
        ("postrun_cmds", ["ls"], "postrun"),
        ("exclusive_access", True, "exclusive"),
        ("executable_opts", ["-n", "4"], "command"),
        ("variables", {"A": "1"}, "env"),
        ("build_system", "Make", "build"),
        ("sanity_patterns", None, "sanity"),
        ("perf_patterns", None, "@assay.metric"),
        ("reference", {"*": {}}, "references"),
        ("strict_check", False, "references"),
    ],
)
def test_a_reframe_attribute_names_assays_field(theirs, value, ours):
    cls = type("Ported", (assay.Test,), {"command": "./app", theirs: value})
    message = one_error(cls, f"{theirs!r}")
    assert "ReFrame" in message and f"{ours}" in message


def test_executable_without_a_command_points_to_command():
    class Ported(assay.Test):
        executable = "./app"

    message = one_error(Ported, "'executable'")
    assert "ReFrame" in message and "command" in message


def test_an_own_attribute_named_executable_beside_a_command_is_the_tests_own():
    class Own(assay.Test):
        executable = "./app"
        command = "{executable} -x"

    assert not [e for e in errors_of(Own) if "executable" in e]


def test_a_test_that_only_builds_is_told_what_command_to_give():
    # ReFrame's CompileOnlyRegressionTest has no executable; assay's run stage needs one.
    class BuildOnly(assay.Test):
        build = "cc -o app app.c"

    message = one_error(BuildOnly, "command is not set")
    assert 'a test that only builds runs command = "true"' in message


@pytest.mark.parametrize("field", ["environments", "systems"])
@pytest.mark.parametrize("pattern", ["+openmp", "%omp_flag=-fopenmp"])
def test_a_reframe_feature_selector_is_refused_with_the_fix(field, pattern):
    # As a glob it matched no name: the test was planned nowhere, and nothing said so.
    cls = type("Ported", (assay.Test,), {"command": "./app", field: ["gnu", pattern]})
    message = one_error(cls, f"{field} pattern {pattern!r}")
    assert "ReFrame's syntax for a feature" in message and "list their names" in message


@pytest.mark.parametrize(
    ("stage", "said"),
    [("compile", "(ReFrame's compile is assay's build)"), ("init", "ReFrame's init has no hook")],
)
def test_a_reframe_stage_in_a_hook_is_told_assays(stage, said):
    with pytest.raises(ValueError) as info:
        assay.before(stage)
    assert f"@assay.before({stage!r}): unknown stage" in str(info.value)
    assert said in str(info.value)


def test_a_field_written_as_a_property_says_how_to_set_it_per_variant():
    # ReFrame sets num_tasks_per_node from a parameter in @run_after('init'); the port as a
    # @property was told only "must be an integer >= 1 or None, got <property object at ...>".
    class Scaling(assay.Test):
        command = "./app"
        tasks = assay.parameter([2, 4, 8])

        @property
        def tasks_per_node(self):
            return min(self.tasks, 4)

    message = one_error(Scaling, "tasks_per_node")
    assert "is a @property" in message and "@assay.variant_fields" in message
    assert "property object" not in message
