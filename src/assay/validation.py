"""Typed validation of TOML documents with messages that name the key.

msgspec does the validation; this module turns its errors into ``key.path: what is wrong;
the fix``, filling in the table names that msgspec leaves as ``[...]``, listing allowed
values and keys, and suggesting the key a typo was meant to be.
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from assay.compare.binary import NotAFile, open_file, read_whole, size_text
from assay.durations import Duration
from assay.errors import did_you_mean, toml_key

T = TypeVar("T")


class Invalid(Exception):
    """A document does not fit its schema: ``path`` and ``message`` say where and why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


MAX_SOURCE_BYTES = 64 * 1024 * 1024
"""Bytes of a file that assay reads whole as a definition (a suite, a config, a references
file, a template, a test file): far above any real one, and a file past it (or a link to
``/dev/zero``) is refused instead of read without end."""


def _too_large(path: str, size: int, cap: int) -> str:
    return (
        f"{path} is {size_text(size)} ({size:,} bytes), more than the {size_text(cap)} "
        "assay reads of a test, suite, references or configuration file: give the right file, "
        "or leave it out"
    )


def source_problem(path: Path) -> str | None:
    """Why ``path`` is not read as a definition file (what :func:`read_source` would raise
    :class:`Invalid` for), looked at without reading it; None if it is fine. ``OSError``
    when it cannot be opened."""
    try:
        fd = open_file(str(path))  # (at once, a FIFO too: never waits for a writer)
    except NotAFile as exc:
        return _fixed(path, str(exc))
    try:
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > MAX_SOURCE_BYTES:
        return _too_large(str(path), size, MAX_SOURCE_BYTES).removeprefix(f"{path} ")
    return None


def _fixed(path: Path, message: str) -> str:
    what = message.removeprefix(f"{path} ")  # (the path is said by whoever reports it)
    return (
        f"{what}; assay reads test, suite, references and configuration files only from "
        "regular files: replace it with one, or leave it out"
    )


def read_source(path: Path) -> bytes:
    """The bytes of a definition file: ``OSError`` when it cannot be read, :class:`Invalid`
    when it is no regular file (a FIFO is never waited on) or larger than
    :data:`MAX_SOURCE_BYTES`."""
    try:
        return read_whole(str(path), MAX_SOURCE_BYTES, _too_large)
    except NotAFile as exc:
        raise Invalid("", _fixed(path, str(exc))) from None
    except ValueError as exc:  # too large (the path is said by whoever reports it)
        raise Invalid("", str(exc).removeprefix(f"{path} ")) from None


def read_utf8(path: Path) -> str:
    """The text of a file that must be UTF-8 (TOML, templates): ``OSError`` when it cannot be
    read, :class:`Invalid` naming the line of the first byte that is not UTF-8, or saying why
    it is not read at all (:func:`read_source`)."""
    data = read_source(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise Invalid(
            "",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save the file as UTF-8",
        ) from None


MAX_KEY_PARTS = 1000
"""Dots on one line of a TOML file: a dotted key (``[a.b.c]``, ``a.b.c = 1``, inside an
inline table too) takes tomllib time that grows with the square of its parts (100,000
parts: minutes). No real file has a line of 1000 dots; one that has it is refused."""


def _long_key(text: str) -> int | None:
    """The first line with :data:`MAX_KEY_PARTS` dots or more, or None."""
    if text.count(".") < MAX_KEY_PARTS:  # (every file there is: one count, no scan)
        return None
    for number, line in enumerate(text.split("\n"), 1):
        if line.count(".") >= MAX_KEY_PARTS:
            return number
    return None


_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")
# ``key = value``, the value not a string, array or table: perhaps text without its quotes.
_ASSIGNED = re.compile(r"\s*([\w.-]+)\s*=\s*([^\s\"'\[{#][^#]*?)\s*(#.*)?")


def _unquoted_hint(text: str, said: str) -> str:
    """``; a text value needs quotes: time_limit = "5m"`` when the line of a syntax error
    assigns something TOML cannot read as a value, the commonest mistake; else nothing."""
    import json
    import tomllib

    at = _AT_LINE.search(said)
    lines = text.split("\n")
    if at is None or not 0 < int(at.group(1)) <= len(lines):
        return ""
    assigned = _ASSIGNED.fullmatch(lines[int(at.group(1)) - 1])
    if assigned is None:
        return ""
    key, value = assigned.group(1), assigned.group(2)
    try:
        tomllib.loads(f"v = {value}")
        return ""  # a value after all: the mistake is elsewhere
    except tomllib.TOMLDecodeError:
        pass
    # Several numbers (or booleans) side by side: a list without its brackets, not text.
    words = [w for w in re.split(r"[\s,]+", value) if w]
    if len(words) > 1 and all(_plain_value(w) for w in words):
        return f"; a list is written in brackets: {key} = [{', '.join(words)}]"
    return f"; a text value needs quotes: {key} = {json.dumps(value)}"


def _plain_value(word: str) -> bool:
    """Whether ``word`` alone is a TOML number or boolean."""
    import tomllib

    try:
        value = tomllib.loads(f"v = {word}")["v"]
    except tomllib.TOMLDecodeError:
        return False
    return isinstance(value, int | float | bool)


def load_toml(text: str) -> dict[str, Any]:
    """Parse TOML, raising :class:`Invalid` with the line and column of a syntax error."""
    import tomllib  # lazy: a run whose tests read no TOML starts without it (8 M instructions)

    line = _long_key(text)
    if line is not None:
        raise Invalid(
            "",
            f"not valid TOML for assay: line {line} has {MAX_KEY_PARTS} dots or more (a key "
            "of that many parts takes minutes to read); nest tables less deeply",
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid("", f"not valid TOML: {exc}{_unquoted_hint(text, str(exc))}") from None
    except RecursionError:  # (tomllib recurses once per level of nested arrays and tables)
        raise Invalid(
            "",
            "not valid TOML for assay: arrays or inline tables nested deeper than Python "
            "can parse (about 1000 levels); nest them less deeply",
        ) from None


def decode_hook(typ: type, value: Any) -> Any:
    """Decode the types of assay's own that a schema holds (:class:`Duration`) from what a
    document says; a ``ValueError`` becomes msgspec's ``ValidationError`` at that key."""
    if typ is Duration:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f'expected a duration such as "90s" or 90, got {_toml_kind(value)}')
        return Duration(value)
    raise NotImplementedError(f"assay bug: no decoder for {typ!r}")


def _toml_kind(value: object) -> str:
    """What a TOML value is, in a TOML author's words."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time" if value is not None else "nothing"


def convert(data: Any, typ: type[T]) -> T:
    """Validate ``data`` against ``typ`` (a msgspec Struct), raising :class:`Invalid`.

    When msgspec words an error in a way :func:`explain` does not know, the message is
    msgspec's own text and the path is empty."""
    try:
        return msgspec.convert(data, typ, dec_hook=decode_hook)
    except msgspec.ValidationError as exc:
        path, message = explain(exc, data, typ)
        if path is None:
            raise Invalid("", message) from None
        raise Invalid(path or "(top level)", message) from None


# The shapes of msgspec's ValidationError text read below. msgspec offers no structured form
# (its issue #264), so each shape is pinned by tests/unit/test_msgspec_messages.py: a msgspec
# that words one differently fails that test instead of degrading the messages users see.
AT = re.compile(r"(?P<what>.*) - at `(?P<path>\$[^`]*)`", re.S)
"""Any error below the top level: what is wrong, then where (``$.a[...].b[0]``)."""
SEGMENT = re.compile(r"\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>\d+|\.\.\.)\]")
"""One step of a path: ``.field``, ``[3]`` (a list index), ``[...]`` (a dict key)."""
UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`", re.S)
MISSING_FIELD = re.compile(r"Object missing required field `(?P<name>[^`]*)`", re.S)
ENUM_VALUE = re.compile(r"Invalid enum value (?P<value>.*)", re.S)
EXPECTED = re.compile(r"Expected `(?P<types>[a-z |]+)`(?P<rest>(?:,| [<>]=?) .*)", re.S)
"""A wrong type (``Expected `int`, got `str```) or a bound (``Expected `int` >= 1``)."""


def explain(exc: msgspec.ValidationError, data: Any, typ: Any) -> tuple[str | None, str]:
    """Return (``key.path``, message) for a validation error, with dict keys filled in.

    The path is ``None``, and the message msgspec's own text, when the text has a shape
    this module does not know (a newer msgspec): the user still reads what msgspec said.
    """
    text = str(exc)
    located = AT.fullmatch(text)
    what, raw_path = (located["what"], located["path"]) if located else (text, "$")
    walked = _walk(raw_path, data, typ)
    if walked is None:
        return None, text
    keys, typ = walked
    reworded = _reword(what, typ)
    if reworded is None and not located:  # neither where nor what is known: say it as is
        return None, text
    return ".".join(keys).replace(".[", "["), reworded or what


def _walk(raw_path: str, data: Any, typ: Any) -> tuple[list[str], Any] | None:
    """Follow ``raw_path`` through ``data`` and ``typ``: the keys and the type at its end."""
    if not raw_path.startswith("$"):
        return None
    keys: list[str] = []
    pos = 1
    while pos < len(raw_path):
        seg = SEGMENT.match(raw_path, pos)
        if seg is None:
            return None
        pos = seg.end()
        field_name, index = seg["field"], seg["index"]
        if field_name is not None:
            keys.append(field_name)
            data = data.get(field_name) if isinstance(data, dict) else None
            typ = _field_type(typ, field_name)
        elif index == "...":
            value_type = _dict_value_type(typ)
            bad = _first_bad_key(data, value_type)
            keys.append(toml_key(bad) if bad is not None else "?")
            data = data.get(bad) if isinstance(data, dict) and bad is not None else None
            typ = value_type
        else:
            keys.append(f"[{index}]")
            data = data[int(index)] if isinstance(data, list) and int(index) < len(data) else None
            typ = _list_item_type(typ)
    return keys, typ


def _strip_optional(typ: Any) -> Any:
    args = typing.get_args(typ)
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _strip_optional(non_none[0])
    if typing.get_origin(typ) is Annotated:
        return _strip_optional(args[0])
    return typ


def _field_type(typ: Any, name: str) -> Any:
    typ = _strip_optional(typ)
    if isinstance(typ, type) and issubclass(typ, msgspec.Struct):
        hints = typing.get_type_hints(typ, include_extras=True)
        return hints.get(name)
    return None


def _dict_value_type(typ: Any) -> Any:
    typ = _strip_optional(typ)
    if typing.get_origin(typ) is dict:
        return typing.get_args(typ)[1]
    return None


def _list_item_type(typ: Any) -> Any:
    typ = _strip_optional(typ)
    if typing.get_origin(typ) is list:
        return typing.get_args(typ)[0]
    return None


def _first_bad_key(data: Any, value_type: Any) -> str | None:
    if not isinstance(data, dict) or value_type is None:
        return None
    for key, value in data.items():
        try:
            msgspec.convert(value, value_type, dec_hook=decode_hook)
        except msgspec.ValidationError:
            return str(key)
    return None


def _reword(what: str, typ: Any) -> str | None:
    """What is wrong, in the words of a TOML file; ``None`` for a kind not known here."""
    base = _strip_optional(typ)
    enum = ENUM_VALUE.fullmatch(what)
    if enum and typing.get_origin(base) is Literal:
        allowed = ", ".join(repr(a) for a in typing.get_args(base))
        return f"{enum['value']} is not allowed; allowed values: {allowed}"
    unknown = UNKNOWN_FIELD.fullmatch(what)
    if unknown and isinstance(base, type) and issubclass(base, msgspec.Struct):
        fields = list(base.__struct_fields__)
        name = unknown["name"]
        return (
            f"unknown key {name!r}{did_you_mean(name, fields)}; allowed keys: {', '.join(fields)}"
        )
    missing = MISSING_FIELD.fullmatch(what)
    if missing:
        return f"missing required key {missing['name']!r}"
    expected = EXPECTED.fullmatch(what)
    if expected:
        rest = _TYPE_WORDS.sub(lambda m: _kind(m.group(1)), expected["rest"])
        return f"expected {_kind(expected['types'])}{rest}"
    return None


_TYPE_WORDS = re.compile(r"`([a-z |]+)`")
_KINDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "object": "a table",
    "array": "a list",
}


def _kind(names: str) -> str:
    """msgspec's type names as words: ``int | null`` -> ``an integer``."""
    parts = {p.strip() for p in names.split("|")} - {"null"}
    return " or ".join(_KINDS.get(p, p) for p in sorted(parts)) or "nothing"
