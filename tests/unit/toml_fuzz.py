"""Random and nearly valid TOML documents for suite and config files (Hypothesis strategies).

``dumps`` writes a document in one of two styles (inline tables, or ``[table]`` headers);
``near_valid`` takes a valid document and changes one key the way a user might get it wrong.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from hypothesis import strategies as st

# ----------------------------------------------------------------------------- writing


def _string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:  # not encodable: TOML text is UTF-8
            out.append("\\ufffd")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dumps(doc: dict[str, Any], tables: bool = True) -> str:
    """TOML text of ``doc``: ``[table]`` headers (``tables``) or one inline table per key."""
    if not tables:
        return "".join(f"{_string(k)} = {_value(v)}\n" for k, v in doc.items())
    lines: list[str] = []

    def table(path: list[str], body: dict[str, Any], header: str | None) -> None:
        if header is not None:
            lines.append(header)
        for k, v in body.items():
            if not isinstance(v, dict) and not _is_tables(v):
                lines.append(f"{_string(k)} = {_value(v)}")
        for k, v in body.items():
            where = [*path, _string(k)]
            if isinstance(v, dict):
                table(where, v, f"[{'.'.join(where)}]")
            elif _is_tables(v):
                for item in v:
                    table(where, item, f"[[{'.'.join(where)}]]")

    table([], doc, None)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- random

keys = st.one_of(
    st.sampled_from(["suite", "systems", "environments", "name", "command", "cases", "x"]),
    st.text(max_size=8),
)
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=20),
    st.datetimes().map(lambda d: d.replace(microsecond=0)),
    st.dates(),
)
random_docs = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=15,
).filter(lambda d: isinstance(d, dict))
random_texts = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            [
                "[suite]",
                "[[suite.sweep]]",
                "[systems.a]",
                'command = "x"',
                "a = ",
                "x = [1, 2",
                "= 1",
                '"\\x"',
                "[a]\n[a]",
                "a.b = 1\na = 2",
                "\x00",
            ]
        ),
        max_size=6,
    ).map("\n".join),
)

# ------------------------------------------------------------------------ near valid

WRONG = [
    "text",
    "",
    "a\nb",
    "{x}",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1.5,
    float("inf"),
    float("nan"),
    -0.0,
    True,
    [],
    [1, "a"],
    [[]],
    {},
    {"x": 1},
    {"nested": {"deeper": [1]}},
    datetime.date(2024, 1, 1),
    "x" * 5000,
    ["y"] * 300,
    "../../etc",
    "/",
    "*",
    "[",
    "(",
    "{case}",
    "{nope}",
    "$(echo hi)",
    "\u00e9\u4e2d",
    "1e999",
    "5m",
    "-5m",
    "0s",
    "forever",
]


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path (dict keys and list indices) in ``doc``."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*here, k))
            out += _paths(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*here, i))
            out += _paths(v, (*here, i))
    return out


def _deep(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _deep(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_deep(v) for v in doc]
    return doc


@st.composite
def near_valid(draw: Any, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one thing changed: a value replaced, a key added, removed or renamed."""
    doc = _deep(base)
    path = draw(st.sampled_from(_paths(doc)))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = draw(st.sampled_from(["replace", "replace", "add", "remove", "rename", "newline"]))
    if how == "replace":
        parent[last] = draw(st.sampled_from(WRONG))
    elif how == "newline" and isinstance(parent[last], str):
        parent[last] = parent[last] + "\nrm -rf /tmp/nothing"
    elif how == "add" and isinstance(parent[last], dict):
        name = draw(st.sampled_from(["comand", "rtoll", "unknown", "", " ", "a.b", "\n"]))
        parent[last][name] = draw(st.sampled_from(WRONG))
    elif how == "remove" and isinstance(parent, dict):
        del parent[last]
    elif how == "rename" and isinstance(parent, dict):
        parent[str(last) + "s"] = parent.pop(last)
    else:
        parent[last] = draw(st.sampled_from(WRONG))
    return doc
