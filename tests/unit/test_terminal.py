"""terminal.line / terminal.lines / terminal.json_text: nothing a terminal obeys gets through."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from assay import terminal

OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_a_shown_line_holds_no_control_character_and_no_newline(text: str) -> None:
    shown = terminal.line(text)
    assert not OBEYED.search(shown) and "\n" not in shown
    shown.encode("utf-8")  # no lone surrogate either: it could not be written


@given(st.text())
def test_shown_lines_keep_exactly_the_newlines(text: str) -> None:
    shown = terminal.lines(text)
    assert not OBEYED.search(shown)
    assert shown.count("\n") == text.count("\n")
    shown.encode("utf-8")


def test_escapes_name_the_character() -> None:
    assert terminal.line("a\x1b]52;\x07\r\n\x9b\u202e\udcff") == (
        "a\\x1b]52;\\x07\\x0d\\x0a\\x9b\\u202e\\xff"
    )
    assert terminal.lines("ok\ttab\nnext") == "ok\ttab\nnext"


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_text_is_the_same_document_without_c1_or_bidi_controls(value: object) -> None:
    text = terminal.json_text(json.dumps(value, ensure_ascii=False))
    assert not OBEYED.search(text)
    assert json.loads(text) == value


_EXPECTED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


@given(st.text())
def test_a_line_is_escaped_exactly_where_it_holds_what_a_terminal_obeys(text: str) -> None:
    # (the fast path for text with nothing to escape must change nothing else)
    expected = _EXPECTED.sub(lambda m: "\x00", text.replace("\n", "\x00"))
    shown = terminal.line(text)
    if "\x00" not in expected:
        assert shown == text
    else:
        assert shown != text


def test_showing_text_with_nothing_to_escape_compiles_no_pattern() -> None:
    # The escaping patterns (their character classes span the surrogates) cost ~1.5 ms to
    # compile; a run's header and event lines rarely need them.
    import subprocess
    import sys

    code = (
        "import re._compiler as c\nn = [0]\nreal = c.compile\n"
        "def counted(*a, **k):\n    n[0] += 1\n    return real(*a, **k)\n"
        "c.compile = counted\nfrom assay import terminal\n"
        "assert terminal.line('assay 0.1 · system local · 1 case(s)') == "
        "'assay 0.1 · system local · 1 case(s)'\n"
        "assert terminal.lines('a\\nb') == 'a\\nb'\nprint(n[0])\n"
        "assert terminal.line('a\\x1bb') == 'a\\\\x1bb'\nprint(n[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = out.stdout.split()
    assert before == "0" and after != "0"


def test_json_text_escapes_delete_too() -> None:
    # DEL is ASCII, and JSON encoders leave it as it is.
    assert terminal.json_text('{"a": "x\x7fy"}') == '{"a": "x\\u007fy"}'
    assert terminal.json_text('{"a": "plain"}') == '{"a": "plain"}'
