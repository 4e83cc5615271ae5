"""What the suite compiler shares: where problems are and how they are said, the checks of
single values, and making a test class from a namespace."""

from __future__ import annotations

import difflib
import glob
import itertools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.define.artifact_refs import DEP_PREFIX, STORE_PREFIX, check_layers
from assay.define.fields import FIELDS
from assay.define.suite_confine import leads_out, outside_message
from assay.define.suite_test import SuiteTest
from assay.define.test import Test

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def name_problem(name: str, what: str) -> str | None:
    """Why ``name`` cannot be a suite's ``what`` (a variable, metric or parameter: a test
    attribute, ``{name}`` in commands), and what to do; None if it can be one."""
    if not IDENT.fullmatch(name):
        fix = re.sub(r"\W", "_", name)
        fix = fix if IDENT.fullmatch(fix) else f"_{fix}"
        why = (
            "a name is an identifier (letters, digits and _, not starting with a digit), as "
            "{name} in a command is"
        )
    elif name in FIELDS:
        fix, why = f"{name}_", "it is a built-in test field (docs/test-api.md#fields)"
    elif name in vars(Test):
        fix, why = f"{name}_", "assay.Test has a method or attribute of that name"
    else:
        return None
    return f"{name!r} cannot be a {what} name: {why}; rename it, such as {fix!r}"


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where the name cannot even be looked at (too long, no access)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def is_file(path: Path) -> bool:
    """``path.is_file()``, False where the name cannot even be looked at."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def exists(path: Path) -> bool:
    """``path.exists()``, False where the name cannot even be looked at."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def glob_matches(base: Path, pattern: str) -> list[Path]:
    """What ``pattern`` (relative to ``base``, or absolute) matches, sorted; raises
    OSError or ValueError for a pattern that cannot be used (``""``, a name too long)."""
    if Path(pattern).is_absolute():
        return sorted((Path(p) for p in glob.glob(pattern)), key=_parts)
    if pattern and not Path(pattern).parts:  # ".": pathlib's glob fails (IndexError)
        return [base]
    return sorted(base.glob(pattern), key=_parts)


def _parts(path: Path) -> tuple[str, ...]:
    """A path's sort key: its parts, the order ``<`` of two paths gives on POSIX, without
    making the parts again for each comparison (200 case dirs, ~1,500 comparisons: a
    quarter of a case's share of the suite's compile)."""
    return path.parts


def case_globs(comp: Compiler, pattern: str, what: str, keep: Callable[[Path], bool]) -> list[Path]:
    """What the ``suite.cases`` glob ``pattern`` matches that ``keep`` takes (``what``:
    "directory" or "file"); a problem when it cannot be used or takes nothing."""
    try:
        matches = glob_matches(comp.base, pattern)
    except (OSError, ValueError) as exc:  # "", a name too long...
        comp.problem("suite.cases", f"{pattern!r} is not a usable glob: {exc}")
        return []
    kept = [m for m in matches if keep(m)]
    if not kept:
        comp.problem(
            "suite.cases",
            f"{pattern!r} matches no {what} under {comp.base}{_unclosed(pattern)}"
            + (_files_hint(matches) if what == "directory" else ""),
        )
    return kept


def _files_hint(matches: list[Path]) -> str:
    """For a glob of case directories that matches files: how files become cases."""
    files = [m for m in matches if is_file(m)]
    if not files:
        return ""
    return (
        f"; it matches {len(files)} file(s), such as {files[0].name!r}: for a case per file, "
        'name each one\'s expected output (expected = "{stem}.out"), or set expected = false '
        "when its exit code alone decides"
    )


def inside_suite(comp: Compiler, key: str, what: str, paths: list[Path]) -> list[Path]:
    """The ``paths`` that lie inside the suite's directory, links resolved; one problem
    naming the first of the others, where it leads and the fix (see :mod:`.suite_confine`)."""
    kept, out = [], []
    parents: dict[str, str] = {}
    for path in paths:
        real = leads_out(path, comp.base, parents)
        if real is None:
            kept.append(path)
        else:
            out.append((path, real))
    if out:
        path, real = out[0]
        more = f" (and {len(out) - 1} more)" if len(out) > 1 else ""
        comp.problem(key, outside_message(what, path, real, comp.base, more))
    return kept


def utf8_names(comp: Compiler, key: str, what: str, paths: list[Path]) -> list[Path]:
    """The ``paths`` whose names are text (UTF-8); one problem naming the first of the
    others: a case's name, its ``{dir}`` and its report are text, and a name of other bytes
    (``\\xff``, decoded as a lone surrogate) failed later with a bare codec error."""
    kept, bad = [], []
    for path in paths:
        try:
            str(path).encode()
            kept.append(path)
        except UnicodeEncodeError:
            bad.append(path)
    if bad:
        shown = os.fsencode(bad[0]).decode("utf-8", "backslashreplace")
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        comp.problem(
            key,
            f"{what} {shown}{more}: its name is not UTF-8 text, which case names, commands "
            "and reports are; rename it",
        )
    return kept


def _unclosed(pattern: str) -> str:
    """What is wrong with a glob whose ``[`` is never closed in its path component (glob
    then takes it as a literal ``[``, and the pattern matches nothing), else ""."""
    for part in pattern.split("/"):
        i = part.find("[")
        while i >= 0:
            j = i + 1
            if part[j : j + 1] == "!":
                j += 1
            if part[j : j + 1] == "]":  # ("[]...]" holds a ']')
                j += 1
            end = part.find("]", j)
            if end < 0:
                return (
                    f": its {part[i:]!r} opens a set of characters ('[a-z]') that no ']' "
                    "closes, so '[' is matched as itself; close the set, or write a "
                    "literal '[' as '[[]'"
                )
            i = part.find("[", end + 1)
    return ""


@dataclass(frozen=True)
class SuiteProblem:
    """Something wrong in a suite file: where (file, line, key) and what."""

    file: Path
    line: int | None
    key: str
    message: str


@dataclass
class Compiler:
    path: Path
    text: str
    problems: list[SuiteProblem] = field(default_factory=list)

    @property
    def base(self) -> Path:
        return self.path.parent

    def problem(self, key: str, message: str) -> None:
        self.problems.append(SuiteProblem(self.path, line_of(self.text, key), key, message))


def make_class(comp: Compiler, name: str, ns: dict[str, Any], key: str) -> type[Test]:
    """The test class of a suite file's ``key`` (``suite.cases``, ``suite.sweep[0]``...),
    defined at that key's line."""
    ns["__module__"] = f"assay_suite_{re.sub(r'[^A-Za-z0-9_]', '_', comp.path.stem)}"
    line = line_of(comp.text, key) or line_of(comp.text, "suite") or 1
    ns["__assay_site__"] = (str(comp.path), line, key)
    cls: type[Test] = type(name, (SuiteTest,), ns)
    for error in cls._assay.errors:
        core = error.split(": ", 1)[-1]
        if not any(core in p.message for p in comp.problems):  # not already said, by key
            comp.problem("suite", f"{name}: {error}")
    return cls


def check_layer(comp: Compiler, key: str, layer: str) -> None:
    if layer.startswith((DEP_PREFIX, STORE_PREFIX)):  # resolved when the cases run
        return
    path = Path(layer) if Path(layer).is_absolute() else comp.base / layer
    for problem in check_layers("build", [path]):
        message = problem.removeprefix("artifact 'build': ")
        if message.endswith(" does not exist") and not Path(layer).is_absolute():
            message += f" (paths are relative to the suite file, in {comp.base})"
            message += _close_name(path)
        comp.problem(key, message)


def _close_name(path: Path) -> str:
    """``; did you mean 'NAME'?`` for a sibling named like ``path``, else ""."""
    try:
        # A bounded look: the parent may be a huge directory.
        siblings = [p.name for p in itertools.islice(path.parent.iterdir(), 2000)]
    except OSError:  # the parent is missing too, or unreadable: nothing to suggest
        return ""
    close = difflib.get_close_matches(path.name, siblings, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def bad_regex(comp: Compiler, key: str, pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error as exc:
        comp.problem(key, f"not a valid regular expression: {exc}")
        return True
    return False


def toml_error_line(message: str) -> int | None:
    match = re.search(r"\(at line (\d+)", message)
    return int(match.group(1)) if match else None


def line_of(text: str, key: str) -> int | None:
    """The line of ``key`` (a dotted path such as ``suite.compare.files``, or
    ``suite.sweep[1].template`` for the second ``[[suite.sweep]]``) in TOML text: the key's
    own line when found under its table's header, else the table's header."""
    split = [p for p in re.split(r"\.(?![^\[]*\])", key) if p]
    parts = [re.sub(r"\[\d+\]", "", p).strip('"') for p in split]
    indexes = [int(m.group(1)) if (m := re.search(r"\[(\d+)\]$", p)) else 0 for p in split]
    if not parts:
        return None
    lines = text.splitlines()
    best: int | None = None
    for depth in range(len(parts), 0, -1):
        # A header's parts may be quoted ([suite.references."*"]) and spaced.
        table = r"\s*\.\s*".join(rf'(?:"{re.escape(p)}"|{re.escape(p)})' for p in parts[:depth])
        header = re.compile(rf"^\s*\[\[?\s*{table}\s*\]\]?\s*(#.*)?$")
        found = [number for number, line in enumerate(lines, 1) if header.match(line)]
        if not found:
            continue
        number = found[min(indexes[depth - 1], len(found) - 1)]  # the n-th [[table]]
        best = number
        rest = parts[depth:]
        if rest:
            leaf = re.compile(rf'^\s*(?:"{re.escape(rest[0])}"|{re.escape(rest[0])})\s*=')
            for offset, later in enumerate(lines[number:], number + 1):
                if later.lstrip().startswith("["):
                    break
                if leaf.match(later):
                    return offset
        return best
    return best


def lookalikes(comp: Compiler, names: list[str], what: str) -> None:
    """A problem for each two case names that differ only in how Unicode encodes them
    (an accent precomposed or combining, a compatibility form, an invisible format
    character): every report and terminal would show them alike, so a reader could take
    one's verdict for the other's. The names are said with escapes, to show the difference."""
    import unicodedata  # lazy: only suites with non-ASCII names use it

    seen: dict[str, str] = {}
    for name in names:
        key = name  # (ASCII is its own form: most names cost one check)
        if not name.isascii():
            shown = "".join(c for c in name if unicodedata.category(c) != "Cf")
            key = unicodedata.normalize("NFKC", shown)
        other = seen.setdefault(key, name)
        if other != name:
            comp.problem(
                "suite.cases",
                f"two {what} have names that look the same, {other!a} and {name!a}: "
                "they differ only in how their characters are encoded (Unicode normalisation "
                "or an invisible character), so the reports would show them alike; rename one",
            )
