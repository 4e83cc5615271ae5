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
