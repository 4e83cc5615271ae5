"""Suite-file mistakes found by a second new-user pass (a brotli decoder suite with a
compression sweep): each problem points at the line the user must change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.suite_files import load_problems, make_home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


def _problems(home: Path, text: str) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in load_problems(home, text)]


def test_an_unknown_key_is_reported_on_its_own_line_not_its_tables(home):
    text = '[suite]\ncases = "cases/*"\ncomand = "echo hi > out"\n'
    ((line, message),) = _problems(home, text)
    assert "unknown key 'comand'" in message
    assert line == 3


def test_an_unknown_key_in_an_inline_table_under_a_quoted_header_is_on_its_line(home):
    text = (
        "[suite]\n"
        'cases = "cases/*"\n'
        'command = "echo hi > out"\n'
        "[suite.metrics.x]\n"
        'regex = "x: (\\\\d+)"\n'
        '[suite.references."*"]\n'
        "x = { value = 1, uper = 0.1 }\n"
    )
    ((line, message),) = _problems(home, text)
    assert "unknown key 'uper'" in message
    assert line == 7


def test_an_unknown_key_in_a_sub_table_is_on_its_line(home):
    text = (
        '[suite]\ncases = "cases/*"\ncommand = "echo hi > out"\n\n'
        '[suite.compare]\nfiles = ["out"]\nrtoll = 0.1\n'
    )
    ((line, message),) = _problems(home, text)
    assert "unknown key 'rtoll'" in message and "did you mean 'rtol'?" in message
    assert line == 7


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("time_limit = 5m", 'a text value needs quotes: time_limit = "5m"'),
        (
            "command = echo hi > out  # a note",
            'a text value needs quotes: command = "echo hi > out"',
        ),
    ],
)
def test_text_written_without_its_quotes_is_told_to_quote_it(home, line, hint):
    # Before: only tomllib's "Invalid value (at line 3, column 11)".
    ((number, message),) = _problems(home, f'[suite]\ncases = "cases/*"\n{line}\n')
    assert number == 3 and message.startswith("not valid TOML: "), message
    assert message.endswith(hint), message


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("tasks = 4 4", "a list is written in brackets: tasks = [4, 4]"),
        ("tasks = 1, 2, 4", "a list is written in brackets: tasks = [1, 2, 4]"),
    ],
)
def test_numbers_written_side_by_side_are_told_to_make_a_list(home, line, hint):
    # Before: "a text value needs quotes: tasks = "4 4"", which then failed as no number.
    ((number, message),) = _problems(home, f'[suite]\ncases = "cases/*"\n{line}\n')
    assert number == 3 and message.startswith("not valid TOML: "), message
    assert "(at line 3, column" in message
    assert message.endswith(hint), message
    assert "needs quotes" not in message


def test_a_syntax_error_elsewhere_gets_no_quoting_hint(home):
    ((_, message),) = _problems(home, '[suite]\ncases = "cases/*"\ntime_limit = "5m\n')
    assert "needs quotes" not in message, message
