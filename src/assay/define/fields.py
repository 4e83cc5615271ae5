"""The built-in fields of a test, each declared once.

:class:`Fields` is the base of :class:`assay.Test`. Each field is one statement: the
annotation says what a test author may write (so editors and type checkers help), the value is
the default, and the :class:`Builtin` beside it says the rest: what it means, how it is
checked, how ``-S`` reads it, whether ``@assay.variant_fields`` may set it per variant, and
which key of a suite file sets it. Everything else reads this table: the checks of a test
class (:data:`CHECKS`), :data:`VARIANT_FIELDS`, the ``-S`` parsers (:data:`PARSERS`), the
suite compiler (:data:`SUITE_KEYS`), and the table in docs/test-api.md (``field_docs``).
"""

# No ``from __future__ import annotations``: the annotations are read when this module loads.

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import msgspec

from assay.define.field_checks import (
    Check,
    check_artifacts,
    check_bool,
    check_count,
    check_depends,
    check_duration,
    check_env,
    check_exclude,
    check_exit_codes,
    check_globs,
    check_opt_str,
    check_opt_strs,
    check_places,
    check_skip_exit_codes,
    check_strs,
    check_tags,
    checked_elsewhere,
    decode_duration,
    parse_count,
    parse_exit_codes,
    parse_flag,
    parse_int,
    same,
    shell_text,
    suite_exit_codes,
)
from assay.define.refs import Ref
from assay.durations import Duration
from assay.overrun import CODE_TIME_LIMIT

Strings: TypeAlias = str | Collection[str]
"""A string, or a list (tuple, set) of strings."""
DurationText: TypeAlias = Duration | str | int | float
"""A duration as written: seconds (``90``) or text (``"90s"``, ``"1h30m"``, ``"01:30:00"``)."""


class SuiteKey(msgspec.Struct, frozen=True):
    """The key of a suite file's ``[suite]`` table that sets a field, and how its value
    (already checked by the suite schema) becomes the field's."""

    key: str
    to_field: Callable[[Any], Any] = list
    field: str = ""  # filled in from the declaration


class Builtin(msgspec.Struct, frozen=True):
    """What assay knows about one built-in field besides its type and default."""

    doc: str
    kind: str  # the type in the words of docs/test-api.md
    check: Check
    parse: Callable[[str], Any] | None = None  # ``-S name=TEXT``; None: -S cannot set it
    decode: Callable[[Any], Any] | None = None  # a checked value into what code reads
    per_variant: bool = False  # ``@assay.variant_fields`` may set it
    suite: SuiteKey | None = None
    default_doc: str | None = None  # the docs' default, where the value says it badly
    name: str = ""  # filled in from the declaration
    default: Any = None  # filled in from the declaration


# What ``depends_on`` takes. To type checkers the names of tests or test classes; at run
# time nothing reads it (the field's Builtin says the rest), and the string form would be a
# forward reference that typing compiles as this module loads: the first compile() of a run
# sets up the ast module's classes (some 9 M instructions before the first case starts).
if TYPE_CHECKING:
    DependsOn: TypeAlias = "str | type[Fields] | Sequence[str | type[Fields]]"
else:
    DependsOn = Any


# --- the fields ------------------------------------------------------------------------------


class Fields:
    """The built-in fields every test has; see docs/test-api.md for the table."""

    # -- what the test is -------------------------------------------------------------------
    tags: Annotated[
        Collection[str],
        Builtin(
            "labels for selection (`-t perf`, `-T slow`)",
            "set of str",
            check_tags,
            per_variant=True,
            suite=SuiteKey("tags", set),
        ),
    ] = frozenset()
    maintainers: Annotated[Strings, Builtin("who to ask", "list of str", check_strs)] = ()
    systems: Annotated[
        Strings,
        Builtin(
            'where the test may run: `"cluster"` (all its partitions), `"cluster:gpu"`, `"*:cpu"`',
            "list of patterns",
            check_places,
            per_variant=True,
            suite=SuiteKey("partitions"),
        ),
    ] = ("*",)
    environments: Annotated[
        Strings,
        Builtin(
            'which programming environments: `"gnu"`, `"intel*"`',
            "list of patterns",
            check_places,
            per_variant=True,
            suite=SuiteKey("environments"),
        ),
    ] = ("*",)
    # -- what it does -----------------------------------------------------------------------
    sources: Annotated[
        Strings | None,
        Builtin(
            "files or directories (relative to the test file) copied into the stage dir; a "
            "directory's *contents* are copied; top-level names `assay-*` and `.assay-*` are "
            "assay's own (its scripts, outputs, fetcher) and fail the case at setup",
            "str or list",
            check_opt_strs,
        ),
    ] = None
    exclude_sources: Annotated[
        Strings,
        Builtin(
            (
                "globs (relative to each source: `./x` is `x`; an absolute glob or one with "
                "`..` is an error) left out of the stage dir"
            ),
            "list of globs",
            check_globs,
        ),
    ] = ()
    writable: Annotated[
        Strings,
        Builtin(
            (
                "globs of staged inputs (relative to each source, as `exclude_sources`) that "
                "get private, writable copies"
            ),
            "list of globs",
            check_globs,
            suite=SuiteKey("writable"),
        ),
    ] = ()
    build: Annotated[
        Strings | None,
        Builtin(
            "shell commands run in order with `set -e`; the first that fails (ends with a"
            " status other than 0, also `a && b` whose `a` fails) ends the build, and the"
            " failure names it; absent means run-only",
            "str or list",
            shell_text(check_opt_strs),
        ),
    ] = None
    artifacts: Annotated[
        Mapping[str, Strings],
        Builtin(
            "`name: layers`: an archive or directory, or a list (base first, overlays after), "
            "unpacked once per session and exported as `$ASSAY_NAME`; see below",
            "dict",
            check_artifacts,
        ),
    ] = {}
    command: Annotated[
        str | None,
        Builtin(
            "the shell command to run",
            "str",
            shell_text(check_opt_str),
            per_variant=True,
            suite=SuiteKey("command", str),
            default_doc="required",
        ),
    ] = None
    prerun: Annotated[
        Strings,
        Builtin(
            "shell commands run before `command`",
            "list of str",
            shell_text(check_strs),
            per_variant=True,
            suite=SuiteKey("prerun"),
        ),
    ] = ()
    postrun: Annotated[
        Strings,
        Builtin(
            "shell commands run after `command`; the case's exit code stays `command`'s",
            "list of str",
            shell_text(check_strs),
            per_variant=True,
            suite=SuiteKey("postrun"),
        ),
    ] = ()
    env: Annotated[
        Mapping[str, str | int | float],
        Builtin(
            "environment variables for build and run",
            "dict",
            shell_text(check_env),
            per_variant=True,
            suite=SuiteKey("env", dict),
        ),
    ] = {}
    keep_files: Annotated[
        Strings,
        Builtin(
            "files of the stage dir to keep in the output dir",
            "list of globs",
            check_strs,
            per_variant=True,
            suite=SuiteKey("keep_files"),
        ),
    ] = ()
    exit_codes: Annotated[
        int | Collection[int] | Literal["nonzero"] | None,
        Builtin(
            'exit codes that pass; `None` accepts any, `"nonzero"` any but 0 (not a signal); '
            "an empty set is refused",
            'int, set, `"nonzero"` or `None`',
            check_exit_codes,
            per_variant=True,
            suite=SuiteKey("exit_codes", suite_exit_codes),
        ),
    ] = 0
    skip_exit_codes: Annotated[
        Collection[int],
        Builtin(
            "exit codes that mean the case is *skipped* (automake's 77: a prerequisite is "
            "missing): its outputs and metrics are not checked and its reason is the "
            "command's last line of stderr (or stdout); a code also in `exit_codes`, or 0, "
            "is refused; `-S skip_exit_codes=77,5`",
            "list of int",
            check_skip_exit_codes,
            parse=parse_exit_codes,
            per_variant=True,
            suite=SuiteKey("skip_exit_codes"),
        ),
    ] = ()
    # -- what it needs ----------------------------------------------------------------------
    tasks: Annotated[
        int | None,
        Builtin(
            "number of tasks (processes) for the launcher; unset, one per node "
            "(`tasks_per_node` per node if that is set)",
            "int",
            check_count(1),
            suite=SuiteKey("tasks", same),
            parse=parse_count,
            per_variant=True,
        ),
    ] = None
    tasks_per_node: Annotated[
        int | None,
        Builtin(
            "tasks on each node",
            "int",
            check_count(1),
            suite=SuiteKey("tasks_per_node", same),
            parse=parse_count,
            per_variant=True,
        ),
    ] = None
    cpus_per_task: Annotated[
        int | None,
        Builtin(
            "CPUs for each task",
            "int",
            check_count(1),
            suite=SuiteKey("cpus_per_task", same),
            parse=parse_count,
            per_variant=True,
        ),
    ] = None
    nodes: Annotated[
        int | None,
        Builtin(
            "number of nodes; a case that needs more nodes than its partition has is "
            "skipped with the reason",
            "int",
            check_count(1),
            suite=SuiteKey("nodes", same),
            parse=parse_count,
            per_variant=True,
        ),
    ] = None
    gpus_per_node: Annotated[
        int | None,
        Builtin(
            "GPUs on each node; a case that needs more than its partition has is skipped "
            "with the reason",
            "int",
            check_count(0),
            parse=parse_int,
            per_variant=True,
        ),
    ] = None
    exclusive: Annotated[
        bool,
        Builtin(
            "ask for whole nodes",
            "bool",
            check_bool,
            parse=parse_flag,
            per_variant=True,
            suite=SuiteKey("exclusive", bool),
        ),
    ] = False
    time_limit: Annotated[
        DurationText | None,
        Builtin(
            "for the run stage; default: the partition's `time_limit`, else none",
            "duration",
            check_duration,
            parse=Duration,
            decode=decode_duration,
            per_variant=True,
            suite=SuiteKey("time_limit", same),
        ),
    ] = None
    build_time_limit: Annotated[
        DurationText | None,
        Builtin(
            "for the build stage",
            "duration",
            check_duration,
            parse=Duration,
            decode=decode_duration,
            per_variant=True,
        ),
    ] = None
    code_time_limit: Annotated[
        DurationText | None,
        Builtin(
            "for each call of the test's Python code (hooks, sanity, metrics) in assay's "
            "process, where every other case waits while it runs; `None`: no limit",
            "duration",
            check_duration,
            parse=Duration,
            decode=decode_duration,
            per_variant=True,
            suite=SuiteKey("code_time_limit", same),
            default_doc='`"5m"`',
        ),
    ] = Duration(CODE_TIME_LIMIT)
    # -- how it is judged and ordered -------------------------------------------------------
    references: Annotated[
        Mapping[str, Mapping[str, Ref | float | tuple[Any, ...]]],
        Builtin("performance references, see below", "dict", checked_elsewhere),
    ] = {}
    depends_on: Annotated[
        DependsOn,
        Builtin(
            "tests whose cases must pass first",
            "list of test names or classes",
            check_depends,
            suite=SuiteKey("depends_on"),
        ),
    ] = ()
    exclude: Annotated[
        Sequence[Mapping[str, Any]],
        Builtin(
            'parameter combinations to drop, e.g. `[{"size": 10, "mode": "fast"}]`',
            "list of dicts",
            check_exclude,
        ),
    ] = ()
    scaling: Annotated[
        str | None,
        Builtin(
            'the parameter (`"nodes"`, `"tasks"`) whose values form a scaling series: the '
            "report gets a speedup table",
            "str",
            check_opt_str,
        ),
    ] = None


def _declared() -> dict[str, Builtin]:
    found: dict[str, Builtin] = {}
    for name, annotation in Fields.__annotations__.items():
        metadata = getattr(annotation, "__metadata__", ())  # Annotated[type, Builtin(...)]
        (builtin,) = (m for m in metadata if isinstance(m, Builtin))
        suite = (
            None if builtin.suite is None else msgspec.structs.replace(builtin.suite, field=name)
        )
        found[name] = msgspec.structs.replace(
            builtin, name=name, default=getattr(Fields, name), suite=suite
        )
    return found


FIELDS: dict[str, Builtin] = _declared()
"""Every built-in field, in the order declared."""
CHECKS: dict[str, Check] = {name: f.check for name, f in FIELDS.items()}
"""How each built-in field is checked."""
VARIANT_FIELDS = frozenset(name for name, f in FIELDS.items() if f.per_variant)
"""Fields that ``@assay.variant_fields`` may set per variant."""
PARSERS: dict[str, Callable[[str], Any]] = {
    name: f.parse for name, f in FIELDS.items() if f.parse is not None
}
"""Fields that ``-S`` may set, and how their text is read."""
DECODERS: dict[str, Callable[[Any], Any]] = {
    name: f.decode for name, f in FIELDS.items() if f.decode is not None
}
"""Fields whose checked value is decoded once (durations), and how."""
SUITE_KEYS: dict[str, SuiteKey] = {f.suite.key: f.suite for f in FIELDS.values() if f.suite}
"""The keys of a suite file's ``[suite]`` table that set a built-in field."""

DOC_ONLY = {
    "abstract": ("bool", "`False`", "a base class meant to be subclassed, not run"),
}
"""Class attributes in the docs' table of fields that are not fields (not inherited,
not checked)."""


def decode(name: str, value: Any) -> Any:
    """``value`` as code reads the field ``name`` (a duration's seconds); raises
    ``ValueError`` naming the field when the value is not acceptable."""
    decoder = DECODERS.get(name)
    if decoder is None:
        return value
    problem = FIELDS[name].check(value)
    if problem:
        raise ValueError(f"{name} {problem}")
    return decoder(value)


def as_list(value: Strings | None) -> list[str]:
    """A field that takes a string or strings, as a list (``None`` is empty)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def duration(value: Any) -> Duration | None:
    """A duration field of a test: decoded when it was set (see ``Test.__setattr__``). A
    value that reached the attribute some other way (``object.__setattr__``, a class
    attribute set after the class was defined) is decoded here."""
    if value is None or isinstance(value, Duration):
        return value
    return Duration(value)


def show_default(builtin: Builtin) -> str:
    """The default of a field as the docs' table shows it."""
    if builtin.default_doc is not None:
        return builtin.default_doc
    value = builtin.default
    if isinstance(value, frozenset | set) and not value:
        return "`set()`"
    if isinstance(value, tuple | list):
        import json  # (here: no run needs it before its first case)

        return f"`{json.dumps(list(value))}`"
    return f"`{value!r}`"


__all__ = [
    "CHECKS",
    "DECODERS",
    "FIELDS",
    "PARSERS",
    "SUITE_KEYS",
    "VARIANT_FIELDS",
    "Builtin",
    "DurationText",
    "Fields",
    "Strings",
    "SuiteKey",
    "as_list",
    "decode",
    "duration",
]
