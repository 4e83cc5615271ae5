"""From tests to cases: expansion, names, ids, dependencies, skips."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import assay
from assay.config import Config, default_config, parse_config
from assay.define.test import effective_tasks
from assay.errors import ConfigError
from assay.plan import Case, Plan, case_id, make_plan, nodes_needed, variants
from assay.select import Selection

CLUSTER = """
[environments.gnu]
cc = "gcc"
[environments.intel]
cc = "icx"

[systems.cluster]
hostnames = ["*"]

[systems.cluster.partitions.cpu]
environments = ["gnu", "intel"]
max_jobs = 4
resources = { nodes = 2, cpus_per_node = 32 }

[systems.cluster.partitions.gpu]
environments = ["gnu"]
resources = { nodes = 8, gpus_per_node = 4 }
"""


NODES_KEY = " (systems.cluster.partitions.cpu.resources.nodes in the config)"


def cluster() -> Config:
    return parse_config(textwrap.dedent(CLUSTER), "cluster.toml")


def plan(
    tests: Sequence[type[assay.Test]],
    config: Config | None = None,
    selection: Selection | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    max_jobs: int | None = None,
) -> Plan:
    config = config or default_config()
    system = next(iter(config.systems))
    return make_plan(
        tests, config, system, selection or Selection(), overrides or {}, max_jobs=max_jobs
    )


def names(cases: Sequence[Case]) -> list[str]:
    return [c.name for c in cases]


class Stream(assay.Test):
    command = "./stream"
    threads = assay.parameter([1, 2])


class Hello(assay.Test):
    command = "echo hello"


# --- expansion and names --------------------------------------------------------------------


def test_case_names_with_the_default_config() -> None:
    p = plan([Stream, Hello])
    assert names(p.cases) == [
        "Stream[threads=1] @local:default+builtin",
        "Stream[threads=2] @local:default+builtin",
        "Hello @local:default+builtin",
    ]
    assert p.system == "local"
    assert p.problems == []
    assert all(c.selected and c.skip is None for c in p.cases)
    assert p.selected == p.cases


def test_case_fields() -> None:
    case = plan([Stream]).cases[1]
    assert case.test is Stream
    assert case.variant.name == "Stream[threads=2]"
    assert case.variant.params == {"threads": 2}
    assert case.variant.param_labels == {"threads": "2"}
    assert case.partition.full_name == "local:default"
    assert case.environment == "builtin"
    assert case.env_config.cc == "cc"
    assert case.deps == []
    assert case.dependents == []


def test_variants_use_labels_and_declaration_order() -> None:
    class Grid(assay.Test):
        command = "true"
        shape = assay.parameter([(8, 8)], fmt=lambda s: f"{s[0]}x{s[1]}")
        mode = assay.parameter(["a", "b"])

    assert [v.name for v in variants(Grid)] == ["Grid[shape=8x8,mode=a]", "Grid[shape=8x8,mode=b]"]
    assert [v.values for v in variants(Grid)] == [((8, 8), "a"), ((8, 8), "b")]


def test_ids_are_stable_short_hashes() -> None:
    first = plan([Stream, Hello])
    second = plan([Hello, Stream])
    ids_first = {c.name: c.id for c in first.cases}
    ids_second = {c.name: c.id for c in second.cases}
    assert ids_first == ids_second
    assert all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids_first.values())
    assert len(set(ids_first.values())) == len(ids_first)
    assert case_id("Hello @local:default+builtin") == ids_first["Hello @local:default+builtin"]
    # The same across processes and releases: ids in old reports must still select cases.
    assert case_id("Hello @local:default+builtin") == "6221e69a"


def test_expansion_over_partitions_and_environments() -> None:
    p = plan([Hello], cluster())
    assert names(p.cases) == [
        "Hello @cluster:cpu+gnu",
        "Hello @cluster:cpu+intel",
        "Hello @cluster:gpu+gnu",
    ]
    assert p.system == "cluster"


def test_systems_patterns_restrict_partitions() -> None:
    class GpuOnly(assay.Test):
        command = "true"
        systems = ["cluster:gpu"]

    class AnyCluster(assay.Test):
        command = "true"
        systems = "cluster"

    class Elsewhere(assay.Test):
        command = "true"
        systems = ["laptop:*"]

    p = plan([GpuOnly, AnyCluster, Elsewhere], cluster())
    assert names(p.cases) == [
        "GpuOnly @cluster:gpu+gnu",
        "AnyCluster @cluster:cpu+gnu",
        "AnyCluster @cluster:cpu+intel",
        "AnyCluster @cluster:gpu+gnu",
    ]


def test_environment_patterns_restrict_environments() -> None:
    class IntelOnly(assay.Test):
        command = "true"
        environments = ["intel"]

    class Gnuish(assay.Test):
        command = "true"
        environments = "gn*"

    p = plan([IntelOnly, Gnuish], cluster())
    assert names(p.cases) == [
        "IntelOnly @cluster:cpu+intel",
        "Gnuish @cluster:cpu+gnu",
        "Gnuish @cluster:gpu+gnu",
    ]


def test_selection_restricts_cases() -> None:
    config = cluster()
    assert names(plan([Stream], config, Selection(partitions=["gpu"])).cases) == [
        "Stream[threads=1] @cluster:gpu+gnu",
        "Stream[threads=2] @cluster:gpu+gnu",
    ]
    assert names(plan([Stream], config, Selection(environments=["intel"])).cases) == [
        "Stream[threads=1] @cluster:cpu+intel",
        "Stream[threads=2] @cluster:cpu+intel",
    ]
    assert names(plan([Stream], config, Selection(params=["threads=2"])).cases) == [
        "Stream[threads=2] @cluster:cpu+gnu",
        "Stream[threads=2] @cluster:cpu+intel",
        "Stream[threads=2] @cluster:gpu+gnu",
    ]
    assert plan([Stream, Hello], config, Selection(names=["^Hello"])).cases[0].test is Hello


def test_selection_by_id() -> None:
    everything = plan([Stream, Hello])
    wanted = everything.cases[1]
    p = plan([Stream, Hello], selection=Selection(ids=[wanted.id[:5].upper()]))
    assert names(p.cases) == [wanted.name]


def test_tag_selection_drops_whole_tests() -> None:
    class Fast(assay.Test):
        command = "true"
        tags = {"fast"}

    p = plan([Fast, Hello], selection=Selection(tags=["fast"]))
    assert names(p.cases) == ["Fast @local:default+builtin"]


def test_max_jobs_override() -> None:
    config = cluster()
    assert {c.partition.max_jobs for c in plan([Hello], config, max_jobs=3).cases} == {3}
    assert plan([Hello], config).cases[0].partition.max_jobs == 4


# --- resources ------------------------------------------------------------------------------


def test_skip_when_the_partition_has_too_few_nodes() -> None:
    class Big(assay.Test):
        command = "true"
        nodes = 4

    p = plan([Big], cluster())
    skips = {c.name: c.skip for c in p.cases}
    assert skips == {
        "Big @cluster:cpu+gnu": "needs 4 nodes; partition cluster:cpu has 2" + NODES_KEY,
        "Big @cluster:cpu+intel": "needs 4 nodes; partition cluster:cpu has 2" + NODES_KEY,
        "Big @cluster:gpu+gnu": None,
    }


def test_nodes_computed_from_tasks_per_node() -> None:
    class Spread(assay.Test):
        command = "true"
        tasks = 9
        tasks_per_node = 4

    cases = plan([Spread], cluster()).cases
    assert nodes_needed(cases[0]) == 3
    assert cases[0].skip == "needs 3 nodes; partition cluster:cpu has 2" + NODES_KEY
    assert cases[-1].skip is None


def _tasks(case: Case) -> int:
    return effective_tasks(case.field("tasks"), case.field("nodes"), case.field("tasks_per_node"))


@pytest.mark.parametrize(
    ("fields", "tasks"),
    [
        ({}, 1),
        ({"nodes": 2}, 2),
        ({"nodes": 2, "tasks_per_node": 3}, 6),
        ({"tasks_per_node": 3}, 3),
        ({"nodes": 2, "tasks": 5}, 5),
    ],
)
def test_unset_tasks_means_one_per_node_or_tasks_per_node_per_node(
    fields: dict[str, int], tasks: int
) -> None:
    Spread = type("Spread", (assay.Test,), {"command": "echo {tasks}", **fields})
    case = plan([Spread], cluster()).cases[0]
    assert _tasks(case) == tasks
    instance = Spread.__new__(Spread)
    instance.params = {}
    assert instance.format("{tasks}") == str(tasks)  # what a command's {tasks} becomes


def test_tasks_without_tasks_per_node_need_one_node() -> None:
    class Wide(assay.Test):
        command = "true"
        tasks = 64

    case = plan([Wide], cluster()).cases[0]
    assert nodes_needed(case) == 1
    assert case.skip is None


def test_skip_when_the_partition_has_too_few_gpus() -> None:
    class Gpu(assay.Test):
        command = "true"
        gpus_per_node = 2

    skips = {c.name: c.skip for c in plan([Gpu], cluster()).cases}
    assert skips["Gpu @cluster:cpu+gnu"] == (
        "needs 2 GPUs per node; partition cluster:cpu has 0 "
        "(systems.cluster.partitions.cpu.resources.gpus_per_node in the config)"
    )
    assert skips["Gpu @cluster:gpu+gnu"] is None


def test_overrides_apply_to_resources() -> None:
    class Big(assay.Test):
        command = "true"
        nodes = 4

    p = plan([Big], cluster(), overrides={"Big": {"nodes": 1}})
    assert all(c.skip is None for c in p.cases)
    assert p.cases[0].field("nodes") == 1
    case = p.cases[0]
    assert case.field("tasks") is None
    assert _tasks(case) == 1
    p = plan([Hello], cluster(), overrides={"Hello": {"nodes": 3}})
    assert p.cases[0].skip == "needs 3 nodes; partition cluster:cpu has 2" + NODES_KEY


# --- dependencies ---------------------------------------------------------------------------


class Build(assay.Test):
    command = "make"
    flavour = assay.parameter(["a", "b"])


class Use(assay.Test):
    command = "./use"
    depends_on = ["Build"]


class UseByClass(assay.Test):
    command = "./use"
    depends_on = Build


def test_dependencies_wired_to_same_partition_and_environment() -> None:
    p = plan([Use, Build], cluster())
    by_name = {c.name: c for c in p.cases}
    # Dependencies come first, whatever order the tests were given in.
    assert [c.test for c in p.cases[:6]] == [Build] * 6
    assert [c.test for c in p.cases[6:]] == [Use] * 3
    use = by_name["Use @cluster:cpu+intel"]
    assert names(use.deps) == [
        "Build[flavour=a] @cluster:cpu+intel",
        "Build[flavour=b] @cluster:cpu+intel",
    ]
    for dep in use.deps:
        assert dep.dependents == [use]
    assert names(by_name["Use @cluster:gpu+gnu"].deps) == [
        "Build[flavour=a] @cluster:gpu+gnu",
        "Build[flavour=b] @cluster:gpu+gnu",
    ]
    assert all(c.skip is None for c in p.cases)


def test_dependency_by_class() -> None:
    p = plan([UseByClass, Build])
    (use,) = [c for c in p.cases if c.test is UseByClass]
    assert names(use.deps) == [
        "Build[flavour=a] @local:default+builtin",
        "Build[flavour=b] @local:default+builtin",
    ]


def test_dependency_in_another_environment_on_the_same_partition() -> None:
    class GnuBuild(assay.Test):
        command = "make"
        environments = ["gnu"]

    class AnyUse(assay.Test):
        command = "./use"
        depends_on = ["GnuBuild"]

    p = plan([GnuBuild, AnyUse], cluster())
    use = next(c for c in p.cases if c.name == "AnyUse @cluster:cpu+intel")
    assert names(use.deps) == ["GnuBuild @cluster:cpu+gnu"]
    assert use.skip is None


def test_dependency_missing_on_a_partition_skips_the_dependent() -> None:
    class CpuBuild(assay.Test):
        command = "make"
        systems = ["*:cpu"]

    class User(assay.Test):
        command = "./use"
        depends_on = ["CpuBuild"]

    p = plan([CpuBuild, User], cluster())
    skips = {c.name: c.skip for c in p.cases if c.test is User}
    assert skips == {
        "User @cluster:cpu+gnu": None,
        "User @cluster:cpu+intel": None,
        "User @cluster:gpu+gnu": "dependency CpuBuild has no case on cluster:gpu+gnu",
    }


def test_unselected_dependencies_are_included_unselected() -> None:
    p = plan([Build, Use], cluster(), Selection(names=["^Use"]))
    assert {c.name: c.selected for c in p.cases} == {
        "Build[flavour=a] @cluster:cpu+gnu": False,
        "Build[flavour=b] @cluster:cpu+gnu": False,
        "Build[flavour=a] @cluster:cpu+intel": False,
        "Build[flavour=b] @cluster:cpu+intel": False,
        "Build[flavour=a] @cluster:gpu+gnu": False,
        "Build[flavour=b] @cluster:gpu+gnu": False,
        "Use @cluster:cpu+gnu": True,
        "Use @cluster:cpu+intel": True,
        "Use @cluster:gpu+gnu": True,
    }
    assert [c.test for c in p.selected] == [Use] * 3
    assert all(len(c.deps) == 2 for c in p.selected)


def test_unselected_dependencies_ignore_the_selection_filters() -> None:
    p = plan([Build, Use], cluster(), Selection(names=["^Use"], exclude=["flavour=b"]))
    assert sum(1 for c in p.cases if c.test is Build) == 6


def test_unneeded_dependency_cases_are_dropped() -> None:
    p = plan([Build, Use], cluster(), Selection(names=["^Use"], partitions=["gpu"]))
    assert names(p.cases) == [
        "Build[flavour=a] @cluster:gpu+gnu",
        "Build[flavour=b] @cluster:gpu+gnu",
        "Use @cluster:gpu+gnu",
    ]


def test_partly_selected_dependency_fills_in_the_rest() -> None:
    p = plan([Build, Use], selection=Selection(names=["^Use", r"flavour=a"]))
    assert {c.name: c.selected for c in p.cases} == {
        "Build[flavour=a] @local:default+builtin": True,
        "Build[flavour=b] @local:default+builtin": False,
        "Use @local:default+builtin": True,
    }
    assert len(p.cases[-1].deps) == 2


def test_transitive_unselected_dependencies() -> None:
    class Base(assay.Test):
        command = "true"

    class Middle(assay.Test):
        command = "true"
        depends_on = ["Base"]

    class Top(assay.Test):
        command = "true"
        depends_on = ["Middle"]

    p = plan([Top, Middle, Base], selection=Selection(names=["^Top"]))
    assert [(c.test.__name__, c.selected) for c in p.cases] == [
        ("Base", False),
        ("Middle", False),
        ("Top", True),
    ]
    assert p.cases[2].deps == [p.cases[1]]
    assert p.cases[1].deps == [p.cases[0]]


def test_transitive_unneeded_dependency_cases_are_dropped() -> None:
    class Base(assay.Test):
        command = "true"

    class Middle(assay.Test):
        command = "true"
        depends_on = ["Base"]

    class Top(assay.Test):
        command = "true"
        depends_on = ["Middle"]

    p = plan([Top, Middle, Base], cluster(), Selection(names=["^Top"], partitions=["gpu"]))
    # Only what Top on the gpu partition needs, directly or not.
    assert names(p.cases) == [
        "Base @cluster:gpu+gnu",
        "Middle @cluster:gpu+gnu",
        "Top @cluster:gpu+gnu",
    ]
    kept = {id(c) for c in p.cases}
    assert all(id(d) in kept for c in p.cases for d in c.dependents)


def test_dependency_cycle_is_reported_and_its_tests_dropped() -> None:
    class CycA(assay.Test):
        command = "true"
        depends_on = ["CycB"]

    class CycB(assay.Test):
        command = "true"
        depends_on = ["CycA"]

    p = plan([CycA, CycB, Hello])
    assert names(p.cases) == ["Hello @local:default+builtin"]
    (problem,) = p.problems
    assert problem.message == "dependency cycle: CycA -> CycB -> CycA; remove one depends_on"
    assert problem.test == "CycA"
    assert problem.file == __file__
    assert problem.line == CycA._assay.line


def test_self_dependency_is_a_cycle() -> None:
    class Selfish(assay.Test):
        command = "true"
        depends_on = "Selfish"

    p = plan([Selfish])
    assert p.cases == []
    (problem,) = p.problems
    assert "dependency cycle: Selfish -> Selfish" in problem.message


def test_test_depending_on_a_cycle_is_skipped() -> None:
    class CycA(assay.Test):
        command = "true"
        depends_on = ["CycB"]

    class CycB(assay.Test):
        command = "true"
        depends_on = ["CycA"]

    class Later(assay.Test):
        command = "true"
        depends_on = ["CycA"]

    p = plan([CycA, CycB, Later])
    (case,) = p.cases
    assert case.test is Later
    assert case.skip == "dependency CycA has no case on local:default+builtin"
    assert len(p.problems) == 1


def test_unknown_dependency_is_reported_once_and_its_cases_dropped() -> None:
    class Needy(assay.Test):
        command = "true"
        depends_on = ["Stram"]
        n = assay.parameter([1, 2, 3])

    p = plan([Needy, Stream])
    assert all(c.test is Stream for c in p.cases)
    (problem,) = p.problems
    assert problem.test == "Needy"
    assert problem.line == Needy._assay.line
    assert "test Needy depends on 'Stram', which is not a loaded test" in problem.message
    assert "(did you mean 'Stream'?)" in problem.message


LOGIN_COMPUTE = """
[environments.gnu]
[environments.intel]

[systems.hpc.partitions.login]
environments = ["gnu", "intel"]

[systems.hpc.partitions.compute]
environments = ["gnu"]
dependencies_from = ["login"]

[systems.hpc.partitions.other]
environments = ["gnu"]
"""


class LoginBuild(assay.Test):
    command = "make"
    systems = ["*:login"]


class ComputeRun(assay.Test):
    command = "./run"
    systems = ["*:compute", "*:other"]
    depends_on = ["LoginBuild"]


def test_a_partition_takes_dependencies_from_the_partitions_it_names() -> None:
    config = parse_config(textwrap.dedent(LOGIN_COMPUTE), "hpc.toml")
    p = plan([LoginBuild, ComputeRun], config)
    by_name = {c.name: c for c in p.cases}
    run = by_name["ComputeRun @hpc:compute+gnu"]
    assert names(run.deps) == ["LoginBuild @hpc:login+gnu"]  # the same environment there
    assert run.skip is None
    assert by_name["LoginBuild @hpc:login+gnu"].dependents == [run]
    # a partition that names none is not served by others
    assert by_name["ComputeRun @hpc:other+gnu"].skip == (
        "dependency LoginBuild has no case on hpc:other+gnu"
    )


def test_a_dependency_on_the_own_partition_is_preferred() -> None:
    class AnyBuild(assay.Test):
        command = "make"

    class Run(assay.Test):
        command = "./run"
        systems = ["*:compute"]
        depends_on = ["AnyBuild"]

    config = parse_config(textwrap.dedent(LOGIN_COMPUTE), "hpc.toml")
    p = plan([AnyBuild, Run], config)
    (run,) = [c for c in p.cases if c.test is Run]
    assert names(run.deps) == ["AnyBuild @hpc:compute+gnu"]


def test_a_selected_dependent_pulls_in_its_dependency_from_the_other_partition() -> None:
    config = parse_config(textwrap.dedent(LOGIN_COMPUTE), "hpc.toml")
    p = plan([LoginBuild, ComputeRun], config, Selection(partitions=["compute"]))
    assert {c.name: c.selected for c in p.cases} == {
        "LoginBuild @hpc:login+gnu": False,
        "ComputeRun @hpc:compute+gnu": True,
    }


def test_the_skip_reason_names_the_partitions_that_were_asked() -> None:
    class IntelOnlyOnOther(assay.Test):
        command = "make"
        systems = ["*:other"]

    class Run(assay.Test):
        command = "./run"
        systems = ["*:compute"]
        depends_on = ["IntelOnlyOnOther"]

    config = parse_config(textwrap.dedent(LOGIN_COMPUTE), "hpc.toml")
    p = plan([IntelOnlyOnOther, Run], config)
    (run,) = [c for c in p.cases if c.test is Run]
    assert run.skip == (
        "dependency IntelOnlyOnOther has no case on hpc:compute+gnu nor on login "
        "(dependencies_from)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["nowhere"]', "no partition named 'nowhere' in this system"),
        ('["compute"]', "'compute' is this partition"),
    ],
)
def test_dependencies_from_must_name_other_partitions_of_the_system(
    value: str, message: str
) -> None:
    text = textwrap.dedent(LOGIN_COMPUTE).replace(
        'dependencies_from = ["login"]', f"dependencies_from = {value}"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "hpc.toml")
    assert "hpc.toml: systems.hpc.partitions.compute.dependencies_from: " in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "quote", "formatted"),
    [
        ("cp in.txt out.txt", True, "cp in.txt out.txt"),
        ("/cases/c0001", False, "/cases/c0001"),
        ("echo $HOME '}' \\{", True, "echo $HOME '}' \\{"),
        ("echo {who} {{who}} ${HOME} {nobody}", True, "echo 'a b' {who} ${HOME} {nobody}"),
        ("echo {who}", False, "echo a b"),
        ("{", True, "{"),
    ],
)
def test_format_replaces_only_what_names_a_value(text: str, quote: bool, formatted: str) -> None:
    # (Text without a brace is returned as it is, without gathering the values.)
    Named = type("Named", (assay.Test,), {"command": "true"})
    instance = Named.__new__(Named)
    instance.params = {"who": "a b"}
    assert instance.format(text, quote=quote) == formatted
