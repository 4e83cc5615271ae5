"""Suite files (``*.suite.toml``) compiled into ordinary Test classes.

A suite describes an existing regression suite without Python: a build (archive or
directory, plus overlays), reference cases (directories of inputs with ``expected/``
outputs), a command, and how to compare. It compiles into the same Test classes a Python
author writes, so selection, partitions, retries and reports work unchanged:

* ``NAME``: one variant per reference case (parameter ``case``);
* ``NAME-SWEEP``: one variant per point of each ``[[suite.sweep]]``;
* ``NAME-scaling``: the chosen cases at each node or task count of ``[suite.scaling]``.

The format is documented in docs/suites.md.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.durations import parse_duration
from assay.errors import toml_key
from assay.spec import suite_schema as schema
from assay.spec.hooks import after, before, metric
from assay.spec.output import Output
from assay.spec.params import parameter, variable, variant_fields
from assay.spec.refs import ref
from assay.spec.test import Test

SUFFIX = ".suite.toml"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class SuiteProblem:
    """Something wrong in a suite file: where (file, line, key) and what."""

    file: Path
    line: int | None
    key: str
    message: str


@dataclass(frozen=True)
class CaseDir:
    """A reference case: a directory of inputs holding its expected outputs."""

    name: str
    path: Path

    def __str__(self) -> str:
        return self.name


class SuiteTest(Test):
    """What every compiled suite test shares: staging the case, rendering, comparing."""

    abstract = True
    suite_file: Path = Path()
    expected_name: str = "expected"
    compare_spec: dict[str, Any] | None = None
    template: Path | None = None
    template_output: str | None = None
    inputs: Path | None = None
    expected_pattern: str | None = None

    @before("setup")
    def _suite_inputs(self) -> None:
        """A case's inputs are its directory without the expected outputs."""
        sources = []
        case = self.params.get("case")
        if isinstance(case, CaseDir):
            sources.append(str(case.path))
            self.exclude_sources = [*self.exclude_sources, self.expected_name]
        if self.inputs is not None:
            sources.append(str(self.inputs))
        self.sources = sources + list(self.sources or [])

    @after("setup")
    def _render_template(self) -> None:
        if self.template is not None:
            _render(self, self.template, self.stage_dir / (self.template_output or ""))

    def expected_dir(self) -> Path | None:
        """Where this case's expected outputs are, if it has any."""
        case = self.params.get("case")
        if isinstance(case, CaseDir):
            return case.path / self.expected_name
        if self.expected_pattern is not None:
            return self.suite_file.parent / self.format(self.expected_pattern, quote=False)
        return None

    def sanity(self, out: Output) -> None:
        expected = self.expected_dir()
        if self.compare_spec is not None and expected is not None:
            out.compare(expected, **self.compare_spec)

    def job_comparison(self) -> dict[str, Any] | None:
        """The comparison ``sanity`` will make, for a scheduler that runs it in the job."""
        from assay.spec.output import comparison_spec

        expected = self.expected_dir()
        if self.compare_spec is None or expected is None:
            return None
        return comparison_spec(expected, self.stage_dir, **self.compare_spec)


def _render(test: Test, template: Path, target: Path) -> None:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # inputs of scientific codes, not HTML  # noqa: S701
    )
    values = test._format_values()
    try:
        text = env.get_template(template.name).render(**values)
    except jinja2.TemplateError as exc:
        from assay.errors import SanityError

        raise SanityError(f"template {template.name}: {exc}") from None
    target.write_text(text)


# --- compiling ------------------------------------------------------------------------------


@dataclass
class _Compiler:
    path: Path
    text: str
    problems: list[SuiteProblem] = field(default_factory=list)

    @property
    def base(self) -> Path:
        return self.path.parent

    def problem(self, key: str, message: str) -> None:
        self.problems.append(SuiteProblem(self.path, _line_of(self.text, key), key, message))


def compile_suite(path: Path) -> tuple[list[type[Test]], list[SuiteProblem]]:
    """The Test classes of the suite file ``path``, and what is wrong with it.

    A suite with problems yields no classes: running half a suite would hide them.
    """
    from assay.validation import Invalid, convert, load_toml

    try:
        text = path.read_text()
    except OSError as exc:
        return [], [SuiteProblem(path, None, "", f"cannot read: {exc.strerror}")]
    comp = _Compiler(path, text)
    try:
        body = convert(load_toml(text), schema.File).suite
    except Invalid as exc:
        line = _toml_error_line(exc.message) or _line_of(text, exc.path)
        return [], [SuiteProblem(path, line, exc.path, exc.message)]
    classes = _compile(comp, body)
    if comp.problems:
        return [], comp.problems
    return classes, []


def _compile(comp: _Compiler, body: schema.Body) -> list[type[Test]]:
    name = body.name or comp.path.name[: -len(SUFFIX)]
    if not _NAME.fullmatch(name):
        comp.problem(
            "suite.name", f"{name!r} is not a usable test name (letters, digits, '_', '.', '-')"
        )
        return []
    common = _common_namespace(comp, body)
    cases = _case_dirs(comp, body)
    compare = _compare_spec(comp, body, cases)
    classes: list[type[Test]] = []
    if body.cases is not None:
        ns = {
            **common,
            "compare_spec": compare,
            "case": parameter(cases, fmt=str),
        }
        ns.update(_case_settings(comp, body))
        classes.append(_make_class(comp, name, ns))
    for index, sweep in enumerate(body.sweep):
        cls = _sweep_class(comp, body, name, common, compare, index, sweep)
        if cls is not None:
            classes.append(cls)
    if body.scaling is not None:
        cls = _scaling_class(comp, body, name, common, compare, cases, body.scaling)
        if cls is not None:
            classes.append(cls)
    if body.cases is None and not body.sweep:
        comp.problem(
            "suite.cases",
            "no cases: give suite.cases (a glob of case directories) or a [[suite.sweep]]",
        )
    return classes


def _common_namespace(comp: _Compiler, body: schema.Body) -> dict[str, Any]:
    ns: dict[str, Any] = {
        "__doc__": body.description or f"Suite {comp.path.name}",
        "suite_file": comp.path,
        "expected_name": body.expected,
        "command": body.command,
        "tags": set(body.tags),
        "systems": list(body.partitions),
        "environments": list(body.environments),
        "env": dict(body.env),
        "tasks": body.tasks,
        "nodes": body.nodes,
        "tasks_per_node": body.tasks_per_node,
        "cpus_per_task": body.cpus_per_task,
        "exclusive": body.exclusive,
        "exit_codes": set(body.exit_codes),
        "depends_on": list(body.depends_on),
        "prerun": list(body.prerun),
        "postrun": list(body.postrun),
        "keep_files": list(body.keep_files),
    }
    if body.time_limit is not None:
        _check_duration(comp, "suite.time_limit", body.time_limit)
        ns["time_limit"] = body.time_limit
    if body.build is not None:
        layers = [body.build, *body.overlays]
        for key, layer in zip(
            ["suite.build"] + ["suite.overlays"] * len(body.overlays), layers, strict=True
        ):
            _check_layer(comp, key, layer)
        ns["artifacts"] = {"build": layers}
    elif body.overlays:
        comp.problem("suite.overlays", "overlays need a suite.build to lay them on")
    for var_name, default in body.variables.items():
        if not _IDENT.fullmatch(var_name) or var_name in vars(Test):
            comp.problem(
                f"suite.variables.{toml_key(var_name)}",
                "variable names are identifiers that are not built-in test fields",
            )
            continue
        ns[var_name] = variable(type(default), default)
    for metric_name, spec in body.metrics.items():
        if not _IDENT.fullmatch(metric_name) or metric_name in vars(Test) or metric_name in ns:
            comp.problem(
                f"suite.metrics.{toml_key(metric_name)}",
                "metric names are identifiers that are not built-in test fields or variables",
            )
            continue
        if _bad_regex(comp, f"suite.metrics.{metric_name}.regex", spec.regex):
            continue
        ns[metric_name] = _metric_method(metric_name, spec)
    references: dict[str, dict[str, Any]] = {}
    for pattern, table in body.references.items():
        for metric_name, r in table.items():
            if metric_name not in body.metrics:
                comp.problem(
                    f"suite.references.{toml_key(pattern)}.{toml_key(metric_name)}",
                    f"no metric {metric_name!r} in [suite.metrics]",
                )
                continue
            unit = r.unit or body.metrics[metric_name].unit
            references.setdefault(pattern, {})[metric_name] = ref(r.value, r.lower, r.upper, unit)
    if references:
        ns["references"] = references
    return ns


def _metric_method(name: str, spec: schema.Metric) -> Callable[[Any, Output], float]:
    def read(self: Any, out: Output) -> float:
        return float(out.extract(spec.regex, float, group=spec.group, where=spec.file))

    read.__name__ = name
    return metric(spec.unit)(read)


def _case_dirs(comp: _Compiler, body: schema.Body) -> list[CaseDir]:
    if body.cases is None:
        return []
    patterns = [body.cases] if isinstance(body.cases, str) else list(body.cases)
    found: dict[str, CaseDir] = {}
    for pattern in patterns:
        if Path(pattern).is_absolute():
            matches = sorted(Path(p) for p in _abs_glob(pattern))
        else:
            matches = sorted(comp.base.glob(pattern))
        dirs = [m for m in matches if m.is_dir()]
        if not dirs:
            comp.problem("suite.cases", f"{pattern!r} matches no directory under {comp.base}")
        for d in dirs:
            if d.name in found and found[d.name].path != d:
                comp.problem(
                    "suite.cases",
                    f"two case directories are named {d.name!r} ({found[d.name].path} and {d}); "
                    "case names must be unique",
                )
            found[d.name] = CaseDir(d.name, d)
    return list(found.values())


def _abs_glob(pattern: str) -> list[str]:
    import glob

    return glob.glob(pattern)


def _compare_spec(
    comp: _Compiler, body: schema.Body, cases: list[CaseDir]
) -> dict[str, Any] | None:
    if body.compare is None:
        return None
    from assay import compare as engine

    spec = body.compare.engine_spec()
    # The engine checks keys and regexes against a real case (globs: per case, below).
    sample = next(
        (c.path / body.expected for c in cases if (c.path / body.expected).is_dir()), None
    )
    if sample is not None:
        probe = {"version": engine.VERSION, "expected": str(sample), "actual": str(sample), **spec}
        probe.pop("files", None)
        for problem in engine.validate_spec(probe):
            comp.problem("suite.compare", problem)
    literal = [f for f in body.compare.files if not any(ch in f for ch in "*?[")]
    for case in cases:
        expected = case.path / body.expected
        if not expected.is_dir():
            comp.problem(
                "suite.cases",
                f"case {case.name!r} has no {body.expected}/ directory ({expected}); "
                "[suite.compare] needs the expected outputs of every case: add them, or "
                "leave the case out of suite.cases",
            )
            continue
        for name in literal:
            if not (expected / name).exists():
                comp.problem(
                    "suite.compare.files",
                    f"{name!r} is missing from case {case.name!r} ({expected}); add it to the "
                    "expected outputs or remove it from files",
                )
    # Keep the comparison's keys in the shape Output.compare takes them.
    return spec


def _case_settings(comp: _Compiler, body: schema.Body) -> dict[str, Any]:
    """``@variant_fields`` for groups (per-case tags, time limits, partitions) and
    ``tag_partitions`` (which partitions a tag's cases run on)."""
    groups = list(body.groups)
    for i, group in enumerate(groups):
        if group.time_limit is not None:
            _check_duration(comp, f"suite.groups[{i}].time_limit", group.time_limit)
    tag_parts = dict(body.tag_partitions)
    if not groups and not tag_parts:
        return {}
    base_tags = set(body.tags)

    def settings(case: CaseDir) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        # The first group whose patterns match the case sets its extra tags and settings.
        group = next(
            (g for g in groups if any(fnmatch.fnmatchcase(case.name, p) for p in g.cases)), None
        )
        tags: set[str] = set(group.tags) if group else set()
        if group is not None:
            if group.time_limit is not None:
                fields["time_limit"] = group.time_limit
            if group.partitions is not None:
                fields["systems"] = list(group.partitions)
        if tags:
            fields["tags"] = tags
        mapped = [p for t in sorted(base_tags | tags) for p in tag_parts.get(t, [])]
        if mapped and "systems" not in fields:
            fields["systems"] = mapped
        return fields

    return {"case_settings": variant_fields(settings)}


def _sweep_class(
    comp: _Compiler,
    body: schema.Body,
    suite: str,
    common: dict[str, Any],
    compare: dict[str, Any] | None,
    index: int,
    sweep: Mapping[str, Any],
) -> type[Test] | None:
    key = f"suite.sweep[{index}]"
    name = str(sweep.get("name", "sweep" if len(body.sweep) == 1 else f"sweep{index + 1}"))
    if not _NAME.fullmatch(name):
        comp.problem(f"{key}.name", f"{name!r} is not a usable name")
        return None
    ns: dict[str, Any] = {**common, "compare_spec": compare}
    params: dict[str, list[Any]] = {}
    for k, v in sweep.items():
        if k in schema.SWEEP_KEYS:
            continue
        if not _IDENT.fullmatch(k) or k in vars(Test) or k in ns:
            comp.problem(
                f"{key}.{toml_key(k)}",
                f"{k!r} is not a sweep setting and cannot be a parameter name; settings are "
                f"{', '.join(schema.SWEEP_KEYS)}",
            )
            continue
        if not isinstance(v, list) or not v:
            comp.problem(
                f"{key}.{k}", f"a sweep parameter needs a non-empty list of values, got {v!r}"
            )
            continue
        params[k] = v
    if not params:
        comp.problem(key, "a sweep needs at least one parameter (a key with a list of values)")
        return None
    for k, v in params.items():
        ns[k] = parameter(v)
    exclude = sweep.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, dict) for e in exclude):
        comp.problem(f"{key}.exclude", "exclude is a list of tables of parameter values")
    else:
        ns["exclude"] = exclude
    for setting in ("command", "time_limit"):
        if setting in sweep:
            ns[setting] = sweep[setting]
    if "time_limit" in sweep:
        _check_duration(comp, f"{key}.time_limit", sweep["time_limit"])
    if "tags" in sweep:
        ns["tags"] = set(common["tags"]) | set(sweep["tags"])
    if "inputs" in sweep:
        inputs = comp.base / str(sweep["inputs"])
        if not inputs.is_dir():
            comp.problem(f"{key}.inputs", f"{inputs} is not a directory")
        ns["inputs"] = inputs
    names = set(params) | {n for n, v in ns.items() if hasattr(v, "var")}
    if "template" in sweep:
        template = comp.base / str(sweep["template"])
        output = str(sweep.get("output", _strip_template_suffix(template.name)))
        if _check_template(comp, f"{key}.template", template, names):
            ns["template"], ns["template_output"] = template, output
    if "expected" in sweep:
        ns["expected_pattern"] = str(sweep["expected"])
        _check_sweep_expected(comp, key, str(sweep["expected"]), params, exclude)
    return _make_class(comp, f"{suite}-{name}", ns)


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


def _check_template(comp: _Compiler, key: str, template: Path, names: set[str]) -> bool:
    import jinja2
    import jinja2.meta

    if not template.is_file():
        comp.problem(key, f"{template} does not exist")
        return False
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - not HTML
    try:
        ast = env.parse(template.read_text())
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
    comp: _Compiler, key: str, pattern: str, params: dict[str, list[Any]], exclude: Any
) -> None:
    names = list(params)
    excluded = [e for e in exclude if isinstance(e, dict)] if isinstance(exclude, list) else []
    for values in itertools.product(*params.values()):
        point = dict(zip(names, values, strict=True))
        if any(all(point.get(k) == v for k, v in e.items()) for e in excluded):
            continue
        try:
            rel = pattern.format(**point)
        except (KeyError, IndexError, ValueError) as exc:
            comp.problem(f"{key}.expected", f"{pattern!r} cannot be filled in: {exc}")
            return
        if not (comp.base / rel).is_dir():
            comp.problem(
                f"{key}.expected",
                f"no expected outputs for point {point}: {comp.base / rel} is not a directory",
            )


def _scaling_class(
    comp: _Compiler,
    body: schema.Body,
    suite: str,
    common: dict[str, Any],
    compare: dict[str, Any] | None,
    cases: list[CaseDir],
    scaling: schema.Scaling,
) -> type[Test] | None:
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
        _check_duration(comp, f"{key}.time_limit", scaling.time_limit)
        ns["time_limit"] = scaling.time_limit
    return _make_class(comp, f"{suite}-scaling", ns)


def _make_class(comp: _Compiler, name: str, ns: dict[str, Any]) -> type[Test]:
    ns["__module__"] = f"assay_suite_{re.sub(r'[^A-Za-z0-9_]', '_', comp.path.stem)}"
    ns["__assay_site__"] = (str(comp.path), _line_of(comp.text, "suite") or 1)
    cls: type[Test] = type(name, (SuiteTest,), ns)
    for error in cls._assay.errors:
        core = error.split(": ", 1)[-1]
        if not any(core in p.message for p in comp.problems):  # not already said, by key
            comp.problem("suite", f"{name}: {error}")
    return cls


# --- checks and positions -------------------------------------------------------------------


def _check_layer(comp: _Compiler, key: str, layer: str) -> None:
    from assay.run.artifacts import DEP_PREFIX, STORE_PREFIX, check_layers

    if layer.startswith((DEP_PREFIX, STORE_PREFIX)):  # resolved when the cases run
        return
    path = Path(layer) if Path(layer).is_absolute() else comp.base / layer
    for problem in check_layers("build", [path]):
        comp.problem(key, problem.removeprefix("artifact 'build': "))


def _check_duration(comp: _Compiler, key: str, value: Any) -> None:
    try:
        parse_duration(value)
    except ValueError as exc:
        comp.problem(key, str(exc))


def _bad_regex(comp: _Compiler, key: str, pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error as exc:
        comp.problem(key, f"not a valid regular expression: {exc}")
        return True
    return False


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"\(at line (\d+)", message)
    return int(match.group(1)) if match else None


def _line_of(text: str, key: str) -> int | None:
    """The line of ``key`` (a dotted path such as ``suite.compare.files``) in TOML text:
    the key's own line when found under its table's header, else the table's header."""
    parts = [p.strip('"') for p in re.split(r"\.(?![^\[]*\])", re.sub(r"\[\d+\]", "", key)) if p]
    if not parts:
        return None
    lines = text.splitlines()
    best: int | None = None
    for depth in range(len(parts), 0, -1):
        table = ".".join(parts[:depth])
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
        for number, line in enumerate(lines, 1):
            if header.match(line):
                best = number
                rest = parts[depth:]
                if rest:
                    leaf = re.compile(rf"^\s*{re.escape(rest[0])}\s*=")
                    for offset, later in enumerate(lines[number:], number + 1):
                        if later.lstrip().startswith("["):
                            break
                        if leaf.match(later):
                            return offset
                return best
    return best
