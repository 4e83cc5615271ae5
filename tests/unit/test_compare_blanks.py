"""Whitespace in text files (mode "numeric"): it counts, but for line ends, a final newline,
a byte order mark, trailing blanks and the blanks that pad a number in an aligned column."""

from __future__ import annotations

from unittest import mock

import pytest

from assay.compare import text as engine
from assay.compare import tokens, validate_spec
from assay.results.differences import describe_differences
from tests.unit.compare_cases import text


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        (
            "def f():\n    return 1\n",
            "def f():\n  return 1\n",
            "line 2, column 3: whitespace differs: 4 spaces expected, 2 spaces found",
        ),
        (
            "a = 1\n",
            "a =  1\n",
            "line 1, column 5: whitespace differs: 1 space expected, 2 spaces found",
        ),
        ("x\t1\n", "x 1\n", "line 1, column 2: whitespace differs: 1 tab expected, 1 space found"),
        ("<pre>a b</pre>\n", "<pre>a  b</pre>\n", "line 1, column 8: whitespace differs"),
        ("key:\n  - 1\n", "key:\n- 1\n", "line 2, column 1: whitespace differs: 2 spaces"),
        (
            "f(a, b)\n",
            "f(a,b)\n",
            "line 1, column 5: whitespace differs: 1 space expected, no blank",
        ),
    ],
)
def test_indentation_and_spacing_in_a_line_count(case, expected, actual, message):
    result = text(expected, actual, case)
    assert not result["ok"]
    (diff,) = result["differences"]
    assert diff["message"].startswith(message)
    assert (result["differing_lines"], result["differing_values"]) == (1, 0)


def test_a_whitespace_difference_is_shown_with_a_marker_where_the_blanks_differ(case):
    verdict = case({"out.py": "if x:\n    y = 1\n"}, {"out.py": "if x:\n  y = 1\n"})
    assert verdict["summary"] == (
        "out.py line 2, column 3: whitespace differs: 4 spaces expected, 2 spaces found"
    )
    shown = describe_differences(verdict).splitlines()
    assert shown[-4:] == [
        "  line 2, column 3: whitespace differs: 4 spaces expected, 2 spaces found",
        "    expected:     y = 1",
        "    actual:     y = 1",
        "                ^",  # (where the expected line has a blank more)
    ]


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("a 1\n", "a 1\r\n"),  # line ends
        ("a 1\nb 2\n", "a 1\nb 2"),  # a missing final newline
        ("a 1\n", "\ufeffa 1\n"),  # a byte order mark
        ("a 1  \n", "a 1\n"),  # trailing blanks
        ("a 1\n", "a 1\t \n"),
        ("x   9.99 y\n", "x  10.01 y\n"),  # a right-aligned column
        ("x 9.99   y\n", "x 10.01  y\n"),  # a left-aligned one
        ("   9.99 |\n", "  10.01 |\n"),  # the column first on the line
        ("  99.9 1\n", "100.01 1\n"),  # a number wider than its column
        ("a 1.5 2.5\n", "a 1.50001 2.5\n"),  # single blanks: no alignment at all
    ],
)
def test_line_ends_trailing_blanks_and_padding_of_numbers_do_not_count(case, expected, actual):
    result = text(expected.encode(), actual.encode(), case, rtol=0.01)
    assert result["ok"], result["differences"]


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("x = 1.5\n", "x =   1.50\n"),  # a number one longer, its padding two longer
        ("x   9.99 y\n", "x     10.01 y\n"),  # a number longer, its padding longer too
        ("x\t9.99\n", "x 10.01\n"),  # a tab is no padding blank
        ("x   1.5\n", "x 1.5\n"),  # the same number: its padding is layout
    ],
)
def test_blanks_that_do_not_only_pad_a_changed_number_count(case, expected, actual):
    result = text(expected, actual, case, rtol=0.1)
    assert not result["ok"]
    assert "whitespace differs" in result["differences"][0]["message"]


def test_whitespace_ignore_is_the_numdiff_way(case):
    expected, actual = "def f():\n    return 1.0\n", "def  f():\n  return 1.00  \r\n"
    assert not text(expected, actual, case)["ok"]
    assert text(expected, actual, case, whitespace="ignore")["ok"]
    rule = {"match": "*.txt", "whitespace": "ignore"}
    assert text(expected, actual, case, rules=[rule])["ok"]
    assert not text(expected, actual.replace("1.00", "2"), case, whitespace="ignore")["ok"]


def test_mode_text_still_counts_every_blank_but_line_ends(case):
    assert not text("a 1\n", "a 1 \n", case, mode="text")["ok"]
    assert text("a 1\n", "a 1\r\n", case, mode="text")["ok"]


def test_token_differences_come_first_and_the_line_counts_once(case):
    result = text("  a 1\n", "    a 2\n", case)
    (diff,) = result["differences"]
    assert diff["message"].startswith("line 1, token 2: expected 1, got 2")
    assert result["differing_lines"] == 1


def test_long_lines_compare_their_blanks_too(case):
    expected = " ".join(["1.5"] * 40) + "\n"
    actual = expected.replace("1.5 1.5", "1.5  1.5", 1)
    short = text(expected, actual, case)
    with mock.patch.object(engine, "PIECE", 16), mock.patch.object(tokens, "PIECE", 16):
        streamed = text(expected, actual, case)
    assert not short["ok"]
    assert (
        short["differences"][0]["message"]
        == streamed["differences"][0]["message"]
        == ("line 1, column 5: whitespace differs: 1 space expected, 2 spaces found")
    )


def test_whitespace_values_are_checked(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "e" / "out.txt").write_text("x\n")
    spec = {"version": 1, "expected": str(tmp_path / "e"), "actual": str(tmp_path / "a")}
    assert validate_spec({**spec, "whitespace": "ignore"}) == []
    assert validate_spec({**spec, "whitespace": "tabs"}) == [
        "whitespace: 'tabs' is not one of significant, ignore (\"significant\": indentation "
        'and spacing in a line count; "ignore": whitespace only separates tokens)'
    ]
    assert validate_spec({**spec, "mode": "text", "whitespace": "ignore"}) == [
        'whitespace: mode "text" compares lines exactly as written, so whitespace = "ignore" '
        'would not apply; remove it, or use mode = "numeric"'
    ]
