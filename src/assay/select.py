"""Which variants and cases a run includes: names, tags, parameters, partitions, environments."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.define.test import Test
from assay.errors import UsageError, did_you_mean


def _compile(patterns: Sequence[str]) -> tuple[re.Pattern[str] | None, ...]:
    """Each pattern as a regex, or None where it is none (it can still be a literal name)."""
    out: list[re.Pattern[str] | None] = []
    for pattern in patterns:
        try:
            out.append(re.compile(pattern))
        except (re.error, OverflowError, RecursionError):
            out.append(None)
    return tuple(out)


NO_TESTS_HINT = (
    "a test is a class that subclasses assay.Test in a .py file that imports assay "
    "(docs/test-api.md), or a NAME.suite.toml file (docs/suites.md); pytest's test functions "
    "are not assay tests"
)


def nothing_matched_hint(names: Sequence[str], where: str, tests: Sequence[str] = ()) -> str:
    """The hint of a selection that matched no case: what to check (``where``), and, for a
    name pattern anchored with ``$``, that a case's name goes on past the test's name; for
    a ``-n`` that matches no loaded test (of ``tests``), the names it resembles."""
    anchored = [n for n in names if n.endswith("$") and not n.endswith("]$")]
    if not anchored:
        return where + _no_such_test(names, tests)
    return (
        f"{where}; a case's name goes on after its test's: its parameters and place, as in "
        f"'Test[i=3] @system:partition+environment', so -n {anchored[0]!r} matches none; "
        "drop the '$'"
    )


def _no_such_test(names: Sequence[str], tests: Sequence[str]) -> str:
    """``; -n 'EchoTest2' matches no test; did you mean 'EchoTestV1'?`` for the first name
    given as plain text that is in no test's name (a typo), or the tests there are, when
    few."""
    for name in names:
        # (A pattern with regex syntax may aim at parameters or places: not a test's name.)
        if _has_metacharacters(name) or any(name in test for test in tests):
            continue
        if re.fullmatch(r"/[0-9a-fA-F]{1,40}", name):  # ReFrame's -n /HASH
            return (
                f"; -n {name!r} matches no test; ReFrame's -n /HASH is assay's --case ID "
                "(`assay list` prints each case's id)"
            )
        test, percent, param = name.partition("%")
        if percent and "=" in param:  # ReFrame's name of a variant: stream_test%threads=2
            return (
                f"; -n {name!r} matches no test; ReFrame's TEST%PARAM=VALUE is assay's "
                f"-n {test} -P {param.split('%')[0]} (variants are named TEST[PARAM=VALUE,...])"
            )
        from difflib import get_close_matches  # lazy: a mistyped name only

        close = get_close_matches(name, sorted(set(tests)), n=3, cutoff=0.6)
        if close:
            return f"; -n {name!r} matches no test; did you mean {' or '.join(map(repr, close))}?"
        if tests and len(set(tests)) <= 10:
            return f"; -n {name!r} matches no test; the tests are {', '.join(sorted(set(tests)))}"
        return f"; -n {name!r} matches no test"
    return ""


def _has_metacharacters(pattern: str) -> bool:
    """Whether the pattern means something else as a regex than as text."""
    return re.escape(pattern) != pattern.replace(" ", "\\ ")


def _param_filters(pairs: Sequence[str]) -> dict[str, set[str]]:
    filters: dict[str, set[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"-P {pair}: expected NAME=VALUE (e.g. -P threads=2)")
        filters.setdefault(name, set()).add(value)
    return filters


@dataclass(frozen=True)
class Selection:
    """What the user asked to run. Empty criteria select everything.

    Repeated ``names`` and ``ids`` are alternatives; repeated ``tags`` must all
    hold; ``-P`` values for the same parameter are alternatives, different
    parameters must all hold.
    """

    names: Sequence[str] = ()
    exclude: Sequence[str] = ()
    tags: Sequence[str] = ()
    exclude_tags: Sequence[str] = ()
    params: Sequence[str] = ()
    partitions: Sequence[str] = ()
    environments: Sequence[str] = ()
    ids: Sequence[str] = ()
    literal: frozenset[str] = frozenset()
    """Patterns of ``names`` and ``exclude`` that are names as written (see ``resolve``)."""
    _names: tuple[re.Pattern[str] | None, ...] = field(init=False, repr=False)
    _exclude: tuple[re.Pattern[str] | None, ...] = field(init=False, repr=False)
    _params: dict[str, set[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", _compile(self.names))
        object.__setattr__(self, "_exclude", _compile(self.exclude))
        object.__setattr__(self, "_params", _param_filters(self.params))

    def resolve(self, variant_names: Iterable[str], suffixes: Iterable[str]) -> Selection:
        """This selection, where a ``-n``/``-x`` pattern that occurs as written in a case's
        name means that text (so a name pasted from assay's output, brackets and all,
        selects its case); the others are regular expressions. A pattern with `` @`` is
        held against the whole case name (``Test[p=1] @system:partition+environment``),
        others against variant names. ``suffixes``: the `` @partition+environment`` parts
        case names can have."""
        candidates = [
            p
            for p, regex in zip(
                (*self.names, *self.exclude), (*self._names, *self._exclude), strict=True
            )
            if regex is None or _has_metacharacters(p)
        ]
        literal: set[str] = set()
        if candidates:
            variants = list(variant_names)
            ends = list(suffixes)
            for pattern in candidates:
                if _occurs(pattern, variants, ends):
                    literal.add(pattern)
        for option, patterns, compiled in (
            ("-n", self.names, self._names),
            ("-x", self.exclude, self._exclude),
        ):
            for pattern, regex in zip(patterns, compiled, strict=True):
                if regex is None and pattern not in literal:
                    _check_regex(pattern, option)
        return dataclasses.replace(self, literal=frozenset(literal))

    def _match(
        self, pattern: str, regex: re.Pattern[str] | None, variant: str, case: str | None
    ) -> bool | None:
        """Whether a name pattern matches (None: not known before the case name is)."""
        if pattern in self.literal or regex is None:
            if " @" not in pattern:
                return pattern in variant
            return None if case is None else pattern in case
        return regex.search(variant) is not None

    def test_ok(self, test: type[Test]) -> bool:
        """Class-level checks (cheap, done once per test)."""
        return self.tags_ok(set(_as_tuple(test.tags)))

    def tags_ok(self, tags: set[str]) -> bool:
        if any(t not in tags for t in self.tags):
            return False
        return not any(t in tags for t in self.exclude_tags)

    def params_known(self, tests: Sequence[type[Test]]) -> None:
        """Fail clearly when ``-P`` names a parameter no selected test has."""
        known = {p.name for t in tests for p in t._assay.space.params}
        for name in self._params:
            if name not in known:
                raise UsageError(
                    f"-P {name}=...: no selected test has a parameter {name!r}"
                    f"{did_you_mean(name, known)}",
                    hint=f"parameters: {', '.join(sorted(known)) or 'none'}",
                )

    def variant_ok(self, name: str, labels: dict[str, str]) -> bool:
        """Names and parameters (a pattern held against whole case names waits for
        :meth:`case_ok`)."""
        if not self._names_ok(name, None):
            return False
        return all(labels.get(param) in values for param, values in self._params.items())

    def case_ok(self, variant: str, case: str) -> bool:
        """The name patterns that need the whole case name (`` @...``)."""
        return self._names_ok(variant, case)

    def _names_ok(self, variant: str, case: str | None) -> bool:
        if self.names:
            found = [
                self._match(p, r, variant, case)
                for p, r in zip(self.names, self._names, strict=True)
            ]
            if not any(f is None or f for f in found):
                return False
        return not any(
            self._match(p, r, variant, case)
            for p, r in zip(self.exclude, self._exclude, strict=True)
        )

    def partition_ok(self, system: str, partition: str) -> bool:
        if not self.partitions:
            return True
        full = f"{system}:{partition}"
        return any(fnmatch.fnmatchcase(full if ":" in p else partition, p) for p in self.partitions)

    def environment_ok(self, environment: str) -> bool:
        return not self.environments or any(
            fnmatch.fnmatchcase(environment, p) for p in self.environments
        )

    def id_ok(self, case_id: str) -> bool:
        return not self.ids or any(case_id.startswith(i.lower()) for i in self.ids)


def _occurs(pattern: str, variants: Sequence[str], suffixes: Sequence[str]) -> bool:
    """Whether ``pattern`` occurs as written in a variant name (or, with `` @``, in a case
    name: a variant name then one of the suffixes)."""
    if " @" not in pattern:
        return any(pattern in v for v in variants)
    head, _, tail = pattern.partition(" @")
    return any(v.endswith(head) for v in variants) and any(
        s.startswith(f" @{tail}") for s in suffixes
    )


def _check_regex(pattern: str, option: str) -> None:
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise UsageError(
            f"{option} {pattern!r}: not a valid regular expression ({exc}), and no case's name "
            "contains it as written"
        ) from None


def last_failed(prefix: Path) -> list[str]:
    """Ids of the cases that failed or were aborted in the newest session under ``prefix``."""
    report = prefix / "latest" / "report.json"
    import json  # (here: no run needs it before its first case)

    try:
        data = json.loads(report.read_text())
        ids = [c["id"] for c in data["cases"] if c["status"] in ("failed", "aborted")]
    except FileNotFoundError:
        raise UsageError(
            f"--failed: no earlier session under {prefix} ({report} is missing)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--failed: cannot read {report}: {exc}") from None
    if not ids:
        raise UsageError(f"--failed: nothing failed in the last session ({report})")
    return ids


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)
