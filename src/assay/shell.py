"""Quoting for everything that reaches a shell."""

from __future__ import annotations

import re
import shlex

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF = re.compile(r"\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def quote(value: object) -> str:
    """Quote one word for a POSIX shell."""
    return shlex.quote(str(value))


def join(words: list[str]) -> str:
    """Quote and join words into one command line."""
    return " ".join(shlex.quote(w) for w in words)


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
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")


def export(name: str, value: object) -> str:
    """An ``export NAME=value`` line (``name`` must be a valid variable name)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid environment variable name")
    return f"export {name}={env_value(value)}"
