"""What the comparison engine tells a reader: where the first difference is (line, token,
character column), both lines around it, the first missing line, text as it is, and the
exact line mode (``mode = "text"``)."""

from __future__ import annotations

from unittest import mock

import pytest

from assay.compare import text as text_engine
from assay.compare import tokens, validate_spec
from tests.unit.compare_cases import Case, one, text

# ------------------------------------------------------------------------ text as it is


def test_a_backslash_is_shown_once_and_control_characters_are_escaped(case: Case):
    result = text("p\\q \x1b[0m r\n", "p\\q \x1b[0m\n", case)
    (diff,) = result["differences"]
    # One backslash as in the file (repr() would double it), the escape character as \x1b.
    assert diff["message"] == (
        "line 1, token 7: expected 7 tokens, got 6: 'p\\q \\x1b[0m r' vs 'p\\q \\x1b[0m'"
    )
    assert "\\\\" not in diff["message"]
    assert diff["expected_line"] == "p\\q \x1b[0m r"  # the record keeps the text itself


def test_bytes_that_are_not_utf8_are_shown_as_hex(case: Case):
    result = text(b"name caf\xe9\n", b"name cafe\n", case, rules=[{"match": "*", "format": "text"}])
    (diff,) = result["differences"]
    assert diff["message"] == (
        "line 1, token 2: expected 3 tokens, got 2: 'name caf\\xe9' vs 'name cafe'"
    )


# ------------------------------------------------------------------- where it differs


def test_the_marker_is_at_the_first_differing_character_of_the_differing_token(case: Case):
    (diff,) = text("+STR\n=VAL :anchor\\b\n", "+STR\n=VAL :a\\b\n", case)["differences"]
    assert (diff["line"], diff["token"], diff["column"]) == (2, 4, 8)
    assert diff["message"] == "line 2, token 4: expected 'anchor', got 'a'"
    assert (diff["expected_line"], diff["actual_line"]) == ("=VAL :anchor\\b", "=VAL :a\\b")
    assert diff["expected_line"][diff["expected_mark"] :] == "nchor\\b"
    assert diff["actual_line"][diff["actual_mark"] :] == "\\b"


def test_numbers_within_tolerance_before_the_difference_are_not_marked(case: Case):
    result = text("x 1.0 y 5\n", "x 1.0000001 y 6\n", case, rtol=1e-3)
    (diff,) = result["differences"]
    assert diff["token"] == 4
    # Blanks may differ too: each line has its own mark.
    assert diff["expected_line"][diff["expected_mark"] :] == "5"
    assert diff["actual_line"][diff["actual_mark"] :] == "6"


def test_the_column_counts_in_the_line_as_it_is_when_ignore_removed_a_part(case: Case):
    result = text("[10:00] v 1.5\n", "[11:59:59] v 1.6\n", case, ignore=[r"^\[[0-9:]+\]"])
    (diff,) = result["differences"]
    assert diff["token"] == 2  # of the text as compared ("v 1.5")
    assert diff["column"] == len("[10:00] v 1.") + 1
    assert diff["expected_line"] == "[10:00] v 1.5"  # shown as it is, ignored part included
    assert diff["actual_line"][diff["actual_mark"] :] == "6"


def test_a_long_line_is_cut_around_the_difference(case: Case):
    expected = " ".join(str(i) for i in range(2000)) + "\n"
    actual = expected.replace(" 1500 ", " 1501 ")
    (diff,) = text(expected, actual, case)["differences"]
    shown = diff["expected_line"]
    assert shown.startswith("...") and shown.endswith("...")
    assert len(shown) == 206
    assert shown[diff["expected_mark"] :].startswith("0 1501")  # 1500: the 0 differs
    assert diff["actual_line"][diff["actual_mark"] :].startswith("1 1501")


def test_long_lines_read_as_streams_show_the_same_as_short_lines(case: Case):
    # Forced through the streaming path (pieces of 8 characters), the record is the same.
    expected = "alpha 1.5 beta 2.5 gamma delta 3\n"
    actual = "alpha 1.5 beta 2.6 gamma delta\n"
    short = text(expected, actual, case)
    same_count = text(expected, actual.replace("delta", "delta 3").replace("2.6", "2.7"), case)
    with mock.patch.object(text_engine, "PIECE", 8), mock.patch.object(tokens, "PIECE", 8):
        assert text(expected, actual, case) == short
        streamed = text(expected, actual.replace("delta", "delta 3").replace("2.6", "2.7"), case)
        assert streamed == same_count
    assert same_count["differences"][0]["actual_line"][
        same_count["differences"][0]["actual_mark"] :
    ].startswith("7 gamma")


# ---------------------------------------------------------- the first missing line(s)


def test_when_actual_ends_early_the_first_missing_line_is_the_expected_value(case: Case):
    expected = "".join(f"+EVENT {i}\n" for i in range(1, 15))
    actual = "".join(f"+EVENT {i}\n" for i in range(1, 10))
    result = text(expected, actual, case)
    (diff,) = result["differences"]
    assert diff["line"] == 10
    assert diff["expected"] == "+EVENT 10"  # was null: the line exists and is shown
    assert diff["message"] == (
        "line 10: actual ends after line 9; expected has 5 more lines, the first: '+EVENT 10'"
    )


def test_csv_rows_missing_at_the_end_show_the_first_one(case: Case):
    result = one(case({"r.csv": "a,b\n1,2\n3,4\n5,6\n"}, {"r.csv": "a,b\n1,2\n"}))
    (diff,) = result["differences"]
    assert (diff["line"], diff["expected"]) == (3, "3,4")


# --------------------------------------------------------------------- mode = "text"


def test_text_mode_compares_whole_lines_exactly(case: Case):
    assert text("x 1.0\n", "x 1.00\n", case)["ok"]  # numeric mode: equal numbers
    exact = text("x 1.0\n", "x 1.00\n", case, mode="text")
    assert not exact["ok"]
    (diff,) = exact["differences"]
    assert diff["message"] == "line 1, column 6: expected 'x 1.0', got 'x 1.00'"
    assert (diff["column"], diff["expected_mark"], diff["actual_mark"]) == (6, 5, 5)
    assert "token" not in diff
    # Blanks count, line ends and a missing final newline do not.
    assert not text("a  b\n", "a b\n", case, mode="text")["ok"]
    assert text("a b\r\n", "a b", case, mode="text")["ok"]
    # Ignore patterns still apply.
    assert text("t=1 ok\n", "t=2 ok\n", case, mode="text", ignore=[r"t=\d "])["ok"]


def test_text_mode_per_rule_and_for_csv_and_json(case: Case):
    rules = [{"match": "*.log", "mode": "text"}]
    verdict = case(
        {"a.log": "v 1.0\n", "b.txt": "v 1.0\n"},
        {"a.log": "v 1.00\n", "b.txt": "v 1.00\n"},
        rules=rules,
    )
    assert [(f["file"], f["ok"]) for f in verdict["files"]] == [("a.log", False), ("b.txt", True)]
    csv = one(case({"r.csv": "a\n1.0\n"}, {"r.csv": "a\n1.00\n"}, mode="text"))
    assert not csv["ok"]
    doc = one(case({"d.json": '{"a": 1.0}'}, {"d.json": '{"a": 1.00}'}, mode="text"))
    assert not doc["ok"] and doc["differences"][0]["message"] == "a: expected 1.0, got 1.00"


def test_text_mode_on_long_lines_read_as_streams(case: Case):
    expected = "word " * 10 + "end\n"
    actual = "word " * 10 + "End\n"
    short = text(expected, actual, case, mode="text")
    with mock.patch.object(text_engine, "PIECE", 8), mock.patch.object(tokens, "PIECE", 8):
        assert text(expected, actual, case, mode="text") == short
        assert text(expected, expected, case, mode="text")["ok"]
    assert short["differences"][0]["column"] == 51


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"mode": "exact"}, "mode: 'exact' is not one of numeric, text (\"text\": lines"),
        ({"mode": "text", "rtol": 1e-6}, 'mode: "text" compares exactly, so rtol would not apply'),
        (
            {"rules": [{"match": "*", "mode": "text", "fields": [{"pattern": "(x)"}]}]},
            'rules[0].mode: "text" compares exactly, so fields would not apply',
        ),
    ],
)
def test_text_mode_refuses_what_would_not_apply(tmp_path, spec, problem):
    (tmp_path / "x").write_text("x\n")
    full = {"version": 1, "expected": str(tmp_path / "x"), "actual": str(tmp_path / "x"), **spec}
    problems = validate_spec(full)
    assert len(problems) == 1 and problems[0].startswith(problem), problems
