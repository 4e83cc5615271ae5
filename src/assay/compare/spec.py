"""Reading a spec: every problem as one line naming the key and the fix, or the ``Plan``."""

from __future__ import annotations

import fnmatch
import functools
import math
import os
import posixpath
import re
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .numeric import Tol
from .options import (
    FORMATS,
    MODES,
    STRINGS,
    WHITESPACE,
    Options,
    Plan,
    files_under,
    glob,
    json_strings,
    key_pattern,
    parents,
    relative,
)
from .result import VERSION

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

MAX_DIFFERENCES = 20
COMMAND_TIMEOUT = 600.0
_TOL_KEYS = ("rtol", "atol", "skip")
_OPTION_KEYS = ("mode", "whitespace", "strings", "rtol", "atol", "ignore", "fields")
_TOP_KEYS = (
    *("version", "actual", "expected", "files", "complete", "rules"),
    *("command", "command_timeout", "max_differences", "not_outputs", "tools", *_OPTION_KEYS),
)
_RULE_KEYS = (
    *("match", "format", "command", "columns", "key", "keys", "delimiter", "header"),
    *_OPTION_KEYS,
)


class Checker:
    """Reads a spec, collecting every problem as one line naming the key and the fix."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def known(self, obj: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in obj:
            if key not in allowed:
                self.problem(f"{where}{key}: unknown key; known keys: {', '.join(allowed)}")

    def number(self, obj: Mapping[str, Any], key: str, where: str, default: float) -> float:
        value = obj.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(f'{where}{key}: {_show(value)} is not a number; write e.g. "{key}": 1e-6')
            return default
        try:
            number = float(value)
        except OverflowError:  # an int beyond the float range
            number = math.inf
        if not (math.isfinite(number) and number >= 0):
            self.problem(f"{where}{key}: {_show(value)} must be a finite number >= 0")
            return default
        return number

    def strings(self, obj: Mapping[str, Any], key: str, where: str) -> list[str]:
        value = obj.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            try:  # (every element a str: one C call, not a Python step per element)
                "".join(value)
            except TypeError:
                pass
            else:
                return value
        self.problem(f'{where}{key}: must be a list of strings, e.g. "{key}": ["x"]')
        return []

    def regex(self, pattern: str, where: str) -> re.Pattern[str] | None:
        try:
            return re.compile(pattern)
        except (re.error, ValueError, OverflowError, RecursionError) as exc:
            self.problem(
                f"{where}: bad regex {pattern!r}: {exc}; fix the pattern "
                "(escape literal ( ) [ ] . * + ? with a backslash)"
            )
            return None

    def glob(self, pattern: str, where: str, make: Callable[[str], re.Pattern[str]]) -> Any:
        """``make(pattern)``, or None and a problem when it is no valid glob."""
        try:
            return make(pattern)
        except (re.error, ValueError, OverflowError, RecursionError) as exc:
            self.problem(f"{where}: bad glob {pattern!r}: {exc}; fix the [...] class")
            return None

    def tol(self, obj: Any, where: str, base: Tol, allowed: Sequence[str] = _TOL_KEYS) -> Tol:
        if not isinstance(obj, Mapping):
            self.problem(f'{where}: must be an object like {{"rtol": 1e-6}}, not {_show(obj)}')
            return base
        self.known(obj, allowed, f"{where}.")
        skip = obj.get("skip", False)
        if not isinstance(skip, bool):
            self.problem(f"{where}.skip: must be true or false")
        rtol = self.number(obj, "rtol", f"{where}.", base.rtol)
        return Tol(rtol, self.number(obj, "atol", f"{where}.", base.atol), skip is True)

    def tolerances(
        self, obj: Mapping[str, Any], key: str, where: str, base: Tol, make: Callable[[str], Any]
    ) -> tuple[tuple[Any, Tol], ...]:
        table = obj.get(key) or {}
        if not isinstance(table, Mapping):
            self.problem(f'{where}{key}: must be an object like {{"name": {{"rtol": 1e-6}}}}')
            return ()
        out = []
        for k, v in table.items():
            at = f"{where}{key}[{_show(k)}]"
            pattern = self.glob(k, at, make) if isinstance(k, str) else None
            if not isinstance(k, str):
                self.problem(f"{at}: the name must be a string")
            tol = self.tol(v, at, base)
            if pattern is not None:
                out.append((pattern, tol))
        return tuple(out)

    def options(self, obj: Mapping[str, Any], where: str, top: Options | None) -> Options:
        """The options of the top level (``top`` None) or of a rule (inheriting ``top``)."""
        rule = top is not None  # the top level's "command" is the root command, not a rule's
        top = top or Options()
        tol = Tol(
            self.number(obj, "rtol", where, top.tol.rtol),
            self.number(obj, "atol", where, top.tol.atol),
        )
        ignore = []
        for i, text in enumerate(self.strings(obj, "ignore", where)):
            regex = self.regex(text, f"{where}ignore[{i}]")
            if regex is not None:
                ignore.append(regex)
        fields = []
        raw = obj.get("fields") or []
        if not isinstance(raw, list):
            self.problem(f'{where}fields: must be a list like [{{"pattern": "e=(\\\\S+)"}}]')
            raw = []
        for i, spec in enumerate(raw):
            at = f"{where}fields[{i}]"
            pattern = spec.get("pattern") if isinstance(spec, Mapping) else None
            regex = self.regex(pattern, f"{at}.pattern") if isinstance(pattern, str) else None
            if not isinstance(pattern, str):
                self.problem(f'{at}.pattern: required, a regex like "energy\\\\s*=\\\\s*(\\\\S+)"')
            elif regex is not None and regex.groups < 1:
                self.problem(f"{at}.pattern: {pattern!r} has no group; put ( ) around the number")
            elif regex is not None:
                fields.append((regex, self.tol(spec, at, tol, ("pattern", *_TOL_KEYS))))
        fmt = obj.get("format")
        if fmt is not None and fmt not in FORMATS:
            self.problem(f"{where}format: {_show(fmt)} is not one of {', '.join(FORMATS)}")
        command = obj.get("command")
        if not rule:
            command = None
        elif command is not None and not isinstance(command, str):
            self.problem(f'{where}command: must be a string like "h5diff {{expected}} {{actual}}"')
        delimiter = obj.get("delimiter")
        if delimiter is not None and not (
            isinstance(delimiter, str) and len(delimiter) == 1 and delimiter not in '"\r\n'
        ):
            self.problem(f'{where}delimiter: must be one character, e.g. ";" or "\\t"')
        header = obj.get("header", True)
        if not isinstance(header, bool):
            self.problem(f"{where}header: must be true or false")
        exact = top.exact
        mode = obj.get("mode")
        if mode is not None and mode not in MODES:
            self.problem(
                f'{where}mode: {_show(mode)} is not one of {", ".join(MODES)} ("text": lines '
                'and values compare exactly as written; "numeric": numbers with tolerance)'
            )
        elif mode is not None:
            exact = mode == "text"
            numeric = [k for k in ("rtol", "atol", "fields") if obj.get(k)]
            if exact and numeric:
                self.problem(
                    f'{where}mode: "text" compares exactly, so {", ".join(numeric)} would '
                    'not apply; remove them, or use mode = "numeric"'
                )
        blanks = top.blanks
        whitespace = obj.get("whitespace")
        if whitespace is not None and whitespace not in WHITESPACE:
            self.problem(
                f"{where}whitespace: {_show(whitespace)} is not one of {', '.join(WHITESPACE)}"
                ' ("significant": indentation and spacing in a line count; "ignore": '
                "whitespace only separates tokens)"
            )
        elif whitespace is not None:
            blanks = whitespace == "significant"
            if exact and whitespace == "ignore":
                self.problem(
                    f'{where}whitespace: mode "text" compares lines exactly as written, so '
                    'whitespace = "ignore" would not apply; remove it, or use mode = "numeric"'
                )
        strings = top.strings
        if "strings" in obj:
            given = _show(obj["strings"])
            words = json_strings(obj["strings"])
            if words is None:
                self.problem(
                    f'{where}strings: {given} is not "text" or a list of {", ".join(STRINGS)} '
                    "(what a JSON string that is one on both sides is compared as; "
                    '"text": as written)'
                )
            elif exact and words:
                self.problem(
                    f'{where}strings: mode "text" compares strings as written, so {given} '
                    'would not apply; remove it, or use mode = "numeric"'
                )
            strings = words or ()
        return Options(
            format=fmt if fmt in FORMATS else None,
            tol=tol,
            ignore=top.ignore + tuple(ignore),
            fields=tuple(fields) + top.fields,
            columns=self.tolerances(obj, "columns", where, tol, _name_glob),
            key=tuple(self.strings(obj, "key", where)),
            keys=self.tolerances(obj, "keys", where, tol, key_pattern),
            delimiter=delimiter if isinstance(delimiter, str) else None,
            header=header is not False,
            command=command if isinstance(command, str) else None,
            exact=exact,
            blanks=blanks,
            strings=strings,
        )


class _Static:
    """What a spec says apart from its two roots and ``not_outputs``: checked once per
    distinct spec (a suite compares every case with the same one)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        check = Checker()
        check.known(spec, _TOP_KEYS, "")
        if spec.get("version") != VERSION:
            check.problem(
                f'version: {_show(spec.get("version"))} is not supported; write "version": 1'
            )
        self.head = check.problems  # (the roots' problems come next)
        check.problems = []
        limit = spec.get("max_differences", MAX_DIFFERENCES)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            check.problem(f"max_differences: {_show(limit)} must be an integer >= 0")
            limit = MAX_DIFFERENCES
        self.limit: int = limit
        self.timeout = check.number(spec, "command_timeout", "", COMMAND_TIMEOUT)
        if not self.timeout:
            check.problem("command_timeout: must be more than 0 seconds (default 600)")
        self.default = check.options(spec, "", None)
        for key in ("format", "columns", "key", "keys", "delimiter", "header"):
            if key in spec:
                check.problem(
                    f'{key}: belongs in a rule, e.g. "rules": [{{"match": "*.csv", ...}}]'
                )
        self.rules: list[tuple[re.Pattern[str], bool, Options]] = []
        raw_rules = spec.get("rules") or []
        if not isinstance(raw_rules, list):
            check.problem('rules: must be a list like [{"match": "*.csv", "rtol": 1e-6}]')
            raw_rules = []
        for i, rule in enumerate(raw_rules):
            where = f"rules[{i}]."
            if not isinstance(rule, Mapping) or not isinstance(rule.get("match"), str):
                check.problem(f'{where}match: required, a glob like "*.csv"')
                continue
            check.known(rule, _RULE_KEYS, where)
            match = relative(rule["match"])
            regex = check.glob(match, f"{where}match", glob)
            options = check.options(rule, where, self.default)
            if regex is not None:
                self.rules.append((regex, "/" in match, options))
        command = spec.get("command")
        if command is not None and not isinstance(command, str):
            check.problem('command: must be a string like "h5diff -r {expected} {actual}"')
        self.command: str | None = command if isinstance(command, str) else None
        tools = spec.get("tools")
        if tools is not None and not (isinstance(tools, str) and tools):
            check.problem('tools: must be the path of a directory, e.g. "/suite/tools"')
        self.tools: str | None = tools if isinstance(tools, str) and tools else None
        commands = [self.command, *(opt.command for _, _, opt in self.rules)]
        if self.tools is None and any(c and "{tools}" in c for c in commands):
            check.problem(
                "command: {tools} names the comparison's tools directory, which this spec "
                'does not give; in a suite file set [suite.compare] tools = "DIR" (a '
                "directory of the suite)"
            )
        self.has_files = "files" in spec
        # (copies: the cache must not see a caller change its lists)
        self.files = list(check.strings(spec, "files", ""))
        self.complete = list(check.strings(spec, "complete", ""))
        self.tail = check.problems
        # The globs of ``files``, each with the problem it makes if it is no valid glob
        # (reported once the spec's other problems are known not to stop it).
        self.globs: list[tuple[str, re.Pattern[str] | None, list[str]]] = []
        for pattern in self.files:
            one = Checker()
            self.globs.append((pattern, one.glob(relative(pattern), "files", glob), one.problems))
        # ``files`` that are all plain relative names (no glob character, nothing to
        # normalize): each case looks at those names, not at a listing of its expected dir.
        self.literal: tuple[str, ...] | None = None
        plain = all(plain_name(f) for f in self.files)
        if self.files and plain and not self.complete and self.command is None:
            self.literal = tuple(sorted(set(self.files)))


_CACHE: dict[Any, _Static] = {}
_CACHE_SIZE = 64
_PER_CASE = ("expected", "actual", "not_outputs")
_SCALARS = frozenset((str, int, float, bool, type(None)))


def _static(spec: Mapping[str, Any]) -> _Static:
    """The checked static part of ``spec``, from the cache when an equal spec was seen."""
    try:
        key = _key(spec)
        found = _CACHE.get(key)
    except TypeError:  # not hashable (no JSON value): not cached
        return _Static(spec)
    if found is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        found = _CACHE[key] = _Static(spec)
    return found


def _key(spec: Mapping[str, Any]) -> Any:
    """The cache key of ``spec`` without its per-case keys: equal only for equal specs of
    the same types (as :func:`_frozen`), its keys in the spec's order (another order of
    the same keys is another key: a miss, never a wrong hit). A value that is a scalar or
    a list of strings, as a suite's are, is frozen without a call per element."""
    items: list[tuple[Any, Any, Any]] = []
    for k, v in spec.items():
        if k in _PER_CASE:
            continue
        if type(k) is not str:  # (no spec's key, but 1 must not be True)
            k = _frozen(k)
        kind = type(v)
        if kind in _SCALARS:
            items.append((k, kind, v))
        elif kind is list and all(type(x) is str for x in v):
            items.append((k, "[s", tuple(v)))
        else:
            items.append((k, None, _frozen(v)))
    return tuple(items)


@functools.lru_cache(maxsize=16)
def _normalized(names: tuple[str, ...]) -> tuple[str, ...]:
    """``not_outputs`` as relative normal paths (the same few lists, case after case)."""
    return tuple(posixpath.normpath(relative(n)) for n in names)


def _frozen(value: Any) -> Any:
    """A hashable twin of a JSON-like value that equals another's only for an equal value
    of the same types (``True`` is not ``1``, ``1`` is not ``1.0``)."""
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    if kind is list:
        return ("[", tuple(_frozen(v) for v in value))
    if isinstance(value, Mapping):
        return ("{", tuple(sorted((_frozen(k), _frozen(v)) for k, v in value.items())))
    return (kind, value)


def prepare(spec: Any) -> tuple[Plan | None, list[str]]:
    """The plan of a spec, or None and every problem found (files looked up included)."""
    check = Checker()
    if not isinstance(spec, Mapping):
        return None, [f'spec: must be a JSON object like {{"version": 1, ...}}, not {_show(spec)}']
    static = _static(spec)
    check.problems = list(static.head)
    roots = {}
    for key in ("expected", "actual"):
        value = spec.get(key)
        if not isinstance(value, str) or not value:
            check.problem(f"{key}: required, the path of the {key} directory or file")
        elif "\0" in value:
            check.problem(f"{key}: {_show(value)} holds a NUL character; no path can")
        roots[key] = os.path.abspath(value) if isinstance(value, str) else ""
    check.problems += static.tail
    not_outputs = _normalized(tuple(check.strings(spec, "not_outputs", "")))
    if check.problems:
        return None, check.problems
    files, complete, command = static.files, static.complete, static.command
    expected, actual = roots["expected"], roots["actual"]
    selected: list[str] = []
    everything: set[str] = set()
    known: dict[str, os.stat_result] = {}
    found: os.stat_result | None = None
    if static.literal is not None and _literal_looks(expected, static.literal, known):
        # Every name a regular file below it: ``expected`` is a directory (or a link to
        # one), which its own stat would only have said again; the looks are kept for the
        # comparison (one stat of each expected file, none of the directory).
        single = False
    else:
        try:  # (one stat: is it there, a file, a directory to list)
            found = os.stat(expected)
        except (OSError, ValueError):
            found = None
        single = found is not None and stat.S_ISREG(found.st_mode)
    if known:
        # Every name a file there: what a listing would have selected (a name that is a
        # directory, or missing, takes the long way below: its files, or the problem).
        selected = list(static.literal or ())
        everything = set(selected)  # (only read for complete and command: neither here)
    elif found is None:
        check.problem(f"expected: {expected} does not exist; point it at the expected outputs")
    elif single:
        if files or complete:
            check.problem("files, complete: only for an expected directory; remove them")
        selected = [os.path.basename(expected)]
    else:
        listing = files_under(expected, found)
        everything = set(listing)
        if not listing and not command:
            check.problem(f"expected: {expected} holds no files; add the expected outputs")
        chosen: set[str] = set()
        for pattern, regex, bad in static.globs:
            check.problems += bad
            if regex is None:
                continue
            hits = {
                f
                for f in listing
                if regex.fullmatch(f) or any(regex.fullmatch(d) for d in parents(f))
            }
            if not hits:
                fix = "fix the name or add the file"
                check.problem(f"files: {pattern!r} matches nothing in {expected}; {fix}")
            chosen |= hits
        if files:
            selected = sorted(chosen)
        elif static.has_files or not command:
            selected = listing
        for folder in complete:
            if posixpath.isabs(folder) or posixpath.normpath(folder).split("/")[0] == "..":
                # It would be walked on the actual side too: "/" is the whole file system.
                check.problem(
                    f"complete: {folder!r} is not a directory inside the expected outputs; "
                    "give a relative path such as 'results' ('.' for all of them)"
                )
            elif not os.path.isdir(os.path.join(expected, folder)):
                check.problem(f"complete: {folder!r} is not a directory in {expected}")
    if check.problems:
        return None, check.problems
    plan = Plan(
        expected,
        actual,
        single,
        selected,
        everything,
        [posixpath.normpath(c) for c in complete],
        static.default,
        static.rules,
        command,
        static.timeout,
        static.limit,
        frozenset(not_outputs).difference(everything),
        known,
        static.tools,
    )
    return plan, []


def plain_name(name: str) -> bool:
    """Whether ``name`` (of ``files``) is a relative path as a listing writes it, without
    glob characters: a file of that name is what it selects."""
    if not name or name.startswith("/") or any(c in name for c in "*?[]\\"):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _literal_looks(expected: str, names: tuple[str, ...], looks: dict[str, os.stat_result]) -> bool:
    """Whether each of ``names`` below ``expected`` is a regular file (links followed, as
    the listing follows them); their ``os.stat`` go into ``looks`` (emptied if not)."""
    for name in names:
        try:
            info = os.stat(os.path.join(expected, name))
        except (OSError, ValueError):
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            looks.clear()
            return False
        looks[name] = info
    return True


def _name_glob(pattern: str) -> re.Pattern[str]:
    """A column-name glob (``fnmatch``), which also matches the name written as it is."""
    return re.compile(f"{re.escape(pattern)}|{fnmatch.translate(pattern)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def validate_spec(spec: Any) -> list[str]:
    """Every problem of ``spec`` (bad keys, bad regexes, globs matching nothing), or []."""
    return prepare(spec)[1]


def static_problems(spec: Mapping[str, Any]) -> list[str]:
    """The problems of ``spec`` that need no files to find (keys, values, regexes, globs):
    what can be checked before any expected outputs exist."""
    static = _static(spec)
    return [*static.head, *static.tail, *(p for _, _, bad in static.globs for p in bad)]
