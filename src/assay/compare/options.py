"""How one file is compared (``Options``), what a spec asks for (``Plan``), and path globs."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .numeric import Tol

if TYPE_CHECKING:
    from collections.abc import Iterator

FORMATS = ("text", "csv", "json", "binary")
MODES = ("numeric", "text")
WHITESPACE = ("significant", "ignore")
STRINGS = ("numbers", "datetimes")
"""What a JSON string may be compared as, besides text (``strings``; ``"text"``: neither)."""


@dataclass(frozen=True)
class Options:
    """How to compare the files one rule (or the top level) applies to."""

    format: str | None = None
    tol: Tol = field(default_factory=Tol)
    ignore: tuple[re.Pattern[str], ...] = ()
    fields: tuple[tuple[re.Pattern[str], Tol], ...] = ()
    columns: tuple[tuple[re.Pattern[str], Tol], ...] = ()  # fnmatch patterns of names
    key: tuple[str, ...] = ()
    keys: tuple[tuple[re.Pattern[str], Tol], ...] = ()
    delimiter: str | None = None
    header: bool = True
    command: str | None = None
    exact: bool = False  # mode "text": values compare as written, text lines whole
    # mode "numeric", text files: whether blanks count (indentation, spacing in a line) or
    # only separate tokens (whitespace = "ignore", numdiff's way)
    blanks: bool = True
    # JSON strings compared as what they denote when both sides are one: numbers (within the
    # tolerance), datetimes; () compares them as written (identifiers, versions: "1.10")
    strings: tuple[str, ...] = ("numbers",)

    def column_tol(self, name: str) -> Tol:
        for pattern, tol in self.columns:
            if pattern.fullmatch(name):
                return tol
        return self.tol

    def strip(self, line: str) -> str:
        """``line`` without what the ignore patterns match."""
        for regex in self.ignore:
            line = regex.sub("", line)
        return line

    @property
    def token_tols(self) -> tuple[Tol, ...]:
        """The tolerances a token's index points to: the default's, then each field's."""
        return (self.tol, *(tol for _, tol in self.fields))


@dataclass
class Plan:
    """What a valid spec asks for."""

    expected: str
    actual: str
    single: bool  # one file each
    selected: list[str]
    everything: set[str]  # all files under expected
    complete: list[str]
    default: Options
    rules: list[tuple[re.Pattern[str], bool, Options]]  # glob, on the whole path, options
    command: str | None
    timeout: float
    limit: int
    not_outputs: frozenset[str] = frozenset()  # actual files that are no outputs (inputs...)
    expected_info: dict[str, os.stat_result] = field(default_factory=dict)  # os.stat, by rel
    tools: str | None = None  # the directory {tools} names in a command

    def options(self, rel: str) -> Options:
        for regex, whole, opt in self.rules:
            if regex.fullmatch(rel if whole else posixpath.basename(rel)):
                return opt
        return self.default


def json_strings(value: object) -> tuple[str, ...] | None:
    """``strings`` of a spec: ``"text"``, one of :data:`STRINGS` or a list of them; None
    when it is none of those."""
    if value == "text":
        return ()
    words = [value] if isinstance(value, str) else value
    if not isinstance(words, list) or not words:
        return None
    if not all(isinstance(w, str) and w in STRINGS for w in words):
        return None
    return tuple(w for w in STRINGS if w in words)


def glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: ``*``, ``?`` within a segment, ``**`` across, ``[...]``.

    Raises ``re.error`` for a bad class such as ``[z-a]``."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?|\[!?\]?[^\]]*\])", pattern)
    out = []
    for part in parts:
        if part == "**/":
            out.append("(?:.*/)?")
        elif part == "**":
            out.append(".*")
        elif part == "*":
            out.append("[^/]*")
        elif part == "?":
            out.append("[^/]")
        elif part.startswith("[") and part.endswith("]") and len(part) > 2:
            body = part[1:-1].replace("\\", "\\\\")
            out.append(f"[^{body[1:]}]" if body.startswith("!") else f"[{body}]")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def key_pattern(pattern: str) -> re.Pattern[str]:
    """A JSON path pattern as a regex: ``[*]`` any index, ``*``/``?`` in a name, ``**``."""
    table = {"[*]": r"\[\d+\]", "**": ".*", "*": r"[^.\[]*", "?": r"[^.\[]"}
    parts = re.split(r"(\[\*\]|\*\*|\*|\?)", pattern)
    return re.compile("".join(table.get(p, re.escape(p)) for p in parts))


def files_under(root: str, root_stat: os.stat_result | None = None) -> list[str]:
    """The relative paths (with ``/``) of the files below ``root``, sorted.

    Links are followed, links to directories included, but each directory is walked once:
    reached again through another link (or a link back up), it is not listed again.
    ``root_stat``: ``os.stat(root)``, when the caller has it."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            st = root_stat if folder is root and root_stat is not None else os.stat(folder)
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name, reverse=True)
        except OSError:
            continue  # unreadable: its files are missing, as they would be for a reader
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:  # (reversed: the stack walks them in name order)
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                folder_like = entry.is_dir()  # follows links
            except OSError:
                folder_like = False
            if folder_like:
                stack.append((entry.path, name))
            else:
                found.append(name)
    return sorted(found)


def relative(pattern: str) -> str:
    pattern = pattern.rstrip("/")
    return pattern[2:] if pattern.startswith("./") else pattern


def parents(rel: str) -> Iterator[str]:
    while "/" in rel:
        rel = rel.rsplit("/", 1)[0]
        yield rel
