"""Reading a Test subclass once, when it is defined: its parameters, variables,
metrics, hooks, and everything wrong with it.

A malformed class never raises at import time (that would take the rest of its
file down with it); its problems are recorded and the loader reports them as
one error per class, with file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import FunctionType
from typing import Any

import msgspec
from msgspec import field

from assay import guard
from assay.define.artifact_refs import DEP_PREFIX, STORE_PREFIX, check_layers, layer_list
from assay.define.field_checks import check_artifacts, describe_overlap, skip_overlap
from assay.define.fields import CHECKS, DECODERS, VARIANT_FIELDS
from assay.define.hooks import STAGES, MetricSpec, When
from assay.define.params import (
    _MISSING,
    Parameter,
    ParameterSpace,
    Variable,
    _filter_arg_names,
    _VariableDescriptor,
    variant_name,
)
from assay.define.refs import Ref, as_ref
from assay.define.source_checks import missing_sources
from assay.guard import misdefined


class Definition(msgspec.Struct):
    """Everything assay knows about one test class."""

    name: str
    file: str | None
    line: int | None
    space: ParameterSpace
    variables: dict[str, Variable]
    metrics: dict[str, MetricSpec]
    hooks: dict[tuple[When, str], list[Callable[..., Any]]]
    errors: list[str] = field(default_factory=list)
    abstract: bool = False
    variant_fields: Callable[..., Mapping[str, Any]] | None = None
    key: str | None = None  # a compiled suite's test: the key of the suite file that made it
    command_per_variant: bool = False
    """The class sets no command: its ``@variant_fields`` function must give each variant one."""
    kept: dict[str, dict[str, dict[str, Ref]]] = field(default_factory=dict)
    """References kept beside the test's file (``NAME.references.toml``, see reffile.py)."""

    def fields_for(self, values: tuple[Any, ...]) -> Mapping[str, Any]:
        """The per-variant field values of ``@assay.variant_fields`` (checked), or ``{}``.

        Raises ``ValueError`` naming the variant and field when a value is wrong.
        """
        func = self.variant_fields
        if func is None:
            return {}
        named = dict(zip(self.space.names, values, strict=True))
        args = _arg_names(func)
        result = func(**{a: named[a] for a in args})
        if not isinstance(result, Mapping):
            raise ValueError(f"@variant_fields {func.__name__} returned {result!r}, not a dict")
        fields = {}
        for key, value in result.items():
            if key not in VARIANT_FIELDS:
                raise ValueError(
                    f"@variant_fields {func.__name__} returned field {key!r}, which cannot vary "
                    f"per variant; allowed: {', '.join(sorted(VARIANT_FIELDS))}"
                )
            problem = CHECKS[key](value)
            if problem:
                raise ValueError(f"@variant_fields {func.__name__}: {key} {problem}")
            decoder = DECODERS.get(key)
            fields[key] = value if decoder is None else decoder(value)
        if self.command_per_variant and fields.get("command") is None:
            raise ValueError(
                f"@variant_fields {func.__name__} gave no command for "
                f"{', '.join(f'{k}={v!r}' for k, v in named.items())}, and the class sets "
                "none: return a 'command' for every variant, or give the class a command"
            )
        return fields

    @property
    def location(self) -> str:
        """``file:line`` of the class statement (or of the suite file's key, then named)."""
        if self.file is None:
            return self.name
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} ({self.key})" if self.key else where


def variant_names(cls: type) -> Iterator[str]:
    """The names of a test's variants, made from their labels only (no test code runs but
    parameters' ``fmt``, whose errors the planner reports: here they end the names)."""
    definition: Definition = cls._assay  # type: ignore[attr-defined]
    space = definition.space
    try:
        with guard.running():
            for _, labels in space.labeled():
                yield variant_name(cls.__name__, space.names, labels)
    except guard.Interrupted:
        raise
    except BaseException:
        return


def check_fields(obj: Any, metrics: Mapping[str, MetricSpec]) -> list[str]:
    """Problems with the built-in fields of a test class or instance."""
    errors = []
    for name, check in CHECKS.items():
        value = getattr(obj, name)
        if isinstance(value, property):  # (a class's; ReFrame sets such fields in a hook)
            errors.append(
                f"{name} is a @property, but a built-in field is a value: give it one in the "
                "class, per variant from an @assay.variant_fields function (ReFrame's "
                "@run_after('init')), or set it in a hook (@assay.after(\"setup\"))"
            )
            continue
        # A field may be a parameter (nodes = assay.parameter([1, 2, 4])): check each value.
        values = value.values if isinstance(value, Parameter) else (value,)
        for one in values:
            problem = check(one)
            if problem:
                errors.append(f"{name} {problem}")
                break
    if not any(e.startswith(("exit_codes ", "skip_exit_codes ")) for e in errors):
        both = _both_exit_codes(obj)
        if both:
            keys = ("exit_codes", "skip_exit_codes")
            errors.append(describe_overlap(obj.exit_codes, both, keys))
    errors.extend(check_references(obj.references, metrics))
    return errors


def _both_exit_codes(obj: Any) -> list[int]:
    """The codes both ``exit_codes`` and ``skip_exit_codes`` of ``obj`` name (each
    value of a field that is a parameter)."""
    accepted, skip = obj.exit_codes, obj.skip_exit_codes
    if isinstance(accepted, Parameter) or isinstance(skip, Parameter):
        return []  # (checked per case, when the run decides: stage_run)
    return skip_overlap(accepted, skip) if skip else []


def check_references(refs: Any, metrics: Mapping[str, MetricSpec]) -> list[str]:
    if not isinstance(refs, Mapping):
        return [
            "references must be a dict of 'system:partition' patterns to {metric: assay.ref(...)}"
        ]
    errors = []
    for key, table in refs.items():
        if not isinstance(key, str):
            errors.append(f"references key {key!r} must be a 'system:partition' pattern string")
            continue
        if not isinstance(table, Mapping):
            errors.append(
                f"references[{key!r}] must be a dict of metric names to assay.ref(...); "
                "references are keyed by 'system:partition' pattern first: "
                f"references = {{'*': {{{key!r}: ...}}}}"
                if key in metrics
                else f"references[{key!r}] must be a dict of metric names to assay.ref(...)"
            )
            continue
        for metric_name, value in table.items():
            where = f"references[{key!r}][{metric_name!r}]"
            if metric_name not in metrics:
                known = ", ".join(sorted(metrics)) or "none"
                hint = _close_matches(str(metric_name), list(metrics), n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                errors.append(
                    f"{where} names no @assay.metric method{suggestion}; metrics defined: {known}"
                )
                continue
            try:
                reference = as_ref(value)
            except TypeError as exc:
                errors.append(f"{where}: {exc}")
                continue
            errors.extend(f"{where}: {p}" for p in reference.problems())
            unit = metrics[metric_name].unit
            if reference.unit and unit and reference.unit != unit:
                errors.append(f"{where} has unit {reference.unit!r} but the metric is in {unit!r}")
    return errors


# --- reading a class ------------------------------------------------------------------------


def _resolved(cls: type) -> dict[str, Any]:
    """Every attribute name defined along the MRO, mapped to the value ``cls`` sees."""
    names: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            names[name] = value
    return names


def define(cls: type, file: str | None, line: int | None) -> Definition:
    """Build the :class:`Definition` of a test class (never raises for user mistakes)."""
    attrs = _resolved(cls)
    errors: list[str] = []

    # Parameters in the order their classes declare them (a subclass appends its own, and
    # rebinding an inherited parameter keeps its place); a plain value drops one.
    order: dict[str, Parameter] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Parameter) and value.name == name:
                order[name] = value
            elif name in order:
                del order[name]
    params = list(order.values())
    # Variables: a subclass may give one a new plain default; it stays a variable.
    variables: dict[str, Variable] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _VariableDescriptor):
                variables[name] = value.var
            elif name in variables:
                var = variables[name]
                variables[name] = Variable(var.type, value, var.help, var.choices, name)
    metrics: dict[str, MetricSpec] = {}
    hooks: dict[tuple[When, str], list[Callable[..., Any]]] = {
        (w, s): [] for w in ("before", "after") for s in STAGES
    }
    filters: list[Callable[..., bool]] = []
    field_funcs: list[Callable[..., Mapping[str, Any]]] = []
    for name, value in attrs.items():
        func = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        spec = getattr(func, "__assay_metric__", None)
        if isinstance(spec, MetricSpec):
            metrics[name] = spec
            errors.extend(_never_runs(f"metric {name}", func))
        for when_stage in getattr(func, "__assay_hooks__", ()):
            hooks[when_stage].append(value)
            errors.extend(_never_runs(f"hook {name}", func))
        if getattr(func, "__assay_variant_filter__", False):
            filters.append(func)
        if getattr(func, "__assay_variant_fields__", False):
            field_funcs.append(func)
    errors.extend(_never_runs("sanity", attrs.get("sanity")))

    excludes = getattr(cls, "exclude", ())
    space = ParameterSpace(
        params, list(excludes) if isinstance(excludes, Iterable) else [], filters
    )
    errors.extend(space.problems())
    for name, var in variables.items():
        if var.default is _MISSING:
            errors.append(
                f"variable {name!r} has no default; give one: assay.variable(type, default)"
            )
        elif var.default is not None and not _fits(var.default, var.type):
            errors.append(
                f"variable {name!r} is declared {var.type.__name__} but its default is "
                f"{var.default!r}"
            )
    errors.extend(_hidden_names(cls, [p.name for p in params], list(variables)))
    errors.extend(check_fields(cls, metrics))
    _decode_class_fields(cls)
    abstract = bool(vars(cls).get("abstract", False))
    command_per_variant = False
    if not abstract:
        has_setup_hooks = any(hooks[("before", s)] or hooks[("after", s)] for s in ("setup",))
        if getattr(cls, "command", None) is None and not has_setup_hooks and field_funcs:
            # Each variant's command comes from @variant_fields (a suite's case files read by
            # a Python test: jq.test's programs, %%FAIL ones run differently): checked per
            # variant when the variants are made.
            command_per_variant = True
        elif getattr(cls, "command", None) is None and not has_setup_hooks:
            # A test that only builds (ReFrame's CompileOnlyRegressionTest, a fixture that
            # others use) still has a run stage: it says what to run then.
            only_builds = getattr(cls, "build", None) is not None
            errors.append(
                'command is not set; give the command to run, e.g. command = "./app --input x" '
                + (
                    '(a test that only builds runs command = "true")'
                    if only_builds
                    else "(or mark a base class abstract = True)"
                )
            )
    errors.extend(_typos(cls, set(variables) | {p.name for p in params} | set(metrics)))
    words = set(getattr(cls, "format_words", ()))  # a suite's own (pairs: {input}, {stem})
    errors.extend(_misspelt_names(cls, set(variables) | {p.name for p in params} | words))
    if not abstract and file is not None:
        errors.extend(_artifact_problems(getattr(cls, "artifacts", {}), Path(file).parent))
        errors.extend(missing_sources(cls, Path(file).parent, hooks[("before", "setup")]))
    if len(field_funcs) > 1:
        names = ", ".join(f.__name__ for f in field_funcs)
        errors.append(f"only one @assay.variant_fields function is allowed; found {names}")
    for func in field_funcs:
        unknown = [a for a in _arg_names(func) if a not in space.names]
        if unknown:
            errors.append(
                f"@assay.variant_fields {func.__name__} takes {unknown}, which are not "
                f"parameters; parameters are {list(space.names)}"
            )
    return Definition(
        name=cls.__name__,
        file=file,
        line=line,
        space=space,
        variables=variables,
        metrics=metrics,
        hooks=hooks,
        errors=errors,
        abstract=abstract,
        variant_fields=field_funcs[0] if field_funcs else None,
        command_per_variant=command_per_variant,
    )


HIDDEN = {
    "case": "the running case (its name, id, stage dir, artifacts)",
    "params": "the dict of the variant's parameters",
    "stage_dir": "the case's stage dir",
    "sanity": "the sanity method",
    "format": "the method that fills in {name}",
    "dependencies": "the method that finds dependencies",
    "dependency": "the method that finds a dependency",
}
"""Names assay.Test itself gives every instance: a parameter or variable of that name would
be set and then hidden (``self.case`` is the running case, not the value)."""


def _hidden_names(cls: type, params: list[str], variables: list[str]) -> list[str]:
    """Parameters and variables named as one of :data:`HIDDEN`: refused at load, since
    ``self.NAME`` (and ``{NAME}`` through a property) would give assay's own attribute.
    A suite's compiled test reads its ``case`` through ``self.params``: not refused."""
    suite = any("suite_file" in vars(klass) for klass in cls.__mro__)
    errors = []
    for kind, names in (("parameter", params), ("variable", variables)):
        for name in names:
            if name in HIDDEN and not (suite and name == "case"):
                errors.append(
                    f"{kind} {name!r} has the name of assay's own self.{name}, "
                    f"{HIDDEN[name]}, which would hide its value: rename it, "
                    f"e.g. {name}_ or test_{name}"
                )
    return errors


# ``{name}`` in a command, neither ``${name}`` (the shell's) nor ``{{name}}`` (a literal).
_BRACED = re.compile(r"(?<![{$])\{(\w+)\}(?!\})")
_FORMAT_FIELDS = (
    "tasks", "nodes", "cpus_per_task", "tasks_per_node", "system", "partition", "environment",
    "stage_dir",
)  # fmt: skip


def _misspelt_names(cls: type, declared: set[str]) -> list[str]:
    """``{name}`` in the class's commands that names nothing but resembles a parameter,
    variable or field (``{sise}`` for ``{size}``): it would stay as written, unnoticed
    until the job ran ``echo {sise}``."""
    texts: list[tuple[str, str]] = []
    for key in ("command", "build", "prerun", "postrun"):
        value = getattr(cls, key, None)
        if isinstance(value, str):
            texts.append((key, value))
        elif isinstance(value, list | tuple):
            texts += [(key, v) for v in value if isinstance(v, str)]
    env = getattr(cls, "env", None)
    if isinstance(env, Mapping):
        texts += [(f"env[{k!r}]", v) for k, v in env.items() if isinstance(v, str)]
    if not any("{" in text for _, text in texts):
        return []
    named = [(where, name) for where, text in texts for name in _BRACED.findall(text)]
    unknown = [(w, n) for w, n in named if n not in declared and n not in _FORMAT_FIELDS]
    if not unknown:  # (the common case: no dir() of the class)
        return []
    known = set(dir(cls))
    candidates = sorted(declared | set(_FORMAT_FIELDS))
    errors = []
    for where, name in dict.fromkeys(unknown):
        if name not in known:
            close = _close_matches(name, candidates, n=1, cutoff=0.75)
            if close:
                errors.append(
                    f"{where}: {{{name}}} names no parameter, variable or field, so it would "
                    f"stay as written; did you mean {{{close[0]}}}? ({{{{{name}}}}} is the "
                    "literal text)"
                )
    return errors


def _decode_class_fields(cls: type) -> None:
    """Decode the class's own checked values of fields that have a decoder (durations), so
    that every later use reads seconds. Parameters are decoded per case, when bound (their
    values as written name the variants)."""
    for name, decoder in DECODERS.items():
        value = getattr(cls, name)
        if isinstance(value, Parameter) or CHECKS[name](value):  # wrong: reported already
            continue
        decoded = decoder(value)
        if decoded is not value:
            setattr(cls, name, decoded)


def _never_runs(what: str, func: Any) -> list[str]:
    """A sanity, hook or metric whose body would never run when called (``async def``,
    generator): it would pass without checking anything."""
    problem = misdefined(what, func) if callable(func) else None
    return [problem] if problem else []


def _artifact_problems(artifacts: Any, base: Path) -> list[str]:
    """Missing or unusable layer paths, found when the test is loaded rather than run."""
    if check_artifacts(artifacts):
        return []  # already reported as a field problem
    problems = []
    for name, layers in artifacts.items():
        paths = [
            Path(p) if Path(p).is_absolute() else base / p
            for p in layer_list(layers)
            if not p.startswith((DEP_PREFIX, STORE_PREFIX))  # resolved when the case runs
        ]
        if paths:
            problems.extend(check_layers(name, paths))
    return problems


def _arg_names(func: Callable[..., Any]) -> tuple[str, ...]:
    return _filter_arg_names(func)


def _fits(value: Any, typ: type) -> bool:
    if typ is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


_KNOWN_OTHER = {"sanity", "abstract", "description"}

# ReFrame's names of what assay names otherwise: a test ported from ReFrame would have them
# ignored silently (``valid_systems = [...]`` would run everywhere).
_REFRAME = {
    "valid_systems": "systems",
    "valid_prog_environs": "environments",
    "sourcesdir": "sources",
    "sourcepath": "sources",
    "executable": "command",
    "executable_opts": "command (the arguments are part of it)",
    "num_tasks": "tasks",
    "num_tasks_per_node": "tasks_per_node",
    "num_cpus_per_task": "cpus_per_task",
    "num_gpus_per_node": "gpus_per_node",
    "prerun_cmds": "prerun",
    "postrun_cmds": "postrun",
    "prebuild_cmds": "build (a list of commands)",
    "postbuild_cmds": "build (a list of commands)",
    "exclusive_access": "exclusive",
    "variables": "env",
    "env_vars": "env",
    "build_system": "build (the build commands)",
    "sanity_patterns": "sanity (a method: def sanity(self, out))",
    "perf_patterns": "@assay.metric (methods returning each value)",
    "reference": "references",
    "strict_check": "references (their bounds decide)",
    "modules": "an environment's modules in assay.toml (docs/config.md)",
    "depends_on_tests": "depends_on",
}


def _typos(cls: type, declared: set[str]) -> list[str]:
    """Attributes that look like misspelt built-in fields (``comand``, ``tag``...)."""
    known = list(CHECKS) + sorted(_KNOWN_OTHER)
    errors = []
    for name, value in vars(cls).items():
        if name.startswith("_") or name in CHECKS or name in _KNOWN_OTHER:
            continue
        ours = _REFRAME.get(name)
        if name == "executable" and "command" in vars(cls):
            ours = None  # the test's own value, used as {executable} in its command
        if ours is not None and name not in declared:
            errors.append(
                f"{name!r} is ReFrame's name; assay's is {ours} (docs/test-api.md), and "
                f"{name} would be ignored"
            )
            continue
        if name in declared:
            continue
        if callable(value) or isinstance(value, property | staticmethod):
            # A method misspelt as sanity (santiy, sanitiy) would never be called: the
            # case would pass on its exit code alone.
            if isinstance(value, FunctionType) and _close_matches(
                name, ["sanity"], n=1, cutoff=0.8
            ):
                errors.append(
                    f"method {name!r} looks like sanity misspelt; assay calls only "
                    "sanity(self, out), so this check would never run"
                )
            continue
        close = _close_matches(name, known, n=1, cutoff=0.8)
        if close:
            errors.append(
                f"unknown attribute {name!r} (did you mean {close[0]!r}?); built-in fields are "
                f"listed in docs/test-api.md"
            )
    return errors


__all__ = ["Definition", "Ref", "check_fields", "define"]


def _close_matches(word: str, candidates: list[str], n: int, cutoff: float = 0.6) -> list[str]:
    """:func:`difflib.get_close_matches`, imported only when a name is unknown."""
    import difflib

    return difflib.get_close_matches(word, candidates, n=n, cutoff=cutoff)
