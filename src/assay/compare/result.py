"""What the comparison of one file found, and the verdict of a whole comparison."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .numeric import err_json, err_sci

if TYPE_CHECKING:
    from .numeric import Err

VERSION = 1
SHOW = 200  # characters of a value kept in a difference record
BRIEF = 60  # characters of a value quoted in a one-line message
# Control characters, and the bytes that were not UTF-8 (surrogateescape keeps them as
# U+DC80..U+DCFF): everything else is shown as it is, backslashes and quotes included.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


class Shown(str):
    """A text already cut for showing (its length is that of the whole). The mark is the
    engine's own: :func:`plain` takes it off whatever goes into a verdict."""


def plain(value: Any) -> Any:
    """``value``, a ``Shown`` as an exact ``str``: a verdict goes into the runner's journal,
    whose encoder (msgspec) refuses subclasses of ``str``."""
    return str(value) if isinstance(value, Shown) else value


def cut(text: str | None, limit: int = SHOW) -> str | None:
    if text is None or len(text) <= limit or isinstance(text, Shown):
        return text
    return Shown(f"{text[:limit]}... ({len(text)} characters)")


def _escape_one(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code - 0xDC00 if code >= 0xDC80 else code:02x}"


def escape(text: str) -> str:
    """``text`` as it is, but for control characters and bytes that were not UTF-8, which
    are written ``\\t``, ``\\n``, ``\\r`` or ``\\xHH`` (a backslash stays one backslash)."""
    return _UNSHOWN.sub(_escape_one, text)


def quote(text: str) -> str:
    """``text`` in single quotes, shown as it is (see ``escape``)."""
    return f"'{escape(text)}'"


def brief(text: str) -> str:
    return quote(cut(text, BRIEF) or "")


class Preview:
    """The start of a text seen in pieces, its length (what ``cut`` shows of it whole) and
    its digest (to tell two such texts apart)."""

    def __init__(self) -> None:
        self.head = ""
        self.length = 0
        self.digest = hashlib.blake2b()

    def add(self, piece: str) -> str:
        if len(self.head) < SHOW + 1:
            self.head += piece[: SHOW + 1 - len(self.head)]
        self.length += len(piece)
        self.digest.update(piece.encode("utf-8", "surrogatepass"))
        return piece

    def same(self, other: Preview) -> bool:
        return self.length == other.length and self.digest.digest() == other.digest.digest()

    def add_all(self, text: str) -> Preview:
        self.add(text)
        return self

    def cut(self, limit: int = SHOW) -> str:
        if self.length <= limit:
            return self.head
        return Shown(f"{self.head[:limit]}... ({self.length} characters)")

    def brief(self) -> str:
        return quote(self.cut(BRIEF))


@dataclass
class Result:
    """What the comparison of one file found; ``counts`` says which counters apply."""

    file: str
    format: str
    limit: int
    counts: str = "lines"  # "lines", "values" (JSON) or "" (binary, command)
    lines: int = 0
    differing_lines: int = 0
    values: int = 0
    differing_values: int = 0
    max_abs: Err | None = None
    max_rel: Err | None = None
    where_abs: str | None = None
    where_rel: str | None = None
    differences: list[dict[str, Any]] = field(default_factory=list)
    found: int = 0  # every difference, listed or not
    truncated: bool = False
    message: str | None = None
    brief: str | None = None  # the summary's words, when not the message's first line

    @property
    def ok(self) -> bool:
        return self.found == 0

    def numeric(self, abs_err: Err, rel_err: Err | None, where: str) -> None:
        """Count a pair of numbers compared: the largest errors and where they are."""
        if self.max_abs is None or abs_err > self.max_abs:
            self.max_abs, self.where_abs = abs_err, where
        if rel_err is not None and (self.max_rel is None or rel_err > self.max_rel):
            self.max_rel, self.where_rel = rel_err, where

    @property
    def full(self) -> bool:
        """Whether a new difference would only be counted, not listed: then the work of
        showing it (locating it in both lines, its message) is not worth doing."""
        return len(self.differences) >= self.limit

    def add_unlisted(self) -> None:
        """Count a difference past the listed ones (what :meth:`add` does when full)."""
        self.found += 1
        self.truncated = True

    def add(
        self,
        message: str,
        line: int | None = None,
        column: int | str | None = None,
        expected: str | None = None,
        actual: str | None = None,
        errors: tuple[Err, Err | None] | None = None,
        **extra: Any,
    ) -> None:
        if self.full:
            self.add_unlisted()
            return
        self.found += 1
        abs_err, rel_err = errors or (None, None)
        record = {
            "file": self.file,
            "line": line,
            "column": cut(column) if isinstance(column, str) else column,
            "expected": cut(expected),
            "actual": cut(actual),
            "abs_error": err_json(abs_err),
            "rel_error": err_json(rel_err),
            "message": message,
            **extra,  # (the lines around the difference, cut: Shown too)
        }
        self.differences.append({key: plain(value) for key, value in record.items()})

    def note(self, message: str) -> None:
        self.message = message if self.message is None else f"{self.message}; {message}"

    def fail(self, message: str, brief: str | None = None) -> None:
        self.found += 1
        self.note(message)
        self.brief = brief

    def summary(self) -> str:
        """One line: the file and where its first difference is (``out.txt line 4: ...``),
        then how many differ when there is more than one."""
        if self.differences:
            first = str(self.differences[0]["message"])
            head = f"{self.file} {first}" if first.startswith("line ") else f"{self.file}: {first}"
        elif self.brief or self.message:
            head = f"{self.file}: {self.brief or str(self.message).split(chr(10))[0]}"
        else:
            head = f"{self.file}: differs"
        n = self.differing_values
        if n <= 1 and self.found <= 1:
            return head
        text = f"{n} values differ" if n > 1 else f"{self.found} differences"
        if self.differing_lines > 1 and self.counts == "lines":
            text += f" in {self.differing_lines} {'rows' if self.format == 'csv' else 'lines'}"
        if self.max_rel and self.where_rel:
            text += f", max rel error {err_sci(self.max_rel)} at {self.where_rel}"
        elif self.max_abs and self.where_abs:
            text += f", max abs error {err_sci(self.max_abs)} at {self.where_abs}"
        return f"{head}; {text}"

    def to_dict(self) -> dict[str, Any]:
        lines, values = self.counts == "lines", self.counts in ("lines", "values")
        return {
            "file": self.file,
            "format": self.format,
            "ok": self.ok,
            "lines": self.lines if lines else None,
            "differing_lines": self.differing_lines if lines else None,
            "values": self.values if values else None,
            "differing_values": self.differing_values if values else None,
            "max_abs_error": err_json(self.max_abs),
            "max_rel_error": err_json(self.max_rel),
            "where_max": plain(cut(self.where_rel)),
            "where_max_abs": plain(cut(self.where_abs)),
            "differences": self.differences,
            "truncated": self.truncated,
            "message": plain(self.message),
        }


def _named(name: str) -> str:
    """A file's name with the bytes that were not UTF-8 written ``\\xHH`` (and nothing else
    changed): names of files a job made go into the verdict, whose encoders (the runner's
    journal, the report) refuse the lone surrogates ``os.scandir`` holds them as."""
    return name if name.isascii() else _NOT_UTF8.sub(_escape_one, name)


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def verdict(
    results: list[Result], missing: list[str], extra: list[str], errors: list[str]
) -> dict[str, Any]:
    """The verdict of a comparison (see the package docstring)."""
    missing, extra = [_named(m) for m in missing], [_named(x) for x in extra]
    for r in results:
        if not r.file.isascii():
            r.file = _named(r.file)
            for row in r.differences:
                row["file"] = _named(row["file"])
    if errors:
        summary = "spec error: " + "; ".join(errors[:3])
        summary += f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    else:
        parts = [r.summary() for r in results if not r.ok]
        parts += [f"{m}: missing" for m in missing] + [f"{x}: extra file" for x in extra]
        summary = "; ".join(parts[:5]) or f"equal: {len(results)} files compared"
        summary += f"; and {len(parts) - 5} more" if len(parts) > 5 else ""
    return {
        "version": VERSION,
        "ok": not (errors or missing or extra) and all(r.ok for r in results),
        "summary": summary,
        "files": [r.to_dict() for r in results],
        "missing": missing,
        "extra": extra,
        "errors": errors,
    }
