"""Parameters (what makes variants) and variables (what users override with ``-S``).

Variants are never materialised up front: :class:`ParameterSpace` walks the
cartesian product of its axes lazily, so listing or selecting thousands of
variants costs a tuple per variant, not an object per test.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from assay.guard import Interrupted, exception_text, safe_repr

T = TypeVar("T")

_MISSING: Any = object()

MAX_VARIANTS = 1_000_000
"""The most variants one test's parameters may make (before excludes and filters, which
are asked of every combination): a product past it is a mistake, and walking it would
keep the planner busy for hours (1,000 x 1,000 x 1,000 values once did, silently)."""


def too_many_variants(sizes: Mapping[str, int]) -> str | None:
    """What is wrong when parameters of these sizes (name: values, zipped groups as one
    entry) make more than :data:`MAX_VARIANTS` combinations, else None."""
    total = 1
    for size in sizes.values():
        total *= size
    if total <= MAX_VARIANTS:
        return None
    product = " x ".join(f"{name}: {size:,}" for name, size in sizes.items())
    return (
        f"the parameters make {total:,} variants ({product}), more than the {MAX_VARIANTS:,} "
        "one test may have; give them fewer values, or split the test into several"
    )


def format_value(value: object) -> str:
    """How a parameter value appears in case names and ``-P`` selections."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str | int | bool) or value is None:
        return str(value)
    if isinstance(value, list | tuple):
        return "(" + ",".join(format_value(v) for v in value) + ")"
    return repr(value)


class Parameter:
    """A test attribute whose values multiply the test into variants.

    Created with :func:`assay.parameter`. Parameters that share a ``group`` are
    zipped (their i-th values go together) instead of multiplied.
    """

    def __init__(
        self,
        values: Iterable[Any],
        *,
        group: str | None = None,
        fmt: Callable[[Any], str] | None = None,
    ) -> None:
        # A single value or a string (one variant per character) is a mistake reported with
        # the test's other problems, not an exception that makes the whole file unloadable.
        self.given: object = _MISSING
        try:
            if isinstance(values, str | bytes):
                raise TypeError
            self.values: tuple[Any, ...] = tuple(values)
        except TypeError:
            self.given, self.values = values, ()
        self.group = group
        self.fmt = fmt
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def label(self, value: object) -> str:
        """The text of ``value`` in case names."""
        return self.fmt(value) if self.fmt else format_value(value)

    def problems(self) -> list[str]:
        """What is wrong with this parameter's definition, if anything."""
        out = []
        if self.given is not _MISSING:
            shown = safe_repr(self.given)
            kind = "a string" if isinstance(self.given, str | bytes) else "one value"
            out.append(
                f"parameter {self.name!r} takes a list of values, got {kind}, {shown}; "
                f"write assay.parameter([{shown}])"
            )
        elif not self.values:
            out.append(f"parameter {self.name!r} has no values; give at least one")
        labels: dict[str, Any] = {}
        for value in self.values:
            try:
                text = self.label(value)
            except Interrupted:
                raise
            except BaseException as exc:  # a user's fmt function may fail, even sys.exit()
                shown = safe_repr(value)
                out.append(f"parameter {self.name!r}: fmt({shown}) raised {exception_text(exc)}")
                continue
            try:
                text.encode()
            except UnicodeEncodeError:  # a lone surrogate: no report, database or XML holds it
                out.append(
                    f"parameter {self.name!r}: value {safe_repr(value)} prints as {text!r}, "
                    "which is not UTF-8 text (a file name in another encoding, as os.listdir "
                    "gives it); give the value as text, or pass fmt= to print it as text"
                )
                continue
            # (A zipped parameter repeats a value in several rows: only other values clash.)
            if text in labels and (self.group is None or labels[text] != value):
                out.append(
                    f"parameter {self.name!r}: values {labels[text]!r} and {value!r} both print as "
                    f"{text!r}; case names would clash (pass fmt= to tell them apart)"
                )
            labels[text] = value
        return out

    def __repr__(self) -> str:
        return f"parameter({list(self.values)!r})"


def parameter(
    values: Iterable[T],
    *,
    group: str | None = None,
    fmt: Callable[[T], str] | None = None,
) -> T:
    """Declare a parameter: one variant of the test per value.

    Several parameters multiply (cartesian product); parameters with the same
    ``group`` name are zipped and must have equal lengths. ``fmt`` turns a value
    into the text shown in case names (default: ``str`` for plain values).
    """
    return Parameter(values, group=group, fmt=fmt)  # type: ignore[return-value]


@dataclass(frozen=True)
class Variable:
    """A test attribute with a default that users override from the command line."""

    type: type
    default: Any = _MISSING
    help: str = ""
    choices: tuple[Any, ...] | None = None
    name: str = field(default="", compare=False)

    def parse(self, text: str) -> Any:
        """Convert ``-S name=text`` into this variable's type, or raise ``ValueError``."""
        value = convert_text(text, self.type)
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(format_value(c) for c in self.choices)
            raise ValueError(f"{text!r} is not one of the allowed values: {allowed}")
        return value


class _VariableDescriptor:
    """What ``assay.variable(...)`` puts in a class body; replaced by its default on use."""

    def __init__(self, var: Variable) -> None:
        self.var = var

    def __set_name__(self, owner: type, name: str) -> None:
        object.__setattr__(self.var, "name", name)


def variable(
    type: type[T],
    default: T = _MISSING,
    *,
    help: str = "",
    choices: Sequence[T] | None = None,
) -> T:
    """Declare a variable: a typed value with a default, overridable with ``-S name=value``.

    ``type`` is one of ``int``, ``float``, ``str``, ``bool`` or ``list`` (comma-separated
    strings on the command line).
    """
    if type not in _CONVERTERS:
        raise TypeError(f"variable type must be one of int, float, str, bool, list; got {type!r}")
    var = Variable(type, default, help, tuple(choices) if choices is not None else None)
    return _VariableDescriptor(var)  # type: ignore[return-value]


def _to_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean; use true/false, yes/no, on/off or 1/0")


def _to_int(text: str) -> int:
    try:
        return int(text.strip())  # base 10, leading zeros allowed ("08")
    except ValueError:
        pass
    try:
        return int(text.strip(), 0)  # 0x1f, 0o17, 0b101
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _to_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


_CONVERTERS: dict[type, Callable[[str], Any]] = {
    int: _to_int,
    float: _to_float,
    str: str,
    bool: _to_bool,
    list: _to_list,
}


def convert_text(text: str, typ: type) -> Any:
    """Convert command-line text into ``typ`` (int, float, str, bool, list)."""
    return _CONVERTERS[typ](text)


class Axis(msgspec.Struct, frozen=True):
    """One dimension of a parameter space: a single parameter or a zipped group."""

    params: tuple[Parameter, ...]

    def __len__(self) -> int:
        return len(self.params[0].values)

    def rows(self) -> Iterator[tuple[Any, ...]]:
        return zip(*(p.values for p in self.params), strict=True)


class ParameterSpace:
    """The lazily enumerated variants of one test class.

    ``excludes`` are partial assignments (``{"a": 3, "b": "x"}``) whose matching
    combinations are dropped; ``filters`` are functions taking the parameters
    they name as keyword arguments and returning whether to keep a combination.
    """

    def __init__(
        self,
        params: Sequence[Parameter],
        excludes: Sequence[Any] = (),
        filters: Sequence[Callable[..., bool]] = (),
    ) -> None:
        self.params = tuple(params)
        self.names = tuple(p.name for p in self.params)
        self.excludes = tuple(excludes)
        self.filters = tuple(filters)
        axes: list[list[Parameter]] = []
        group_index: dict[str, int] = {}
        for p in self.params:
            if p.group is None:
                axes.append([p])
            elif p.group in group_index:
                axes[group_index[p.group]].append(p)
            else:
                group_index[p.group] = len(axes)
                axes.append([p])
        self.axes = tuple(Axis(tuple(ps)) for ps in axes)
        # The order of names in each combination follows the axes.
        self._order = tuple(p for a in self.axes for p in a.params)
        self._position = [self._order.index(p) for p in self.params]
        self._filter_args = [_filter_arg_names(f) for f in self.filters]

    def problems(self) -> list[str]:
        """Definition problems: empty parameters, zipped groups of unequal length, bad excludes."""
        out: list[str] = []
        for p in self.params:
            out.extend(p.problems())
        for axis in self.axes:
            lengths = {p.name: len(p.values) for p in axis.params}
            if len(set(lengths.values())) > 1:
                desc = ", ".join(f"{n} has {n_}" for n, n_ in lengths.items())
                out.append(
                    f"zipped parameters of group {axis.params[0].group!r} must have equal "
                    f"lengths: {desc}"
                )
        if not out:  # (zipped groups of equal lengths: each axis has one size)
            sizes = {"+".join(p.name for p in a.params): len(a) for a in self.axes}
            problem = too_many_variants(sizes)
            if problem is not None:
                out.append(problem)
        for exclude in self.excludes:
            if not isinstance(exclude, Mapping):
                out.append(f"exclude entries must be dicts of parameter values, got {exclude!r}")
                continue
            unknown = [k for k in exclude if k not in self.names]
            if unknown:
                out.append(
                    f"exclude {dict(exclude)!r} names unknown parameter(s) {unknown}; "
                    f"parameters are {list(self.names)}"
                )
        for func, args in zip(self.filters, self._filter_args, strict=True):
            unknown = [a for a in args if a not in self.names]
            if unknown:
                out.append(
                    f"variant filter {func.__name__!r} takes {unknown} which are not parameters; "
                    f"parameters are {list(self.names)}"
                )
        return out

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """Yield value tuples in declaration order of the parameters."""
        for values, _ in self.labeled():
            yield values

    def labeled(self) -> Iterator[tuple[tuple[Any, ...], tuple[str, ...]]]:
        """Yield (values, labels) in declaration order; each label is computed once."""
        if not self.params:
            yield (), ()
            return
        position = self._position
        axes = [
            [
                (row, tuple(p.label(v) for p, v in zip(a.params, row, strict=True)))
                for row in a.rows()
            ]
            for a in self.axes
        ]
        for combo in itertools.product(*axes):
            flat = [v for row, _ in combo for v in row]
            values = tuple(flat[i] for i in position)
            if self._keep(values):
                flat_labels = [t for _, labels in combo for t in labels]
                yield values, tuple(flat_labels[i] for i in position)

    def _keep(self, values: tuple[Any, ...]) -> bool:
        if not self.excludes and not self.filters:
            return True
        named = dict(zip(self.names, values, strict=True))
        for exclude in self.excludes:
            if all(named.get(k, _MISSING) == v for k, v in exclude.items()):
                return False
        for func, args in zip(self.filters, self._filter_args, strict=True):
            if not func(**{a: named[a] for a in args}):
                return False
        return True

    def labels(self, values: tuple[Any, ...]) -> tuple[str, ...]:
        return tuple(p.label(v) for p, v in zip(self.params, values, strict=True))


def _filter_arg_names(func: Callable[..., bool]) -> tuple[str, ...]:
    sig = inspect.signature(func)
    return tuple(
        name
        for name, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def variant_name(test: str, names: Sequence[str], labels: Sequence[str]) -> str:
    """A variant's name: ``Test[p=v,q=w]`` (the test's own name without parameters)."""
    if not names:
        return test
    return f"{test}[{','.join(f'{n}={v}' for n, v in zip(names, labels, strict=True))}]"


def variant_fields(func: Callable[..., Mapping[str, Any]]) -> Callable[..., Mapping[str, Any]]:
    """Mark a function in a test class that gives per-variant values of built-in fields.

    It takes parameters by name and returns a dict of fields, evaluated when cases
    are planned (no test instance exists yet), so selection and placement use it::

        @assay.variant_fields
        def by_size(size):
            return {"tags": {"long"}, "time_limit": "2h"} if size > 1000 else {}

    Tags add to the class's tags; other fields replace the class's value.
    """
    func.__assay_variant_fields__ = True  # type: ignore[attr-defined]
    return staticmethod(func)


def variant_filter(func: Callable[..., bool]) -> Callable[..., bool]:
    """Mark a function in a test class that keeps (True) or drops (False) a combination.

    The function takes the parameters it cares about as keyword arguments::

        @assay.variant_filter
        def fits(size, nodes):
            return size >= nodes * 16
    """
    func.__assay_variant_filter__ = True  # type: ignore[attr-defined]
    return staticmethod(func)
