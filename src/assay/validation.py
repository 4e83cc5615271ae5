"""Typed validation of TOML documents with messages that name the key.

msgspec does the validation; this module turns its errors into ``key.path: what is wrong;
the fix``, filling in the table names that msgspec leaves as ``[...]``, listing allowed
values and keys, and suggesting the key a typo was meant to be.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from assay.errors import did_you_mean, toml_key

T = TypeVar("T")


class Invalid(Exception):
    """A document does not fit its schema: ``path`` and ``message`` say where and why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def read_utf8(path: Path) -> str:
    """The text of a file that must be UTF-8 (TOML, templates): ``OSError`` when it cannot be
    read, :class:`Invalid` naming the line of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise Invalid(
            "",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save the file as UTF-8",
        ) from None


def load_toml(text: str) -> dict[str, Any]:
    """Parse TOML, raising :class:`Invalid` with the line and column of a syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid("", f"not valid TOML: {exc}") from None


def convert(data: Any, typ: type[T]) -> T:
    """Validate ``data`` against ``typ`` (a msgspec Struct), raising :class:`Invalid`."""
    try:
        return msgspec.convert(data, typ)
    except msgspec.ValidationError as exc:
        path, message = explain(exc, data, typ)
        raise Invalid(path or "(top level)", message) from None


_MSG = re.compile(r"^(?P<what>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.S)
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\.\.\.)\]")


def explain(exc: msgspec.ValidationError, data: Any, typ: Any) -> tuple[str, str]:
    """Return (``key.path``, message) for a validation error, with dict keys filled in."""
    match = _MSG.match(str(exc))
    assert match is not None
    what, raw_path = match.group("what"), match.group("path") or "$"
    keys: list[str] = []
    for seg in _SEGMENT.finditer(raw_path[1:]):
        field_name, index = seg.groups()
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
    path = ".".join(keys).replace(".[", "[")
    return path, _reword(what, typ)


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
            msgspec.convert(value, value_type)
        except msgspec.ValidationError:
            return str(key)
    return None


def _reword(what: str, typ: Any) -> str:
    enum = re.match(r"Invalid enum value (.*)", what)
    base = _strip_optional(typ)
    if enum and typing.get_origin(base) is Literal:
        allowed = ", ".join(repr(a) for a in typing.get_args(base))
        return f"{enum.group(1)} is not allowed; allowed values: {allowed}"
    unknown = re.match(r"Object contains unknown field `(.*)`", what)
    if unknown and isinstance(base, type) and issubclass(base, msgspec.Struct):
        fields = list(base.__struct_fields__)
        name = unknown.group(1)
        return (
            f"unknown key {name!r}{did_you_mean(name, fields)}; allowed keys: {', '.join(fields)}"
        )
    missing = re.match(r"Object missing required field `(.*)`", what)
    if missing:
        return f"missing required key {missing.group(1)!r}"
    return _TYPE_WORDS.sub(lambda m: _kind(m.group(1)), what).replace("Expected", "expected")


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
    if parts == {"int", "float", "str"}:
        return 'a duration such as "90s" or 90'
    return " or ".join(_KINDS.get(p, p) for p in sorted(parts)) or "nothing"
