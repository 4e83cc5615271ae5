"""msgspec imported without typing_extensions (assay.defertyping): nothing imports it until
msgspec reads annotations, and msgspec then calls the very function it calls when imported
the plain way. Each case runs in a fresh interpreter (this one has msgspec in already)."""

from __future__ import annotations

import json
import subprocess
import sys

# A Struct and a TypedDict with NotRequired keys, decoded (msgspec tells required keys from
# the others with _utils' Required/NotRequired); then msgspec's get_type_hints, the one its
# core looks up in _utils (the extras kept: the Annotated metadata).
_USE = """
import typing
import msgspec

class Point(msgspec.Struct):
    x: int
    tags: typing.Annotated[list[str], msgspec.Meta(max_length=2)] = []

class Opts(typing.TypedDict):
    name: str
    level: typing.NotRequired[int]

point = msgspec.json.decode(b'{"x": 1, "tags": ["a"]}', type=Point)
opts = msgspec.json.decode(b'{"name": "n"}', type=Opts)
try:
    msgspec.json.decode(b'{"level": 1}', type=Opts)
    missing = None
except msgspec.ValidationError as exc:
    missing = str(exc)
try:
    msgspec.json.decode(b'{"x": 1, "tags": ["a", "b", "c"]}', type=Point)
    too_long = None
except msgspec.ValidationError as exc:
    too_long = str(exc)
import msgspec._utils
hints = repr(msgspec._utils.get_type_hints(Point))
result = [point.x, point.tags, opts, missing, too_long, hints]
"""


def _probe(before: str, after: str = "") -> dict[str, object]:
    code = (
        "import json, sys\n"
        f"{before}\n"
        "imported_at_first = 'typing_extensions' in sys.modules\n"
        f"{_USE}\n"
        "import msgspec._utils as u\n"
        "te = sys.modules.get('typing_extensions')\n"
        f"{after}\n"
        "print(json.dumps({'first': imported_at_first, 'result': result,\n"
        "    'hints_te': te is not None and u._get_type_hints is te.get_type_hints,\n"
        "    'hints_typing': u._get_type_hints is __import__('typing').get_type_hints,\n"
        "    'required_same': u.Required is __import__('typing').Required}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    probe: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return probe


def test_msgspec_comes_without_typing_extensions_and_then_uses_it_as_before():
    plain = _probe("import msgspec")
    deferred = _probe(
        "from assay.defertyping import import_msgspec\n"
        "import_msgspec()\n"
        "import msgspec._utils as u0\n"
        "waiting = 'typing_extensions' not in sys.modules and u0._get_type_hints.__name__\n"
        "assert waiting == '_first_get_type_hints', waiting"
    )
    assert plain["first"] is True and deferred["first"] is False
    # The same answers, and msgspec's get_type_hints is typing_extensions' from then on.
    assert deferred["result"] == plain["result"]
    assert deferred["result"][3] is not None and deferred["result"][4] is not None
    assert "Annotated" in deferred["result"][5]
    assert deferred["hints_te"] is True and plain["hints_te"] is True
    assert deferred["required_same"] is True and plain["required_same"] is True


def test_without_typing_extensions_msgspec_falls_back_to_typing_as_it_would():
    # Not installed (or broken) when msgspec first reads annotations: typing's, as msgspec
    # itself would have taken had it been missing at its import.
    deferred = _probe(
        "from assay.defertyping import import_msgspec\n"
        "import_msgspec()\n"
        "sys.modules['typing_extensions'] = None"
    )
    plain = _probe("sys.modules['typing_extensions'] = None\nimport msgspec")
    assert deferred["result"] == plain["result"]
    assert deferred["hints_typing"] is True and plain["hints_typing"] is True


def test_the_plain_import_when_typing_extensions_is_in_or_a_thread_runs():
    loaded = _probe(
        "import typing_extensions\n"
        "from assay.defertyping import import_msgspec\n"
        "import_msgspec()\n"
        "import msgspec._utils as u0\n"
        "assert u0._get_type_hints is typing_extensions.get_type_hints"
    )
    assert loaded["hints_te"] is True
    threaded = _probe(
        "import threading\n"
        "stop = threading.Event()\n"
        "t = threading.Thread(target=stop.wait, daemon=True)\n"
        "t.start()\n"
        "from assay.defertyping import import_msgspec\n"
        "import_msgspec()\n"
        "assert 'typing_extensions' in sys.modules\n"
        "stop.set()"
    )
    assert threaded["first"] is True and threaded["hints_te"] is True


# msgspec's type descriptions and JSON schemas, asked through every name they are reached by.
_DESCRIBE = """
import json, sys, typing
import msgspec
waiting = sorted(m for m in ("msgspec.inspect", "msgspec._json_schema") if m in sys.modules)

class Point(msgspec.Struct):
    x: int
    tags: typing.Annotated[list[str], msgspec.Meta(max_length=2)] = []

from msgspec import inspect as mi  # (taken before anything imports it: a stand-in works)
info = repr(mi.type_info(Point))
schema = msgspec.json.schema(Point)
components = msgspec.json.schema_components([Point])
import msgspec.inspect
import msgspec._json_schema as js
same = [
    msgspec.inspect is sys.modules["msgspec.inspect"],
    js.mi is msgspec.inspect,
    msgspec.json.schema is js.schema,
    msgspec.json.schema_components is js.schema_components,
]
print(json.dumps([waiting, schema, repr(components), info, same]))
"""


def _describe(before: str) -> list[object]:
    code = f"{before}\n{_DESCRIBE}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    described: list[object] = json.loads(out.stdout.strip().splitlines()[-1])
    return described


def test_msgspecs_type_descriptions_wait_until_used_and_answer_as_before():
    plain = _describe("")
    deferred = _describe("from assay.defertyping import import_msgspec\nimport_msgspec()")
    assert plain[0] == ["msgspec._json_schema", "msgspec.inspect"]
    assert deferred[0] == []  # neither imported with msgspec
    assert deferred[1:4] == plain[1:4]  # the same schemas and descriptions
    # ... and once used, every name is the real module's or function, as if never deferred.
    assert deferred[4] == [True, True, True, True], deferred[4]
    assert plain[4] == [True, True, True, True]
