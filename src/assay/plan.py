"""From selected tests to cases: expansion over partitions and environments,
dependencies, and the order cases are started in.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from assay import digests, guard
from assay.config import Config, Environment, PartitionRef
from assay.define.definition import variant_names
from assay.define.params import variant_name
from assay.define.refs import pattern_matches
from assay.define.test import Test, effective_nodes
from assay.errors import UsageError, toml_key
from assay.load import LoadProblem
from assay.plan_deps import dep_names, order_tests, prune, wire_case
from assay.select import Selection


class Variant(msgspec.Struct, frozen=True):
    """A test with one value chosen for each parameter."""

    test: type[Test]
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    name: str
    fields: Mapping[str, Any] = msgspec.field(default_factory=dict)

    def field(self, name: str) -> Any:
        """A built-in field for this variant: a parameter, else ``@variant_fields``, else the
        class (tags add up)."""
        test = self.test
        names = test._assay.space.names
        if name in names:
            return self.values[names.index(name)]
        if name == "tags":
            return set(_as_list(test.tags)) | set(self.fields.get("tags", ()))
        if name in self.fields:
            return self.fields[name]
        return getattr(test, name)

    @property
    def params(self) -> dict[str, Any]:
        return dict(zip(self.test._assay.space.names, self.values, strict=True))

    @property
    def param_labels(self) -> dict[str, str]:
        return dict(zip(self.test._assay.space.names, self.labels, strict=True))


def variants(test: type[Test]) -> Iterator[Variant]:
    """The variants of ``test``, generated lazily (no test instances are made)."""
    definition = test._assay
    space = definition.space
    names = space.names
    base = test.__name__
    for values, labels in space.labeled():
        name = variant_name(base, names, labels)
        yield Variant(test, values, labels, name, definition.fields_for(values))


MAX_CASES = 1_000_000
"""The most cases one run (or listing) may plan: each is an object of its own, held until
the run ends (a million take some gigabytes). Tests' variants are bounded one test at a
time (:data:`assay.define.params.MAX_VARIANTS`); this bounds their sum over partitions and
environments."""


SELECT_FEWER = "select fewer cases (-n, -t, -P NAME=VALUE, --case)"
"""How a run plans fewer cases: what the hints of its limits say."""


class TooManyCases(UsageError):
    """The selection plans more than :data:`MAX_CASES` cases."""


def case_id(name: str) -> str:
    """A stable short hash of a case name."""
    return digests.blake2b(name.encode(), digest_size=4).hexdigest()


@dataclass(eq=False, slots=True)
class Case:
    """Variant x partition x environment: the unit that is scheduled, run and reported."""

    variant: Variant
    partition: PartitionRef
    environment: str
    env_config: Environment
    overrides: Mapping[str, Any]
    name: str
    id: str
    deps: list[Case] = field(default_factory=list)
    dependents: list[Case] = field(default_factory=list)
    skip: str | None = None
    selected: bool = True
    repeat: int = 1  # which repetition of the case this is (``--repeat``)
    after: Case | None = None  # the repetition before this one: never run at the same time
    # Read many times per case as it runs: plain attributes, not properties (a property is
    # a Python call on every read). Set once here: a case's variant, id and repetition are
    # never changed after it is made (a repetition is a new Case, dataclasses.replace).
    test: type[Test] = field(init=False, repr=False)
    key: str = field(init=False, repr=False)
    """The id, and the repetition after the first: unique within a session."""

    def __post_init__(self) -> None:
        self.test = self.variant.test
        self.key = repeat_key(self.id, self.repeat)

    def field(self, name: str) -> Any:
        """A built-in field's value for this case: ``-S`` beats a parameter beats
        ``@variant_fields`` beats the class."""
        if name in self.overrides:
            return self.overrides[name]
        return self.variant.field(name)


class Plan(msgspec.Struct):
    """The cases of one run, dependencies before dependents."""

    system: str
    cases: list[Case]
    problems: list[LoadProblem] = msgspec.field(default_factory=list)

    @property
    def selected(self) -> list[Case]:
        return [c for c in self.cases if c.selected]


def make_plan(
    tests: Sequence[type[Test]],
    config: Config,
    system: str,
    selection: Selection,
    overrides: Mapping[str, Mapping[str, Any]],
    max_jobs: int | None = None,
) -> Plan:
    """Expand the selected tests into cases on ``system`` and wire their dependencies."""
    if selection.names or selection.exclude:  # which name patterns are names as written
        suffixes = [
            f" @{part.full_name}+{env}"
            for part in config.partitions(system, max_jobs)
            for env in part.config.environments
        ]
        names = (name for test in tests for name in variant_names(test))
        selection = selection.resolve(names, suffixes)
    planner = _Planner(tests, config, system, selection, overrides, max_jobs)
    cases_of = planner.expand_selected()
    planner.add_dependencies(cases_of)
    cases = prune(planner.wire(cases_of))
    return Plan(system=system, cases=cases, problems=_dedupe(planner.problems))


class _Planner:
    """The steps of :func:`make_plan`: expand the selected tests into cases, add the cases
    of their dependencies, and wire each case to the cases it depends on."""

    def __init__(
        self,
        tests: Sequence[type[Test]],
        config: Config,
        system: str,
        selection: Selection,
        overrides: Mapping[str, Mapping[str, Any]],
        max_jobs: int | None,
    ) -> None:
        self.config = config
        self.selection = selection
        self.overrides = overrides
        self.by_name = {t.__name__: t for t in tests}
        self.partitions = config.partitions(system, max_jobs)
        self.problems: list[LoadProblem] = []
        self.ordered, self.cyclic = order_tests(tests, self.by_name, self.problems)
        # Whether the selection looks at variant or case names, parameters or ids: if not,
        # it keeps every variant, and those checks (six calls a variant) are not made.
        self.names_checked = bool(selection.names or selection.exclude or selection.params)
        self.ids_checked = bool(selection.ids)
        self.planned = 0  # cases made so far, of every test (see MAX_CASES)

    def expand_selected(self) -> dict[str, list[Case]]:
        """The cases of every selected test, by test name (dependencies first)."""
        cases_of: dict[str, list[Case]] = {}
        for test in self.ordered:
            if test.__name__ in self.cyclic:
                continue
            # Tags are checked per variant when @variant_fields may add some.
            if test._assay.variant_fields is None and not self.selection.test_ok(test):
                continue
            cases_of[test.__name__] = self._expand(test, True)
        return cases_of

    def add_dependencies(self, cases_of: dict[str, list[Case]]) -> None:
        """Pull in the dependencies that the selection left out; they run, marked
        unselected."""
        pending = [t for t in self.ordered if cases_of.get(t.__name__)]
        needed: set[str] = set()
        while pending:
            test = pending.pop()
            for dep in dep_names(test):
                if dep in self.by_name and dep not in needed and dep not in self.cyclic:
                    needed.add(dep)
                    pending.append(self.by_name[dep])
        for test in self.ordered:
            if test.__name__ in needed:
                have = {c.id for c in cases_of.get(test.__name__, [])}
                extra = [c for c in self._expand(test, False) if c.id not in have]
                cases_of[test.__name__] = cases_of.get(test.__name__, []) + extra

    def wire(self, cases_of: Mapping[str, list[Case]]) -> list[Case]:
        """Every case attached to the cases it depends on; a case whose dependency is not a
        loaded test is left out (and said to be wrong)."""
        kept: list[Case] = []
        for test in self.ordered:
            for case in cases_of.get(test.__name__, []):
                missing = wire_case(case, self.by_name, cases_of)
                if missing:
                    self.problems.append(missing)
                    continue
                kept.append(case)
        return kept

    def _expand(self, test: type[Test], selected: bool) -> list[Case]:
        """The cases of ``test``; none if making its variants fails (a problem of the test,
        not of the run)."""
        out: list[Case] = []
        test_overrides = self.overrides.get(test.__name__, {})
        # Unless a resource is a parameter, every variant needs the same: check once per partition.
        skip_on: dict[str, str | None] = {}
        definition = test._assay
        per_variant = definition.variant_fields is not None or any(
            f in definition.space.names for f in _RESOURCE_FIELDS
        )
        # Where every variant may run, found once for the test when no variant can say
        # otherwise (no @variant_fields, and neither field a parameter): the same answer the
        # variant's own fields give, without two field lookups and the pattern matching of
        # every partition and environment per variant.
        same_places = definition.variant_fields is None and not any(
            f in definition.space.names for f in ("systems", "environments")
        )
        try:
            with guard.running():  # parameter fmt and @variant_fields functions run here
                places = (
                    self._places(functools.partial(getattr, test), selected)
                    if same_places
                    else None
                )
                for variant in variants(test):
                    made = self._expand_variant(
                        variant, selected, per_variant, test_overrides, skip_on, places
                    )
                    out.extend(made)
                    self.planned += len(made)
                    if self.planned > MAX_CASES:
                        raise _too_many(test)
        except TooManyCases:
            raise
        except ValueError as exc:  # a @variant_fields function returned something wrong
            self.problems.append(
                LoadProblem(definition.file or "?", definition.line, str(exc), test.__name__)
            )
            return []
        except guard.Interrupted:
            raise
        except BaseException as exc:  # test code raised: the test's problem, not the run's
            reason, _ = guard.describe_exception(exc, definition)
            message = f"cannot make its variants: {reason}"
            self.problems.append(
                LoadProblem(definition.file or "?", definition.line, message, test.__name__)
            )
            return []
        return out

    def _expand_variant(
        self,
        variant: Variant,
        selected: bool,
        per_variant: bool,
        test_overrides: Mapping[str, Any],
        skip_on: dict[str, str | None],
        places: list[_Place] | None = None,
    ) -> list[Case]:
        """The cases of one variant: on every partition and environment it may run on (and,
        for a selected test, the selection keeps); ``places``: those, when the test's
        variants all have the same (see :meth:`_places`)."""
        selection = self.selection
        out: list[Case] = []
        if selected:
            if self.names_checked and not selection.variant_ok(variant.name, variant.param_labels):
                return out
            if per_variant and not selection.tags_ok(variant.field("tags")):
                return out
        if places is None:
            places = self._places(variant.field, selected)
        check = selected and (self.names_checked or self.ids_checked)
        base = variant.name
        for part, env_name, env_config, suffix in places:
            name = base + suffix
            cid = case_id(name)
            if check and not (selection.id_ok(cid) and selection.case_ok(base, name)):
                continue
            case = Case(
                variant, part, env_name, env_config, test_overrides, name, cid, selected=selected
            )
            case.skip = _skip_reason(case, per_variant, skip_on)
            out.append(case)
        return out

    def _places(self, read: Callable[[str], Any], selected: bool) -> list[_Place]:
        """The partitions and environments a variant may run on by its fields (``read``:
        the variant's, or the test class's own when its variants cannot differ) and, for a
        selected test, the selection keeps; each with the end of a case name there
        (`` @system:partition+environment``)."""
        selection = self.selection
        systems = _as_list(read("systems"))
        environments = _as_list(read("environments"))
        places: list[_Place] = []
        for part in self.partitions:
            if not _matches_any(systems, part) or (
                selected and not selection.partition_ok(part.system, part.name)
            ):
                continue
            for env_name in part.config.environments:
                if not _env_matches(environments, env_name) or (
                    selected and not selection.environment_ok(env_name)
                ):
                    continue
                places.append(
                    (
                        part,
                        env_name,
                        self.config.environments[env_name],
                        f" @{part.full_name}+{env_name}",
                    )
                )
        return places


def _too_many(test: type[Test]) -> TooManyCases:
    return TooManyCases(
        f"the selection plans more than {MAX_CASES:,} cases (the count passed it in "
        f"{test.__name__}'s variants), more than one run may have",
        hint=f"{SELECT_FEWER} or fewer partitions and environments (-p, -e), and run the "
        "rest in another session",
    )


# A partition and environment a variant may run on, with the case name's end there.
_Place = tuple[PartitionRef, str, Environment, str]


def _skip_reason(case: Case, per_variant: bool, skip_on: dict[str, str | None]) -> str | None:
    """Why ``case`` cannot run on its partition (too few nodes or GPUs), if it cannot; asked
    once per partition (``skip_on``) unless the resources vary by variant."""
    if per_variant:
        return _resource_problem(case)
    if case.partition.full_name not in skip_on:
        skip_on[case.partition.full_name] = _resource_problem(case)
    return skip_on[case.partition.full_name]


def _dedupe(problems: list[LoadProblem]) -> list[LoadProblem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches_any(patterns: list[str], part: PartitionRef) -> bool:
    return any(pattern_matches(p, part.system, part.name) for p in patterns)


def _env_matches(patterns: list[str], env: str) -> bool:
    return any(fnmatch.fnmatchcase(env, p) for p in patterns)


def repeat_key(case_id: str, repeat: int) -> str:
    """What tells the repetitions of one case apart in journals, job names and directories."""
    return case_id if repeat <= 1 else f"{case_id}-r{repeat}"


def nodes_needed(case: Case) -> int:
    """How many nodes a case asks for (as planned; hooks may change it when it runs)."""
    return effective_nodes(case.field("nodes"), case.field("tasks"), case.field("tasks_per_node"))


_RESOURCE_FIELDS = ("nodes", "tasks", "tasks_per_node", "gpus_per_node")


def _resource_problem(case: Case) -> str | None:
    return resource_problem(case.partition, nodes_needed(case), case.field("gpus_per_node"))


def resource_problem(partition: PartitionRef, nodes: int, gpus: int | None) -> str | None:
    """Why a case asking for ``nodes`` nodes and ``gpus`` GPUs per node cannot run on
    ``partition``, naming the setting that says what it has; None if it can."""
    res = partition.config.resources
    if nodes > res.nodes:
        return (
            f"needs {nodes} nodes; partition {partition.full_name} has {res.nodes} "
            f"({_resources_key(partition)}.nodes in the config)"
        )
    if (gpus or 0) > res.gpus_per_node:
        return (
            f"needs {gpus} GPUs per node; partition {partition.full_name} has "
            f"{res.gpus_per_node} ({_resources_key(partition)}.gpus_per_node in the config)"
        )
    return None


def _resources_key(partition: PartitionRef) -> str:
    return f"systems.{toml_key(partition.system)}.partitions.{toml_key(partition.name)}.resources"
