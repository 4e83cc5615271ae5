"""The msgspec error messages ``assay.validation`` reads, pinned.

msgspec gives a ``ValidationError`` only as text (no structured path or kind), so
``validation`` reads that text with the patterns it exports. Each test here makes msgspec
raise one kind of error and checks the raw text twice: literally, and against the pattern the
parser uses. A msgspec upgrade that rewords a message fails here, loudly, instead of quietly
degrading every config and suite error message. A message of a shape the parser does not know
still reaches the user as msgspec's own text.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import pytest

from assay import validation
from assay.config import parse_config
from assay.durations import Duration
from assay.errors import ConfigError
from assay.validation import Invalid, convert, explain


class Inner(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    kind: Literal["fast", "exact"] = "fast"
    count: Annotated[int, msgspec.Meta(ge=1)] = 1
    poll: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    limits: dict[str, int] = {}
    sizes: list[int] = []
    label: str | None = None
    limit: Duration | None = None


class Outer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    name: str
    inner: Inner = Inner()
    tables: dict[str, Inner] = {}


def raw(data: Any) -> str:
    """msgspec's own text for ``data`` against ``Outer``."""
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(data, Outer, dec_hook=validation.decode_hook)
    return str(info.value)


def said(data: Any) -> tuple[str, str]:
    """(path, message) as assay says it."""
    with pytest.raises(Invalid) as info:
        convert(data, Outer)
    return info.value.path, info.value.message


# (document, msgspec's exact text, the pattern of validation that reads it, what assay says)
KINDS = {
    "unknown field": (
        {"name": "x", "inner": {"cont": 2}},
        "Object contains unknown field `cont` - at `$.inner`",
        validation.UNKNOWN_FIELD,
        (
            "inner",
            "unknown key 'cont' (did you mean 'count'?); allowed keys: kind, count, poll, "
            "limits, sizes, label, limit",
        ),
    ),
    "unknown field at the top": (
        {"name": "x", "nmae": 1},
        "Object contains unknown field `nmae`",
        validation.UNKNOWN_FIELD,
        (
            "(top level)",
            "unknown key 'nmae' (did you mean 'name'?); allowed keys: name, inner, tables",
        ),
    ),
    "missing field": (
        {},
        "Object missing required field `name`",
        validation.MISSING_FIELD,
        ("(top level)", "missing required key 'name'"),
    ),
    "wrong type": (
        {"name": 5},
        "Expected `str`, got `int` - at `$.name`",
        validation.EXPECTED,
        ("name", "expected a string, got an integer"),
    ),
    "wrong type, optional": (
        {"name": "x", "inner": {"label": 5}},
        "Expected `str | null`, got `int` - at `$.inner.label`",
        validation.EXPECTED,
        ("inner.label", "expected a string, got an integer"),
    ),
    "table expected": (
        {"name": "x", "inner": [1]},
        "Expected `object`, got `array` - at `$.inner`",
        validation.EXPECTED,
        ("inner", "expected a table, got a list"),
    ),
    "enum value": (
        {"name": "x", "inner": {"kind": "quick"}},
        "Invalid enum value 'quick' - at `$.inner.kind`",
        validation.ENUM_VALUE,
        ("inner.kind", "'quick' is not allowed; allowed values: 'fast', 'exact'"),
    ),
    "ge constraint": (
        {"name": "x", "inner": {"count": 0}},
        "Expected `int` >= 1 - at `$.inner.count`",
        validation.EXPECTED,
        ("inner.count", "expected an integer >= 1"),
    ),
    "gt constraint": (
        {"name": "x", "inner": {"poll": 0}},
        "Expected `float` > 0.0 - at `$.inner.poll`",
        validation.EXPECTED,
        ("inner.poll", "expected a number > 0.0"),
    ),
    "dict key": (
        {"name": "x", "tables": {"ok": {}, "bad one": {"count": 0}}},
        "Expected `int` >= 1 - at `$.tables[...].count`",
        validation.EXPECTED,
        ('tables."bad one".count', "expected an integer >= 1"),
    ),
    "dict value": (
        {"name": "x", "inner": {"limits": {"a": 1, "b": "two"}}},
        "Expected `int`, got `str` - at `$.inner.limits[...]`",
        validation.EXPECTED,
        ("inner.limits.b", "expected an integer, got a string"),
    ),
    "list index": (
        {"name": "x", "inner": {"sizes": [1, 2, "three"]}},
        "Expected `int`, got `str` - at `$.inner.sizes[2]`",
        validation.EXPECTED,
        ("inner.sizes[2]", "expected an integer, got a string"),
    ),
    "custom type (dec_hook)": (
        {"name": "x", "tables": {"t": {"limit": "soon"}}},
        "'soon' is not a duration; write e.g. '90s', '5m', '1h30m', '2.5s' or '01:30:00' "
        "- at `$.tables[...].limit`",
        validation.AT,
        (
            "tables.t.limit",
            "'soon' is not a duration; write e.g. '90s', '5m', '1h30m', '2.5s' or '01:30:00'",
        ),
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_msgspec_still_says_it_the_way_validation_reads_it(kind: str) -> None:
    data, text, pattern, _ = KINDS[kind]
    assert raw(data) == text
    what = validation.AT.fullmatch(text)
    message = what.group("what") if what else text
    assert pattern.fullmatch(message if pattern is not validation.AT else text), (
        f"msgspec {msgspec.__version__} words {kind!r} differently: {text!r}"
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_becomes_a_message_that_names_the_key(kind: str) -> None:
    data, _, _, expected = KINDS[kind]
    assert said(data) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Expected `int`, got `str` - at `$.inner{0}`",  # a path segment of a new shape
        "Expected `int`, got `str` - at `$.tables['t'].count`",  # keys spelt out in the path
        "Something else entirely happened",
    ],
)
def test_a_message_of_a_shape_msgspec_does_not_give_today_reaches_the_user_whole(
    text: str,
) -> None:
    # msgspec cannot be made to say these on demand: the error is built by hand.
    path, message = explain(msgspec.ValidationError(text), {"name": "x"}, Outer)
    assert path is None
    assert message == text


def test_an_unparsed_message_is_said_with_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_convert_of_a_reworded_msgspec(data: Any, typ: Any, **options: Any) -> Any:
        raise msgspec.ValidationError("Value at <systems/a> is bad")

    monkeypatch.setattr(validation.msgspec, "convert", fake_convert_of_a_reworded_msgspec)
    with pytest.raises(ConfigError) as info:
        parse_config("[systems.a.partitions.p]\n", "x.toml")
    assert info.value.message == "x.toml: Value at <systems/a> is bad"


def test_an_unknown_kind_of_error_at_a_known_place_keeps_the_place() -> None:
    error = msgspec.ValidationError("Value is frobnicated - at `$.tables[...].count`")
    data = {"name": "x", "tables": {"t": {"count": 0}}}
    assert explain(error, data, Outer) == ("tables.t.count", "Value is frobnicated")
