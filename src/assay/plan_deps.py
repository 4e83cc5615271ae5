"""The dependency graph of a plan: tests ordered after what they depend on (cycles found),
each case wired to the cases that serve it, and the cases a selection needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from assay.errors import did_you_mean
from assay.load import LoadProblem

if TYPE_CHECKING:
    from assay.define.test import Test
    from assay.plan import Case


def prune(kept: list[Case]) -> list[Case]:
    """What the selection asked for and, transitively, what that depends on."""
    needed_ids: set[int] = set()
    stack = [c for c in kept if c.selected]
    while stack:
        case = stack.pop()
        if id(case) not in needed_ids:
            needed_ids.add(id(case))
            stack.extend(case.deps)
    cases = [c for c in kept if id(c) in needed_ids]
    for case in cases:
        case.dependents = [d for d in case.dependents if id(d) in needed_ids]
    return cases


def dep_names(test: type[Test]) -> list[str]:
    deps = test.depends_on
    items = [deps] if isinstance(deps, str | type) else list(deps)
    return [d if isinstance(d, str) else d.__name__ for d in items]


def order_tests(
    tests: Sequence[type[Test]], by_name: Mapping[str, type[Test]], problems: list[LoadProblem]
) -> tuple[list[type[Test]], set[str]]:
    """Tests with dependencies after what they depend on; names caught in a cycle apart."""
    order: list[type[Test]] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    cyclic: set[str] = set()

    def visit(test: type[Test], path: list[str]) -> None:
        name = test.__name__
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            cyclic.update(cycle)
            first = by_name[cycle[0]]._assay
            problems.append(
                LoadProblem(
                    first.file or "?",
                    first.line,
                    f"dependency cycle: {' -> '.join(cycle)}; remove one depends_on",
                    cycle[0],
                )
            )
            return
        state[name] = 1
        for dep in dep_names(test):
            if dep in by_name:
                visit(by_name[dep], [*path, name])
        state[name] = 2
        order.append(test)

    for test in tests:
        visit(test, [])
    return order, cyclic


def wire_case(
    case: Case, by_name: Mapping[str, type[Test]], cases_of: Mapping[str, list[Case]]
) -> LoadProblem | None:
    """Attach ``case`` to the cases it depends on; a problem if a dependency is unknown."""
    definition = case.test._assay
    for dep in dep_names(case.test):
        if dep not in by_name:
            return LoadProblem(
                definition.file or "?",
                definition.line,
                f"test {case.test.__name__} depends on {dep!r}, which is not a loaded test"
                f"{did_you_mean(dep, by_name)}; load its file too or fix the name",
                case.test.__name__,
            )
        candidates = cases_of.get(dep, [])
        serving = serving_cases(case, candidates)
        if not serving:
            others = case.partition.config.dependencies_from
            case.skip = case.skip or (
                f"dependency {dep} has no case on {case.partition.full_name}+{case.environment}"
                + (f" nor on {', '.join(others)} (dependencies_from)" if others else "")
            )
        for dep_case in serving:
            case.deps.append(dep_case)
            dep_case.dependents.append(case)
    return None


def serving_cases(case: Case, candidates: Sequence[Case]) -> list[Case]:
    """The cases of a dependency that serve ``case``: those on its own partition, else those
    of the first partition of its ``dependencies_from`` that has any; of these, the ones in
    the same environment if there are such."""
    for partition in (case.partition.name, *case.partition.config.dependencies_from):
        there = [c for c in candidates if c.partition.name == partition]
        same_env = [c for c in there if c.environment == case.environment]
        if there:
            return same_env or there
    return []
