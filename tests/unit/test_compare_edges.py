"""The comparison engine at its edges: exact decimal tolerances, huge and special numbers,
duplicate names, encodings, deep JSON, odd files. Each of these once gave a wrong verdict."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assay.compare import compare_files
from tests.unit.compare_cases import Case, one, put, text

BIG = "1" + "0" * 5000  # beyond Python's 4,300-digit int/str conversion limit
BIG_PLUS_1 = "1" + "0" * 4999 + "1"


# ----------------------------------------------------------------- tolerance boundaries


@pytest.mark.parametrize(
    ("expected", "actual", "spec", "ok"),
    [
        ("1.0", "1.1", {"rtol": 0.1}, True),  # |1.1 - 1.0| = 0.1 <= 0.1 * 1.0, in decimal
        ("1.0", "0.9", {"rtol": 0.1}, True),
        ("1.0", "1.1", {"atol": 0.1}, True),
        ("10", "10.3", {"atol": 0.3}, True),
        ("1.0", "1.1000000000000001", {"rtol": 0.1}, False),  # just past it
        ("1.0", "1.1000000000000001", {"atol": 0.1}, False),
        ("0.3", "0.1", {"atol": 0.2}, True),
        ("3", "2.7", {"rtol": 0.1}, True),
    ],
)
def test_tolerance_boundaries_are_inclusive_in_decimal(case: Case, expected, actual, spec, ok):
    assert text(f"x {expected}\n", f"x {actual}\n", case, **spec)["ok"] is ok
    csv = one(case({"r.csv": f"v\n{expected}\n"}, {"r.csv": f"v\n{actual}\n"}, **spec))
    assert csv["ok"] is ok
    doc = one(case({"d.json": f"[{expected}]"}, {"d.json": f"[{actual}]"}, **spec))
    assert doc["ok"] is ok


# ---------------------------------------------------------------- expected value of zero


def test_relative_error_against_an_expected_zero_is_undefined(case: Case):
    result = text("x 0\n", "x 1e-300\n", case)
    (diff,) = result["differences"]
    assert diff["abs_error"] == 1e-300
    assert diff["rel_error"] is None  # not 4.5e+07 (1e-300 over the smallest normal float)
    assert diff["message"] == (
        "line 1, token 2: expected 0, got 1e-300 "
        "(abs error 1e-300 > atol 0; no relative error against an expected 0)"
    )
    assert (result["max_rel_error"], result["max_abs_error"]) == (None, 1e-300)
    assert result["where_max_abs"] == "line 1, token 2"


def test_an_expected_zero_is_only_met_within_atol(case: Case):
    assert not text("x 0\n", "x 1e-300\n", case, rtol=0.5)["ok"]
    assert text("x 0\n", "x 1e-300\n", case, atol=1e-300)["ok"]
    assert text("x 0\n", "x -0.0\n", case)["ok"]


def test_the_summary_names_the_largest_absolute_error_when_no_relative_one_exists(case: Case):
    verdict = case({"log.txt": "a 0\nb 0\n"}, {"log.txt": "a 1e-9\nb 2e-9\n"})
    assert verdict["summary"] == (
        "log.txt line 1, token 2: expected 0, got 1e-9 (abs error 1e-09 > atol 0; no relative "
        "error against an expected 0); 2 values differ in 2 lines, max abs error 2.0e-09 at "
        "line 2, token 2"
    )


# ------------------------------------------------------------------------- big numbers


def test_integers_beyond_the_conversion_limit_compare_exactly(case: Case):
    result = text(f"n {BIG}\n", f"n {BIG_PLUS_1}\n", case)
    (diff,) = result["differences"]
    assert diff["abs_error"] == 1.0
    assert diff["message"].startswith("line 1, token 2: expected 1000")
    assert "(abs error 1 > atol 0, rel error 1e-5000 > rtol 0)" in diff["message"]
    assert text(f"n {BIG}\n", f"n +{BIG}\n", case)["ok"]
    assert text(f"n {BIG}\n", f"n {BIG}.000\n", case)["ok"]
    assert text(f"n {BIG}\n", f"n {BIG_PLUS_1}\n", case, rtol=1e-300)["ok"]


def test_integers_beyond_the_conversion_limit_in_csv_and_json(case: Case):
    csv = one(case({"r.csv": f"n\n{BIG}\n"}, {"r.csv": f"n\n{BIG_PLUS_1}\n"}))
    assert csv["differences"][0]["abs_error"] == 1.0
    doc = one(case({"d.json": f"[{BIG}]"}, {"d.json": f"[{BIG_PLUS_1}]"}))
    assert doc["message"] is None
    assert doc["differences"][0]["abs_error"] == 1.0
    assert one(case({"d.json": f"[{BIG}]"}, {"d.json": f"[ {BIG} ]"}))["ok"]


def test_numbers_beyond_the_float_range_are_not_infinite(case: Case):
    # As floats both are inf, so they once compared equal.
    result = text("x 1e400\n", "x 2e400\n", case, rtol=0.5)
    assert not result["ok"]
    assert (
        "abs error 1e+400 > atol 0, rel error 1 > rtol 0.5" in result["differences"][0]["message"]
    )
    assert text("x 1e400\n", "x 1.0e400\n", case)["ok"]
    assert not text("x 1e400\n", "x inf\n", case)["ok"]
    assert not text("x 1e-400\n", "x 2e-400\n", case)["ok"]
    assert text("x 1e-400\n", "x 2e-400\n", case, atol=1e-300)["ok"]
    doc = one(case({"d.json": "[1e400]"}, {"d.json": "[2e400]"}))
    assert not doc["ok"]


def test_exponents_beyond_any_decimal_context(case: Case):
    huge = "1e99999999999999999999"
    assert text(f"x {huge}\n", f"x {huge}\n", case)["ok"]
    assert text(f"x {huge}\n", "x 10e99999999999999999998\n", case)["ok"]
    assert not text(f"x {huge}\n", "x 2e99999999999999999999\n", case)["ok"]
    assert text(f"x {huge}\n", "x 1.0000001e99999999999999999999\n", case, rtol=1e-6)["ok"]
    assert text("x 1e-99999999999999999999\n", "x 0\n", case, atol=1e-300)["ok"]
    assert not text("x 1e-99999999999999999999\n", "x 0\n", case)["ok"]
    exp = "9" * 5000  # an exponent beyond the conversion limit too
    assert not text(f"x 1e{exp}\n", f"x 2e{exp}\n", case)["ok"]
    assert text(f"x 1e-{exp}\n", f"x 2e-{exp}\n", case, atol=1e-300)["ok"]


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("nan", "nan", True),
        ("nan", "-nan", True),
        ("NaN", "nan", True),
        ("inf", "inf", True),
        ("inf", "+Infinity", True),
        ("-inf", "-inf", True),
        ("-0", "0", True),
        ("-0.0", "0e5", True),
        ("inf", "-inf", False),
        ("nan", "inf", False),
        ("nan", "0", False),
        ("1e308", "inf", False),
    ],
)
def test_special_values(case: Case, expected, actual, ok):
    assert text(f"v {expected}\n", f"v {actual}\n", case, rtol=1)["ok"] is ok


# --------------------------------------------------------------------------------- CSV


def test_csv_duplicate_column_names_pair_by_occurrence(case: Case):
    expected = "t,x,x\n1,10,20\n"
    result = one(case({"r.csv": expected}, {"r.csv": "t,x,x\n1,10,21\n"}))
    (diff,) = result["differences"]  # the second x once went unchecked
    assert (diff["column"], diff["index"], diff["expected"], diff["actual"]) == ("x", 3, "20", "21")
    assert diff["message"].startswith("line 2, column 'x' (occurrence 2): expected 20, got 21")
    fewer = one(case({"r.csv": expected}, {"r.csv": "t,x\n1,10\n"}))
    assert [d["message"] for d in fewer["differences"]] == [
        "line 1: missing column 'x' (occurrence 2, column 3 of expected)"
    ]
    moved = one(case({"r.csv": expected}, {"r.csv": "x,t,x\n10,1,20\n"}))
    assert moved["ok"]


def test_csv_key_on_a_duplicate_column_name_is_refused(case: Case):
    rules = [{"match": "*.csv", "key": "x"}]
    result = one(case({"r.csv": "x,x\n1,2\n"}, {"r.csv": "x,x\n1,2\n"}, rules=rules))
    assert not result["ok"]
    assert result["message"] == (
        "key: column 'x' appears 2 times in the header of expected; key columns need unique names"
    )


def test_csv_cells_missing_on_both_sides_are_not_a_difference(case: Case):
    result = one(case({"r.csv": "a,b,c\n1,2\n"}, {"r.csv": "a,b,c\n1,3\n"}))
    assert [d["column"] for d in result["differences"]] == ["b"]


def test_csv_rows_with_quoted_newlines_report_the_line_where_they_start(case: Case):
    expected = 'id,note\n1,"two\nlines"\n2,x\n'
    result = one(case({"r.csv": expected}, {"r.csv": expected.replace("2,x", "2,y")}))
    (diff,) = result["differences"]
    assert diff["line"] == 4
    changed = one(case({"r.csv": expected}, {"r.csv": expected.replace("two", "2")}))
    assert changed["differences"][0]["line"] == 2


def test_csv_cells_longer_than_the_csv_modules_default_limit(case: Case):
    cell = "x" * 200_000
    expected = f"a,b\n{cell},1\n"
    assert one(case({"r.csv": expected}, {"r.csv": expected.replace(",1", ",1.0")}))["ok"]


# ------------------------------------------------------------------------------ encodings


def test_a_byte_order_mark_is_not_content(case: Case):
    bom = "\ufeff"
    assert text(f"{bom}a 1\n", "a 1.0\n", case)["ok"]
    assert one(case({"r.csv": f"{bom}id,v\n1,2\n"}, {"r.csv": "id,v\n1,2.0\n"}))["ok"]
    assert one(case({"d.json": f'{bom}{{"a": 1}}'}, {"d.json": '{"a": 1.0}'}))["ok"]


def test_different_invalid_utf8_bytes_are_different(case: Case):
    # Valid UTF-8 for the first 8 KiB (so the file sniffs as text), then a bad byte: both
    # bad bytes once decoded to the same replacement character.
    head = b"ok 1\n" * 2000
    result = text(head + b"bad \xff\n", head + b"bad \xfe\n", case)
    assert not result["ok"]
    assert result["differences"][0]["line"] == 2001
    rules = [{"match": "*.csv", "format": "csv"}]
    csv = one(case({"r.csv": b"v\n\xff\n"}, {"r.csv": b"v\n\xfe\n"}, rules=rules))
    assert not csv["ok"]
    assert text(head + b"bad \xff\n", head + b"bad \xff\r\n", case)["ok"]


def test_json_that_is_not_utf8_names_the_side(case: Case):
    result = one(case({"d.json": "[1]"}, {"d.json": b"[\xff]"}))
    assert result["message"].startswith("actual is not valid JSON: not UTF-8")


# ----------------------------------------------------------------------------------- JSON


def test_json_duplicate_keys_are_compared_occurrence_by_occurrence(case: Case):
    expected = '{"a": 1, "a": 2}'
    result = one(case({"d.json": expected}, {"d.json": '{"a": 9, "a": 2}'}))
    (diff,) = result["differences"]  # json.load keeps the last "a" only: once equal
    assert (diff["column"], diff["expected"], diff["actual"]) == ("a", "1", "9")
    fewer = one(case({"d.json": expected}, {"d.json": '{"a": 2}'}))
    assert [d["message"] for d in fewer["differences"]] == [
        "a: expected 1, got 2 (abs error 1 > atol 0, rel error 1 > rtol 0)",
        "a: the key appears 2 times in expected, 1 time in actual",
    ]
    second = one(case({"d.json": expected}, {"d.json": '{"a": 1, "a": 3}'}))
    assert second["differences"][0]["column"] == "a#2"


def test_deeply_nested_json_is_compared(case: Case):
    depth = 100_000
    doc = "[" * depth + "1" + "]" * depth
    assert one(case({"d.json": doc}, {"d.json": doc}))["ok"]
    result = one(case({"d.json": doc}, {"d.json": doc.replace("1", "2")}))
    (diff,) = result["differences"]
    assert diff["column"].startswith("[0][0][0]")
    assert len(json.dumps(result)) < 10_000


def test_json_numbers_keep_their_text_in_messages(case: Case):
    (diff,) = one(case({"d.json": '{"e": 1.50E+3}'}, {"d.json": '{"e": 1.6e3}'}))["differences"]
    assert diff["message"].startswith("e: expected 1.50E+3, got 1.6e3")
    assert (diff["expected"], diff["actual"]) == ("1.50E+3", "1.6e3")


# ---------------------------------------------------------------------------------- files


@pytest.mark.timeout(30)
def test_an_actual_fifo_is_refused_not_read(case: Case, tmp_path: Path):
    (tmp_path / "expected").mkdir()
    (tmp_path / "actual").mkdir()
    put(tmp_path / "expected", "out.txt", "1\n")
    os.mkfifo(tmp_path / "actual" / "out.txt")  # opening it would wait for a writer forever
    result = one(compare_files(str(tmp_path / "expected"), str(tmp_path / "actual")))
    assert not result["ok"]
    assert result["message"] == (
        f"actual {tmp_path / 'actual' / 'out.txt'} is a FIFO, not a regular file"
    )


def test_files_below_a_symlinked_directory_are_compared(tmp_path: Path):
    for side, value in (("expected", "1"), ("actual", "2")):
        put(tmp_path / f"{side}-real", "a.txt", f"{value}\n")
        put(tmp_path / side, "top.txt", "x\n")
        os.symlink(tmp_path / f"{side}-real", tmp_path / side / "linked")
    os.symlink(".", tmp_path / "expected" / "loop")  # a cycle is walked once
    verdict = compare_files(str(tmp_path / "expected"), str(tmp_path / "actual"))
    assert [f["file"] for f in verdict["files"]] == ["linked/a.txt", "top.txt"]
    assert not verdict["ok"]


# ------------------------------------------------------- found by the property tests


def test_a_difference_is_not_rounded_to_28_digits(case: Case):
    # |1.0 - (-1e-28)| is a little over 1: Decimal's default context once made it 1.
    assert not text("x -1e-28\n", "x 1.0\n", case, atol=1.0)["ok"]
    assert text("x -1e-28\n", "x 0.9999999999999999999999999999\n", case, atol=1.0)["ok"]


def test_csv_with_a_blank_first_line_still_compares_its_rows(case: Case):
    # The blank line once read as an empty header: both files "empty", so equal.
    result = one(case({"r.csv": "\na,b\n1,2\n"}, {"r.csv": "\na,b\n1,3\n"}))
    assert [d["column"] for d in result["differences"]] == ["b"]


def test_a_cr_at_the_end_of_a_streamed_piece_is_still_part_of_the_line_end(case: Case):
    body = "x " * 131_071 + "a"  # 262,143 characters: the CR ends the first 256 KiB piece
    assert len(body) + 1 == 1 << 18
    result = text(f"{body}\r\n", f"{body[:-1]}b\r\n", case, ignore=["[ab]$"])
    assert result["ok"], result["differences"]


def test_long_lines_differing_only_in_their_line_ends_are_not_differing_lines(case: Case):
    body = "1.5 " * 50_000
    result = text(f"{body}\n", f"{body}\r\n", case)
    assert result["ok"] and result["values"] == 0 and result["max_abs_error"] is None


def test_a_long_line_of_glued_fortran_numbers_is_cut_between_them(case: Case):
    # No blank in 400,000 characters: the stream is cut after a - that follows a digit.
    values = [f"{(-1) ** i * (i + 1) * 1.5:.8E}" for i in range(25_000)]
    changed = list(values)
    changed[12_345] = changed[12_345].replace("E", "1E", 1)
    result = text("".join(values) + "\n", "".join(changed) + "\n", case, rtol=1e-6)
    (diff,) = result["differences"]
    # Positive numbers glue into one word with the number before them (1.5E+00-3.0E+00 is
    # two tokens, 1.5E+004.5E+00 one), so count the tokens the whole line has.
    from assay.compare.numeric import TOKEN

    whole = TOKEN.findall("".join(values))
    assert result["values"] == len(whole)
    assert diff["token"] == next(
        i for i, t in enumerate(TOKEN.findall("".join(changed)), 1) if t != whole[i - 1]
    )
    # Shown around the difference, read again in pieces: the marker is on the inserted 1.
    at = len("".join(values[:12_345])) + len(values[12_345].split("E")[0])
    assert diff["column"] == at + 1
    assert diff["actual_line"][diff["actual_mark"]] == "1"
    assert diff["expected_line"][diff["expected_mark"]] == "E"


# ------------------------------------------------------------------- held as they were


def test_a_missing_final_newline_and_empty_files(case: Case):
    assert text("a 1\nb 2", "a 1\nb 2.0\n", case)["ok"]
    assert text("", "", case)["ok"]
    assert text("", "x\n", case)["message"] == "line 1: extra line in actual: 'x'"
    assert text("x\n", "", case)["message"] == (
        "line 1: actual ends after line 0; expected has 1 more line: 'x'"
    )
    assert one(case({"r.csv": ""}, {"r.csv": ""}))["ok"]
    assert one(case({"r.csv": ""}, {"r.csv": "a\n1\n"}))["message"] == (
        "expected is empty, the other is not"
    )


def test_csv_headers_of_many_columns_pair_by_name(case: Case):
    names = [f"c{i}" for i in range(20_000)]
    expected = ",".join(names) + "\n" + ",".join("1" for _ in names) + "\n"
    renamed = ["x" if n == "c7777" else n for n in names]
    actual = ",".join(renamed) + "\n" + ",".join("1" for _ in names) + "\n"
    result = one(case({"r.csv": expected}, {"r.csv": actual}))
    assert [d["message"] for d in result["differences"]] == [
        "line 1: missing column 'c7777' (column 7778 of expected)",
        "line 1: extra column 'x' (column 7778 of actual)",
    ]
    assert result["values"] == 19_999


def test_an_actual_output_that_is_a_link_to_nothing_says_so_not_missing(tmp_path: Path) -> None:
    """A run that made out.txt a link to a file a killed leftover never wrote: 'missing'
    sent the user looking for why the program wrote nothing."""

    (tmp_path / "exp").mkdir()
    (tmp_path / "act").mkdir()
    (tmp_path / "exp" / "out.txt").write_text("1\n")
    (tmp_path / "exp" / "gone.txt").write_text("1\n")
    (tmp_path / "act" / "out.txt").symlink_to("late.txt")
    got = compare_files(str(tmp_path / "exp"), str(tmp_path / "act"))
    assert not got["ok"]
    assert got["missing"] == ["gone.txt"]  # a file the run did not make at all
    (linked,) = got["files"]
    assert linked["file"] == "out.txt"
    assert "is a symbolic link to 'late.txt', which does not exist" in linked["message"]
    assert "out.txt" in got["summary"] and "late.txt" in got["summary"]
