"""``assay list``: the cases a run would include, without instantiating any test."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.plan import Case
    from assay.session import Prepared


def _case_data(case: Case) -> dict[str, Any]:
    definition = case.test._assay
    tags = case.field("tags")
    return {
        "name": case.name,
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


def show(prepared: Prepared, *, verbose: bool = False, as_json: bool = False) -> int:
    """Print the planned cases; return 1 if some tests could not be loaded, else 0."""
    cases = prepared.plan.cases
    out = sys.stdout
    if as_json:
        data = {
            "system": prepared.system,
            "cases": [_case_data(c) for c in cases],
            "problems": [{"location": p.location, "message": p.message} for p in prepared.problems],
        }
        out.write(json.dumps(data, indent=2) + "\n")
    else:
        lines = []
        for case in cases:
            note = "" if case.selected else "  (dependency)"
            if case.skip:
                note += f"  (will be skipped: {case.skip})"
            lines.append(f"{case.id}  {case.name}{note}")
            if verbose:
                data = _case_data(case)
                lines.append(f"    file: {data['file']}:{data['line']}")
                if data["tags"]:
                    lines.append("    tags: " + ", ".join(map(str, data["tags"])))
                for dep in data["dependencies"]:
                    lines.append(f"    depends on: {dep}")
        tests = len({c.test for c in cases})
        lines.append(f"{len(cases)} case(s) of {tests} test(s) on system {prepared.system}")
        out.write("\n".join(lines) + "\n")
    for problem in prepared.problems:
        sys.stderr.write(f"assay: {problem}\n")
    return 1 if prepared.problems else 0
