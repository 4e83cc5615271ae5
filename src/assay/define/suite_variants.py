"""The derived tests of a suite: ``NAME-SWEEP`` (a parameter sweep, optionally from a
template) and ``NAME-scaling`` (chosen cases at several sizes)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from assay.define import suite_schema as schema
from assay.define.fields import FIELDS
from assay.define.params import parameter, too_many_variants
from assay.define.suite_checks import (
    IDENT,
    NAME,
    Compiler,
    inside_suite,
    is_dir,
    is_file,
    make_class,
    name_problem,
)
from assay.define.suite_metrics import add_metrics
from assay.define.suite_points import combinations, read_points
from assay.define.suite_test import Case
from assay.define.test import Test, builtin_name
from assay.errors import toml_key
from assay.validation import Invalid, convert, read_utf8


def sweep_class(
    comp: Compiler,
    body: schema.Body,
    suite: str,
    common: dict[str, Any],
    compare: dict[str, Any] | None,
    index: int,
    sweep: Mapping[str, Any],
) -> type[Test] | None:
    """The ``NAME-SWEEP`` test of the ``index``-th ``[[suite.sweep]]`` (None if it is wrong)."""
    key = f"suite.sweep[{index}]"
    try:
        settings = convert(
            {k: v for k, v in sweep.items() if k in schema.SWEEP_KEYS}, schema.SweepSettings
        )
    except Invalid as exc:
        comp.problem(f"{key}.{exc.path}" if exc.path else key, exc.message)
        return None
    name = settings.name or ("sweep" if len(body.sweep) == 1 else f"sweep{index + 1}")
    if not NAME.fullmatch(name):
        comp.problem(f"{key}.name", f"{name!r} is not a usable name")
        return None
    ns: dict[str, Any] = {**common, "compare_spec": compare}
    params: dict[str, list[Any]] = {}
    for k, v in sweep.items():
        if k in schema.SWEEP_KEYS:
            continue
        if not IDENT.fullmatch(k) or builtin_name(k) or k in ns:
            # A field's name here is a setting a sweep does not have; a method's (format)
            # is a parameter whose name assay.Test has taken.
            taken = IDENT.fullmatch(k) and k not in FIELDS and k not in ns
            problem = name_problem(k, "parameter") if taken else None
            comp.problem(
                f"{key}.{toml_key(k)}",
                problem
                or f"{k!r} is not a sweep setting and cannot be a parameter name; settings are "
                f"{', '.join(schema.SWEEP_KEYS)}",
            )
            continue
        if not isinstance(v, list) or not v:
            comp.problem(
                f"{key}.{k}", f"a sweep parameter needs a non-empty list of values, got {v!r}"
            )
            continue
        params[k] = v
    points = None
    if settings.points is not None:
        points = read_points(comp, f"{key}.points", settings.points, set(params) | set(ns))
        if points is None:
            return None
    if not params and not points:
        comp.problem(
            key,
            "a sweep needs parameters: keys with a list of values (their product), or points",
        )
        return None
    sizes = {k: len(v) for k, v in params.items()}
    if points:  # (zipped: one axis, as long as its lists)
        sizes["points"] = max(len(v) for v in points.values())
    problem = too_many_variants(sizes)
    if problem is not None:  # (before the expected dirs of every point are looked for)
        comp.problem(key, problem)
        return None
    for k, v in params.items():
        ns[k] = parameter(v)
    for k, v in (points or {}).items():  # the explicit points: zipped, not multiplied
        ns[k] = parameter(v, group="points")
    ns["exclude"] = settings.exclude
    if settings.command is not None:
        ns["command"] = settings.command
    if settings.time_limit is not None:
        ns["time_limit"] = settings.time_limit
    if settings.tags:
        ns["tags"] = set(common["tags"]) | set(settings.tags)
    if settings.inputs is not None:
        inputs = comp.base / settings.inputs
        if not is_dir(inputs):
            comp.problem(f"{key}.inputs", f"{inputs} is not a directory")
        elif not inside_suite(comp, f"{key}.inputs", "inputs directory", [inputs]):
            return None
        ns["inputs"] = inputs
    add_metrics(comp, key, settings.metrics, settings.references, ns)
    names = set(params) | set(points or {}) | {n for n, v in ns.items() if hasattr(v, "var")}
    templates = _templates(comp, key, settings, names)
    if templates is None:
        return None
    ns["templates"] = templates
    if settings.expected is not None:
        ns["expected_pattern"] = settings.expected
        if compare is None:  # per-point expected outputs are there to be compared
            ns["compare_spec"] = schema.Compare().engine_spec()
        _check_sweep_expected(comp, key, settings.expected, params, points, settings.exclude)
    return make_class(comp, f"{suite}-{name}", ns, key)


def _templates(
    comp: Compiler, key: str, settings: schema.SweepSettings, names: set[str]
) -> tuple[tuple[Path, str], ...] | None:
    """Each template with the name of the file it is rendered into (None: a problem)."""
    if settings.template is None:
        if settings.output is not None:
            comp.problem(f"{key}.output", "output names a rendered template: give template too")
        return ()
    given = [settings.template] if isinstance(settings.template, str) else settings.template
    outputs = settings.output
    if isinstance(outputs, str):
        outputs = [outputs]
    if outputs is not None and len(outputs) != len(given):
        comp.problem(
            f"{key}.output",
            f"{len(outputs)} output name(s) for {len(given)} template(s); give one per template "
            "(in the same order), or leave output out",
        )
        return None
    out = []
    for i, name in enumerate(given):
        template = comp.base / name
        target = outputs[i] if outputs is not None else _strip_template_suffix(template.name)
        if not _inside(target):
            comp.problem(
                f"{key}.output",
                f"{target!r} is not a file name inside the stage dir; give a relative name "
                "such as 'input.cfg' (or 'conf/input.cfg': the directory is made), not "
                "one of assay's own (assay-*, .assay-*)",
            )
            return None
        if not inside_suite(comp, f"{key}.template", "template", [template]):
            return None
        if _check_template(comp, f"{key}.template", template, names):
            out.append((template, target))
    targets = [t for _, t in out]
    if len(set(targets)) != len(targets):
        comp.problem(f"{key}.output", f"two templates render into the same file: {targets}")
        return None
    return tuple(out)


def _inside(name: str) -> bool:
    """Whether a rendered file's name stays in the stage dir and is not assay's own."""
    parts = PurePosixPath(name).parts
    return (
        bool(name.strip())
        and bool(parts)
        and not PurePosixPath(name).is_absolute()
        and ".." not in parts
        and not parts[0].startswith(("assay-", ".assay-"))
    )


def _strip_template_suffix(name: str) -> str:
    for suffix in (".j2", ".jinja2", ".jinja"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


_TEMPLATE_NAMES = {
    "case",
    "tasks",
    "nodes",
    "cpus_per_task",
    "tasks_per_node",
    "system",
    "partition",
    "environment",
    "stage_dir",
}


def _check_template(comp: Compiler, key: str, template: Path, names: set[str]) -> bool:
    import jinja2  # lazy: start-up time (jinja2: 28 ms; only templated suites need it)
    import jinja2.meta

    if not is_file(template):
        comp.problem(key, f"{template} does not exist")
        return False
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - not HTML
    try:
        ast = env.parse(read_utf8(template))
    except OSError as exc:
        comp.problem(key, f"{template}: cannot read: {exc.strerror}")
        return False
    except Invalid as exc:
        comp.problem(key, f"{template.name}: {exc.message}")
        return False
    except jinja2.TemplateSyntaxError as exc:
        comp.problem(key, f"{template.name}:{exc.lineno}: template error: {exc.message}")
        return False
    unknown = sorted(jinja2.meta.find_undeclared_variables(ast) - names - _TEMPLATE_NAMES)
    if unknown:
        comp.problem(
            key,
            f"{template.name} uses {', '.join(unknown)}, which the sweep does not define "
            f"(parameters and suite variables: {', '.join(sorted(names)) or 'none'})",
        )
        return False
    return True


def _check_sweep_expected(
    comp: Compiler,
    key: str,
    pattern: str,
    params: dict[str, list[Any]],
    points: dict[str, list[Any]] | None,
    exclude: Any,
) -> None:
    for point in combinations(params, points, exclude):
        try:
            rel = pattern.format(**point)
        except (KeyError, IndexError, ValueError) as exc:
            comp.problem(f"{key}.expected", f"{pattern!r} cannot be filled in: {exc}")
            return
        if not is_dir(comp.base / rel):
            comp.problem(
                f"{key}.expected",
                f"no expected outputs for point {point}: {comp.base / rel} is not a directory",
            )


def scaling_class(
    comp: Compiler,
    body: schema.Body,
    suite: str,
    common: dict[str, Any],
    compare: dict[str, Any] | None,
    cases: list[Case],
    scaling: schema.Scaling,
) -> type[Test] | None:
    """The ``NAME-scaling`` test of ``[suite.scaling]`` (None if it is wrong)."""
    key = "suite.scaling"
    given = {
        name: sizes
        for name, sizes in (
            ("nodes", scaling.nodes),
            ("tasks", scaling.tasks),
            ("cpus_per_task", scaling.cpus_per_task),
        )
        if sizes is not None
    }
    if len(given) != 1:
        comp.problem(
            key, "give exactly one of nodes = [...], tasks = [...] or cpus_per_task = [...]"
        )
        return None
    ((size_name, sizes),) = given.items()
    chosen = [c for c in cases if any(fnmatch.fnmatchcase(c.name, g) for g in scaling.cases)]
    if not chosen:
        if cases or body.cases is None:  # no directory matched: suite.cases said so
            comp.problem(f"{key}.cases", f"{scaling.cases} matches none of the suite's cases")
        return None
    ns: dict[str, Any] = {k: v for k, v in common.items() if k != size_name}
    ns.update(
        compare_spec=compare,
        case=parameter(chosen, fmt=str),
        scaling=size_name,
        tags=set(common["tags"]) | set(scaling.tags),
    )
    ns[size_name] = parameter(sizes)
    if scaling.command is not None:
        ns["command"] = scaling.command
    if scaling.env:
        ns["env"] = {**common["env"], **scaling.env}
    if scaling.time_limit is not None:
        ns["time_limit"] = scaling.time_limit
    return make_class(comp, f"{suite}-scaling", ns, key)
