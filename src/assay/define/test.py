"""The ``Test`` base class: what a test author subclasses."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar

from assay import shell
from assay.define.definition import Definition, define
from assay.define.fields import DECODERS, FIELDS, Fields, decode
from assay.define.output import Output
from assay.define.refs import Ref

if TYPE_CHECKING:
    from assay.config import Environment


@dataclass(frozen=True)
class DependencyInfo:
    """What a dependent test may read about a case it depends on."""

    test: str
    name: str
    params: Mapping[str, Any]
    stage_dir: PurePath
    """Where the dependent's commands see the dependency's files: where its jobs ran; on
    a remote host, the path there (a dependency that ran on this machine is sent there
    first); for a dependent here of one that ran on a remote host, this machine's copy."""
    output_dir: Path
    """The files kept of it, on this machine."""
    metrics: Mapping[str, float]
    local_dir: Path | None = None
    """This machine's copy of its stage dir, when the dependency ran on a remote host; or
    its stage dir itself, when it ran here and was shipped to the dependent's host."""
    shipped: bool = False
    """It ran on this machine and the dependent runs on a remote host: its files (but
    assay's own scripts and logs) were sent there through the store, to ``stage_dir``."""

    @property
    def local_copy(self) -> Path:
        """Where this machine sees the dependency's stage dir (its own, or the copy)."""
        return self.local_dir if self.local_dir is not None else Path(self.stage_dir)


@dataclass
class CaseInfo:
    """Where and as what a test instance runs; available as ``self.case``."""

    name: str
    id: str
    variant: str
    system: str
    partition: str
    environment: str
    stage_dir: Path
    output_dir: Path
    attempt: int = 1
    env_config: Environment | None = None
    dependencies: list[DependencyInfo] = field(default_factory=list)
    artifacts: dict[str, PurePath] = field(default_factory=dict)
    job_dir: PurePath | None = None
    """Where the case's jobs run and see its files, when not ``stage_dir`` (a remote
    partition: a path on the remote host; ``stage_dir`` is this machine's copy, sent
    there before the build and run, and holding what came back after)."""


_FIELD_NAME = re.compile(r"\{\{(\w+)\}\}|\{(\w+)\}")


class Test(Fields):
    """Base class of every assay test.

    Subclasses set class attributes (``command``, ``build``, ``tags``...), declare
    parameters with :func:`assay.parameter` and variables with
    :func:`assay.variable`, and may define ``sanity(self, out)``, metric methods
    (``@assay.metric``) and stage hooks (``@assay.before`` / ``@assay.after``).
    See docs/test-api.md for every field.
    """

    _assay: ClassVar[Definition]

    # The built-in fields (tags, command, time_limit...) are declared in assay.define.fields.
    abstract: ClassVar[bool] = True

    # Set on each instance by the pipeline.
    case: CaseInfo
    params: dict[str, Any]

    if not TYPE_CHECKING:  # hidden from type checkers, which would then allow any attribute

        def __setattr__(self, name: str, value: Any) -> None:
            # A duration is decoded when it is set (by bind, __init__ or a hook), so the
            # pipeline reads seconds; a bad value fails the code that set it, by name.
            if name in DECODERS:
                value = decode(name, value)
            super().__setattr__(name, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        file, line = _definition_site(cls)
        cls._assay = define(cls, file, line)
        site = vars(cls).get("__assay_site__")
        if site is not None and len(site) > 2:
            cls._assay.key = site[2]

    def sanity(self, out: Output) -> None:
        """Check the output; raise (``out.expect`` does) if it is wrong. Default: nothing more
        than the exit code check."""

    # -- helpers for hooks and methods -------------------------------------------------------

    def format(self, text: str, *, quote: bool = True) -> str:
        """Replace ``{name}`` for every parameter, variable and resource field in ``text``.

        With ``quote`` (the default, for shell commands) values are shell-quoted;
        lists become several quoted words. Unknown ``{...}`` (e.g. ``${HOME}``) is
        left alone; ``{{name}}`` is a literal ``{name}``.
        """
        if "{" not in text:  # nothing to replace (a suite case's command, its source dir)
            return text
        values = self._format_values()
        unknown: list[str] = []

        def replace(match: re.Match[str]) -> str:
            literal, name = match.groups()
            if literal is not None:
                known = literal in values or _own_value(self, literal) is not None
                return "{" + literal + "}" if known else match.group(0)
            if name in values:
                value = values[name]
            else:
                value = _own_value(self, name)
                if value is None:
                    if text[match.start() - 1 : match.start()] != "$":  # (not the shell's)
                        unknown.append(name)
                    return match.group(0)
            if not quote:
                if isinstance(value, list | tuple):
                    return " ".join(str(v) for v in value)
                return str(value)
            try:
                return shell.join(value) if isinstance(value, list | tuple) else shell.quote(value)
            except shell.UnsafeValue as exc:
                raise shell.UnsafeValue(f"{{{name}}} = {value!r}: {exc}") from None

        formatted = _FIELD_NAME.sub(replace, text)
        if unknown:
            _misspelt(self, unknown, values)
        return formatted

    def _format_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "tasks": effective_tasks(self.tasks, self.nodes, self.tasks_per_node),
            "nodes": self.nodes,
            "cpus_per_task": self.cpus_per_task,
            "tasks_per_node": self.tasks_per_node,
        }
        case = getattr(self, "case", None)
        if case is not None:
            values.update(
                system=case.system,
                partition=case.partition,
                environment=case.environment,
                stage_dir=str(case.job_dir or case.stage_dir),  # as commands see it
            )
        for name in self._assay.variables:
            values[name] = getattr(self, name)
        values.update(self.params)
        return values

    def dependencies(self, test: str | type[Test]) -> list[DependencyInfo]:
        """The cases of ``test`` this case depends on (all its variants on this partition)."""
        name = test if isinstance(test, str) else test.__name__
        found = [d for d in self.case.dependencies if d.test == name]
        if not found:
            known = sorted({d.test for d in self.case.dependencies}) or ["none"]
            raise LookupError(
                f"{type(self).__name__} has no dependency {name!r}; "
                f"it depends on {', '.join(known)}"
            )
        return found

    def dependency(self, test: str | type[Test], **params: Any) -> DependencyInfo:
        """The one case of ``test`` (narrowed by parameter values) this case depends on."""
        found = [
            d
            for d in self.dependencies(test)
            if all(d.params.get(k) == v for k, v in params.items())
        ]
        if len(found) != 1:
            names = ", ".join(d.name for d in found) or "none"
            raise LookupError(
                f"dependency({test!r}, {params}) matches {len(found)} cases ({names}); "
                f"pass parameter values to pick one"
            )
        return found[0]

    @property
    def stage_dir(self) -> Path:
        """The directory this case builds and runs in."""
        return self.case.stage_dir

    def __repr__(self) -> str:
        case = getattr(self, "case", None)
        return f"<{case.name if case else type(self).__name__}>"


_SCALAR = (str, int, float)  # (bool is an int)


def _own_value(test: Test, name: str) -> Any:
    """The value of ``name`` when it is one of the test's own attributes holding plain data
    (``executable = "./app"``, a property returning a number), else None: ReFrame's
    ``executable`` and Python's habits use ``{name}`` that way. A dict, an object or a
    method stays ``{name}``, as any unknown name does."""
    cls = type(test)
    names = _OWN_NAMES.get(cls)
    if names is None:
        names = _OWN_NAMES[cls] = _own_names(cls)
    if name not in names:
        return None
    try:
        value = getattr(test, name)
    except Exception:  # (a property that fails: left alone, as an unknown name)
        return None
    if isinstance(value, _SCALAR):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, _SCALAR) for v in value):
        return value
    return None


class MisspeltName(shell.UnsafeValue):
    """A ``{name}`` in a command that names nothing but resembles a parameter, variable or
    field: it would stay as written, unnoticed until the job ran ``echo {sise}``."""


def _misspelt(test: Test, unknown: list[str], values: Mapping[str, Any]) -> None:
    """Raise :class:`MisspeltName` for the first of ``unknown`` that resembles one of
    ``values``' names. What the test's code set on the instance (a command made in
    ``__init__`` or a hook) is only seen here, when the case's scripts are written; the
    class's own commands were checked when it was defined (the same rule)."""
    import difflib  # (only for a name left as written: rare)

    known = set(dir(type(test))) | set(vars(test))
    for name in dict.fromkeys(unknown):
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(values), n=1, cutoff=0.75)
        if close:
            raise MisspeltName(
                f"{{{name}}} names no parameter, variable or field, so it would stay as "
                f"written; did you mean {{{close[0]}}}? ({{{{{name}}}}} is the literal text)"
            )


_OWN_NAMES: dict[type, frozenset[str]] = {}  # (per class: computed once)


def _own_names(cls: type) -> frozenset[str]:
    """The attributes the classes of ``cls`` below :class:`Test` define that are neither
    fields nor methods: what ``{name}`` may name beside parameters and variables."""
    names = set()
    for klass in cls.__mro__:
        if klass is Test or not issubclass(klass, Test):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in FIELDS:
                continue
            if isinstance(value, property) or not (
                callable(value) or isinstance(value, staticmethod | classmethod)
            ):
                names.add(name)
    return frozenset(names)


def builtin_name(name: str) -> bool:
    """Whether ``name`` is taken by the Test API (a field, a method), so that a suite's
    variable, metric or parameter cannot have it."""
    return name in FIELDS or name in vars(Test)


def effective_tasks(tasks: Any, nodes: Any, tasks_per_node: Any) -> int:
    """The task count a case runs with: ``tasks`` if set, else ``tasks_per_node`` (default
    one) on each of ``nodes`` (default one)."""
    if tasks:
        return int(tasks)
    return int(nodes or 1) * int(tasks_per_node or 1)


def effective_nodes(nodes: Any, tasks: Any, tasks_per_node: Any) -> int:
    """The node count a case runs on: ``nodes`` if set, else as many as ``tasks`` need at
    ``tasks_per_node`` each, else one."""
    if nodes:
        return int(nodes)
    if tasks_per_node:
        return math.ceil(int(tasks or 1) / int(tasks_per_node))
    return 1


def _definition_site(cls: type) -> tuple[str | None, int | None]:
    """File and line of the ``class`` statement (cheaply: from the defining frame), or the
    ``__assay_site__`` a generated class (a compiled suite) names."""
    site = vars(cls).get("__assay_site__")
    if site is not None:
        return site[0], site[1]
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    frame: FrameType | None = sys._getframe(2)  # <- __init_subclass__ <- the class statement
    while frame is not None and frame.f_code.co_filename != file:
        frame = frame.f_back
    if frame is None:
        return file, None
    return file, frame.f_lineno


def bind(
    cls: type[Test],
    params: Mapping[str, Any],
    variables: Mapping[str, Any],
    case: CaseInfo,
    fields: Mapping[str, Any] | None = None,
) -> Test:
    """Create the instance that runs one case: private copies of mutable fields, the
    variant's own fields, parameters and variables set as attributes, then the class's own
    ``__init__``."""
    obj = cls.__new__(cls)
    fields = fields or {}
    definition = cls._assay
    # Every value is gathered in one dict, in the order the attributes were set one by one
    # (a later one replaces an earlier one), and lands in the instance's __dict__ at once:
    # about twenty setattr calls through Test.__setattr__ per case were the dearest part
    # of binding. What __setattr__ did, decoding durations, is done here.
    values: dict[str, Any] = {name: v for name, v in fields.items() if name != "tags"}
    values["tags"] = set(_as_list(cls.tags)) | set(_as_list(fields.get("tags")))
    values["systems"] = _as_list(fields.get("systems", cls.systems))
    values["environments"] = _as_list(fields.get("environments", cls.environments))
    values["sources"] = None if cls.sources is None else _as_list(cls.sources)
    values["exclude_sources"] = _as_list(cls.exclude_sources)
    values["writable"] = _as_list(cls.writable)
    values["build"] = None if cls.build is None else _as_list(cls.build)
    values["prerun"] = _as_list(fields.get("prerun", cls.prerun))
    values["postrun"] = _as_list(fields.get("postrun", cls.postrun))
    values["keep_files"] = _as_list(fields.get("keep_files", cls.keep_files))
    values["maintainers"] = _as_list(cls.maintainers)
    values["env"] = dict(fields.get("env", cls.env))
    values["artifacts"] = dict(cls.artifacts)
    values["references"] = {k: dict(v) for k, v in dict(cls.references).items()}
    depends = cls.depends_on  # a name or a class alone, or a list of them
    values["depends_on"] = [depends] if isinstance(depends, str | type) else list(depends)
    values["params"] = dict(params)
    for name, value in definition.variables.items():
        values[name] = variables.get(name, value.default)
    for name, value in variables.items():  # built-in fields overridden with -S
        if name not in definition.variables:
            values[name] = value
    values.update(params)
    values["case"] = case
    if type(obj).__setattr__ is Test.__setattr__:
        for name in DECODERS:
            if name in values:
                values[name] = decode(name, values[name])
        obj.__dict__.update(values)
    else:  # the test class sets attributes its own way: every value goes through it
        for name, value in values.items():
            setattr(obj, name, value)
    init = cls.__init__
    if init is not object.__init__:
        init(obj)
    return obj


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


__all__ = ["CaseInfo", "DependencyInfo", "Ref", "Test", "bind"]
