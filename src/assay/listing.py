"""``assay list``: the cases a run would include, without instantiating any test."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assay import terminal
from assay.errors import UsageError
from assay.select import NO_TESTS_HINT, nothing_matched_hint

if TYPE_CHECKING:
    from assay.plan import Case
    from assay.session import Prepared


def description(test: type) -> str:
    """A test's own description (a suite's ``description``, a class's docstring), or ""."""
    doc = vars(test).get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _case_data(case: Case) -> dict[str, Any]:
    definition = case.test._assay
    tags = case.field("tags")
    return {
        "name": case.name,
        "description": description(case.test),
        "id": case.id,
        "test": case.test.__name__,
        "variant": case.variant.name,
        "params": case.variant.param_labels,
        "system": case.partition.system,
        "partition": case.partition.name,
        "environment": case.environment,
        "tags": sorted(tags),
        "file": definition.file,
        "line": definition.line,
        "selected": case.selected,
        "skip": case.skip,
        "dependencies": [d.name for d in case.deps],
    }


def show(
    prepared: Prepared, *, verbose: bool = False, as_json: bool = False, names: Sequence[str] = ()
) -> int:
    """Print the planned cases; return 1 if some tests could not be loaded, else 0. A
    selection that matches nothing (and no test that failed to load) is a usage error."""
    cases = prepared.plan.cases
    problems = prepared.problems
    if not cases and not problems:
        if not prepared.tests_loaded:
            raise UsageError("no tests found", hint=NO_TESTS_HINT)
        raise UsageError(
            f"no cases match the selection ({prepared.tests_loaded} test(s) loaded)",
            hint=nothing_matched_hint(
                names,
                "check -n/-x/-t/-T/-P/-p/-e/--case; without them `assay list PATHS` shows "
                "every case",
                prepared.test_names,
            )
            + prepared.unmatched,
        )
    out = sys.stdout
    if as_json:
        data = {
            "system": prepared.system,
            "cases": [_case_data(c) for c in cases],
            "problems": [{"location": p.location, "message": p.message} for p in problems],
        }
        out.write(terminal.json_text(json.dumps(data, indent=2)) + "\n")
        return 1 if problems else 0
    # Problems first: the last line is the count, and it says whether anything is wrong.
    for problem in problems:  # its lines are its own; what they quote shows, never acts
        said = f"assay: {problem}".split("\n")
        sys.stderr.write("".join(terminal.line(line) + "\n" for line in said))
    sys.stderr.flush()
    lines = []
    described: set[type] = set()
    for case in cases:
        note = "" if case.selected else "  (dependency)"
        if case.skip:
            note += f"  (will be skipped: {case.skip})"
        lines.append(f"{case.id}  {case.name}{note}")
        if verbose:
            data = _case_data(case)
            about = description(case.test)
            if about and case.test not in described:  # once per test
                described.add(case.test)
                first, *more = about.splitlines()
                lines.append(f"    description: {first}")
                lines += [f"                 {m}" for m in more]
            lines.append(f"    file: {data['file']}:{data['line']}")
            if data["tags"]:
                lines.append("    tags: " + ", ".join(map(str, data["tags"])))
            for dep in data["dependencies"]:
                lines.append(f"    depends on: {dep}")
    tests = len({c.test for c in cases})
    count = f"{len(cases)} case(s) of {tests} test(s) on system {prepared.system}"
    if problems:
        count += f"; {len(problems)} problem(s) loading tests (above)"
    lines.append(count)
    # A name holds what a test's parameters hold: one line each, no escape sequence run.
    out.write("".join(terminal.line(line) + "\n" for line in lines))
    return 1 if problems else 0
