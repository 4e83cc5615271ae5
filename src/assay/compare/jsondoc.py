"""JSON files: both documents loaded whole and walked together, path by path.

Numbers keep their text (compared exactly as decimals, no size limit), and so does a string
that is a number on both sides (toml-test's ``{"type": "float", "value": "3.0e14"}``, decimals
kept exact as strings): compared as a number, as a CSV cell or a text token is, except in mode
"text" or with ``strings = "text"``; ``strings = ["numbers", "datetimes"]`` compares dates and
times as what they denote (:mod:`.datetimes`); a key repeated in an
object is compared occurrence by occurrence (the n-th one named ``key#n``); nesting of any
depth is parsed and walked without recursion; what a record shows of a value is bounded.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, List

from .binary import read_whole
from .numeric import NUMBER, errors, exceeds
from .result import BRIEF, SHOW, brief, cut

if TYPE_CHECKING:
    from .numeric import Tol
    from .options import Options
    from .result import Result

_BOM = b"\xef\xbb\xbf"
_NUMBER_STRING = re.compile(NUMBER)  # (fullmatch: the whole string, no blanks around it)


class Num:
    """A JSON number, as written."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Repeated(List[Any]):
    """The values of a key that an object holds more than once, in order."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key not in obj:
            obj[key] = value
        elif isinstance(obj[key], Repeated):
            obj[key].append(value)
        else:
            obj[key] = Repeated([obj[key], value])
    return obj


def load(data: bytes) -> Any:
    """A document from its bytes (UTF-8, a byte order mark allowed)."""
    text = (data[3:] if data.startswith(_BOM) else data).decode("utf-8")
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_float=Num, parse_int=Num, parse_constant=Num
        )
    except RecursionError:  # nested deeper than the C stack allows: parse without recursion
        return _parse_deep(text)


def compare_json(expected: str, actual: str, res: Result, opt: Options) -> None:
    docs = []
    for side, path in (("expected", expected), ("actual", actual)):
        data = read_whole(path)  # (parsed whole: at most MAX_OUTPUT_BYTES)
        try:
            docs.append(load(data))
        except UnicodeDecodeError as exc:
            res.fail(f"{side} is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})")
            return
        except ValueError as exc:
            res.fail(f"{side} is not valid JSON: {exc}")
            return
    _walk(docs[0], docs[1], opt.tol, res, opt)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Num):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "null"


def _walk(e: Any, a: Any, tol: Tol, res: Result, opt: Options) -> None:
    """Compare two documents, differences in document order (depth first)."""
    # ("walk", e, a, path shown, path matched against key patterns, tol) or ("add", args).
    todo: list[tuple[Any, ...]] = [("walk", e, a, "", "", tol)]
    while todo:
        item = todo.pop()
        if item[0] == "add":
            res.differing_values += 1
            res.add(*item[1], **item[2])
            continue
        _, e, a, path, match, tol = item
        for regex, own in opt.keys:
            if regex.fullmatch(match):
                tol = own
                break
        if tol.skip:
            continue
        where = path or "(root)"
        if isinstance(e, dict) and isinstance(a, dict):
            todo.extend(reversed(_object_items(e, a, path, match, tol)))
        elif isinstance(e, list) and isinstance(a, list):
            later: list[tuple[Any, ...]] = []
            if len(e) != len(a):
                msg = f"{where}: expected {len(e)} items, got {len(a)}"
                later.append(
                    (
                        "add",
                        (msg,),
                        {
                            "column": where,
                            "expected": f"{len(e)} items",
                            "actual": f"{len(a)} items",
                        },
                    )
                )
            for i in range(min(len(e), len(a)) - 1, -1, -1):
                later.append(("walk", e[i], a[i], f"{path}[{i}]", f"{match}[{i}]", tol))
            todo.extend(later)
        else:
            _leaf(e, a, where, tol, res, opt)


def _object_items(
    e: dict[str, Any], a: dict[str, Any], path: str, match: str, tol: Tol
) -> list[tuple[Any, ...]]:
    """What comparing two objects takes, in order."""
    items: list[tuple[Any, ...]] = []
    for k, v in e.items():
        sub = f"{path}.{k}" if path else k
        sub_match = f"{match}.{k}" if match else k
        if k not in a:
            items.append(
                ("add", (f"{sub}: missing in actual",), {"column": sub, "expected": show(v)})
            )
            continue
        w = a[k]
        if not isinstance(v, Repeated) and not isinstance(w, Repeated):
            items.append(("walk", v, w, sub, sub_match, tol))
            continue
        ve = v if isinstance(v, Repeated) else [v]
        va = w if isinstance(w, Repeated) else [w]
        for i, (x, y) in enumerate(zip(ve, va)):
            items.append(("walk", x, y, sub if i == 0 else f"{sub}#{i + 1}", sub_match, tol))
        if len(ve) != len(va):
            msg = (
                f"{sub}: the key appears {_times(len(ve))} in expected, {_times(len(va))} in actual"
            )
            items.append(("add", (msg,), {"column": sub}))
    for k, v in a.items():
        if k not in e:
            sub = f"{path}.{k}" if path else k
            items.append(
                ("add", (f"{sub}: extra key in actual",), {"column": sub, "actual": show(v)})
            )
    return items


def _times(n: int) -> str:
    return f"{n} time{'s' * (n != 1)}"


def _numbers(
    se: str,
    sa: str,
    shown_e: str | None,
    shown_a: str | None,
    where: str,
    tol: Tol,
    res: Result,
    e: Any = None,
    a: Any = None,
) -> bool:
    """Two numbers' texts held against the tolerance; a difference shows ``shown_e`` and
    ``shown_a`` and keeps ``e`` and ``a`` (the texts themselves when None). Whether they
    differ."""
    ok, abs_err, rel_err = errors(se, sa, tol)
    res.numeric(abs_err, rel_err, where)
    if ok:
        return False
    msg = f"{cut(where, BRIEF)}: expected {shown_e}, got {shown_a} "
    msg += f"({exceeds(abs_err, rel_err, tol)})"
    expected, actual = (se, sa) if e is None else (e, a)
    res.add(msg, column=where, expected=expected, actual=actual, errors=(abs_err, rel_err))
    return True


def _leaf(e: Any, a: Any, where: str, tol: Tol, res: Result, opt: Options) -> None:
    res.values += 1
    kind_e, kind_a = _kind(e), _kind(a)
    if kind_e == kind_a == "number" and opt.exact:  # mode "text": as written
        if e.text == a.text:
            return
        msg = f"{cut(where, BRIEF)}: expected {cut(e.text, BRIEF)}, got {cut(a.text, BRIEF)}"
        res.add(msg, column=where, expected=e.text, actual=a.text)
    elif kind_e == kind_a == "number":
        # (equal within the tolerance: no differing value; before, every pair of numbers
        # whose texts differed counted as one: "2 values differ" for one)
        if not _numbers(e.text, a.text, cut(e.text, BRIEF), cut(a.text, BRIEF), where, tol, res):
            return
    elif kind_e == kind_a == "string":
        se, sa = opt.strip(e), opt.strip(a)
        if se == sa:
            return
        numbers = not opt.exact and "numbers" in opt.strings
        if numbers and _NUMBER_STRING.fullmatch(se) and _NUMBER_STRING.fullmatch(sa):
            # Numbers written as strings ("1e+06" and "1000000.0"): equal as numbers, as in
            # a CSV cell or a text line (where this file's own text would compare so too).
            if not _numbers(se, sa, brief(e), brief(a), where, tol, res, e, a):
                return
        elif not opt.exact and "datetimes" in opt.strings and _same_moment(se, sa):
            return
        else:
            msg = f"{cut(where, BRIEF)}: expected {brief(e)}, got {brief(a)}"
            res.add(msg, column=where, expected=e, actual=a)
    elif kind_e == kind_a and e == a:  # booleans or nulls (objects, arrays were walked)
        return
    else:  # different types: show JSON text, so that 1.0 and "1.0" look different
        je, ja = _json_text(e, BRIEF), _json_text(a, BRIEF)
        msg = f"{cut(where, BRIEF)}: expected {kind_e} {je}, got {kind_a} {ja}"
        res.add(msg, column=where, expected=_json_text(e), actual=_json_text(a))
    res.differing_values += 1


def _same_moment(e: str, a: str) -> bool:
    """Whether both strings are dates or times (RFC 3339) of the same kind and moment."""
    from .datetimes import moment  # (only for a spec that asks for datetimes)

    found = moment(e)
    return found is not None and found == moment(a)


def _json_text(value: Any, limit: int = SHOW) -> str:
    return cut(json.dumps(value), limit) or "" if isinstance(value, str) else show(value, limit)


def show(value: Any, limit: int = SHOW) -> str:
    """A value as JSON text (a string as itself at the top), cut after ``limit`` characters
    without writing out the rest (a subtree can be as big as the file)."""
    if isinstance(value, str):
        return value
    out: list[str] = []
    size = 0
    todo: list[Any] = [value]
    while todo and size <= limit:
        item = todo.pop()
        if isinstance(item, (_Text, Num)):
            text = item.text
        elif isinstance(item, dict):
            text = "{"
            parts: list[Any] = [_Text("}")]
            for i, (k, v) in enumerate(reversed(list(item.items()))):
                values = v if isinstance(v, Repeated) else [v]
                for j, x in enumerate(reversed(values)):
                    last = i == 0 and j == 0
                    parts += [_Text("" if last else ", "), x, _Text(json.dumps(k) + ": ")]
            todo += parts
        elif isinstance(item, list):
            text = "["
            parts = [_Text("]")]
            for i, x in enumerate(reversed(item)):
                parts += [_Text("" if i == 0 else ", "), x]
            todo += parts
        else:
            text = json.dumps(item)
        out.append(text)
        size += len(text)
    whole = "".join(out)
    if todo or len(whole) > limit:
        return f"{whole[:limit]}... (more than {limit} characters)"
    return whole


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


# ---------------------------------------------------------------- parsing without recursion

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_CONSTANTS = {"true": True, "false": False, "null": None}
_SPECIAL = ("NaN", "Infinity", "-Infinity")


def _parse_deep(text: str) -> Any:
    """``json.loads`` (with this module's hooks) for nesting deeper than it can take."""
    stack: list[tuple[list[Any], bool]] = []  # open containers: (items or pairs, is object)
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    while True:
        # A value starts at pos.
        ch = text[pos : pos + 1]
        if ch in ("[", "{"):
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            close = "]" if ch == "[" else "}"
            if text[pos : pos + 1] == close:
                value: Any = [] if ch == "[" else _object([])
                pos += 1
            else:
                stack.append(([], ch == "{"))
                if ch == "{":
                    pos = _key(text, pos, stack[-1][0])
                continue
        elif ch == '"':
            value, pos = scanstring(text, pos + 1, True)
        else:
            value, pos = _scalar(text, pos)
        # A value ended at pos: put it in its container, then close what ends here.
        while True:
            if not stack:
                end = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if end != len(text):
                    raise json.JSONDecodeError("Extra data", text, end)
                return value
            items, is_object = stack[-1]
            if is_object:
                items[-1] = (items[-1], value)
            else:
                items.append(value)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            ch = text[pos : pos + 1]
            if ch == ",":
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                if is_object:
                    pos = _key(text, pos, items)
                break
            if ch != ("}" if is_object else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            stack.pop()
            value = _object(items) if is_object else items
            pos += 1


def _key(text: str, pos: int, pairs: list[Any]) -> int:
    """Read ``"key" :`` at pos into ``pairs``; where the value starts."""
    if text[pos : pos + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = scanstring(text, pos + 1, True)
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    pairs.append(key)
    return _WS.match(text, pos + 1).end()  # type: ignore[union-attr]


def _scalar(text: str, pos: int) -> tuple[Any, int]:
    for word, value in _CONSTANTS.items():
        if text.startswith(word, pos):
            return value, pos + len(word)
    for word in _SPECIAL:
        if text.startswith(word, pos):
            return Num(word), pos + len(word)
    m = _NUMBER.match(text, pos)
    if m is None:
        raise json.JSONDecodeError("Expecting value", text, pos)
    return Num(m.group()), m.end()
