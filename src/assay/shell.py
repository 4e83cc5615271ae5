"""Quoting for everything that reaches a shell.

Every quoted value stays on its line: a control character (a newline, a carriage return,
an escape...) or a byte that is not UTF-8 (a path's ``surrogateescape``) is written as
``\\xHH`` inside bash's ``$'...'``, so a generated script has exactly the lines its
writer made, whatever the values; a comment can never end early and let a value run as a
command. NUL, which no argument, variable or path can hold, is refused.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF = re.compile(r"\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
CONTROL = re.compile(r"[\x00-\x1f\x7f\udc80-\udcff]")
"""Characters that never appear raw in a generated script: C0 controls, DEL, and the
``surrogateescape`` stand-ins for bytes that are not UTF-8."""


class UnsafeValue(ValueError):
    """A value that no shell word can carry (it holds a NUL character)."""


def quote(value: object) -> str:
    """Quote one word for bash; the result is one line of printable text."""
    text = str(value)
    if CONTROL.search(text) is None:
        return shlex.quote(text)
    return _ansi_c(text)


def join(words: Iterable[object]) -> str:
    """Quote and join words into one command line."""
    return " ".join(quote(w) for w in words)


def _hex(char: str) -> str:
    """``\\xHH`` for a control character or a ``surrogateescape``d byte."""
    code = ord(char)
    return f"\\x{code - 0xDC00 if code >= 0xDC80 else code:02x}"


def _byte(match: re.Match[str]) -> str:
    if match.group(0) == "\0":
        raise UnsafeValue("a NUL character cannot be passed to a command or a variable")
    return _hex(match.group(0))


def _ansi_c(text: str) -> str:
    """``$'...'``: backslash and quote escaped, every control character as ``\\xHH``."""
    body = text.replace("\\", "\\\\").replace("'", "\\'")
    return "$'" + CONTROL.sub(_byte, body) + "'"


def comment(text: object) -> str:
    """``text`` for a comment line: control characters shown as ``\\xHH``, so that a
    value can never end the comment and run as a command."""
    return CONTROL.sub(lambda m: _hex(m.group(0)), str(text))


def env_value(value: object) -> str:
    """Quote a variable's value, keeping ``$NAME`` / ``${NAME}`` references live.

    Nothing else is interpreted: no command substitution, no globbing, no word
    splitting. ``$$`` is a literal ``$``.
    """
    text = str(value)
    out = ['"']
    pos = 0
    for match in _REF.finditer(text):
        out.append(_escape_dq(text[pos : match.start()]))
        ref = match.group(0)
        out.append("\\$" if ref == "$$" else ref)
        pos = match.end()
    out.append(_escape_dq(text[pos:]))
    out.append('"')
    return "".join(out)


def _escape_dq(text: str) -> str:
    """Literal text inside double quotes; a control character leaves the quotes for a
    ``$'\\xHH'`` of its own (bash joins the pieces into one word)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return CONTROL.sub(lambda m: f"\"$'{_byte(m)}'\"", text)


def valid_name(name: str) -> bool:
    """Whether bash can export a variable of this name."""
    return _NAME.fullmatch(name) is not None


def export(name: str, value: object) -> str:
    """An ``export NAME=value`` line (``name`` must be a valid variable name)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid environment variable name")
    try:
        return f"export {name}={env_value(value)}"
    except UnsafeValue as exc:
        raise UnsafeValue(f"variable {name}: {exc}") from None
