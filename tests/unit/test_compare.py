"""The comparison engine: numbers in text, CSV, JSON, binary, directories, user commands."""

from __future__ import annotations

import json

import pytest

from assay.compare import compare, compare_files, validate_spec
from tests.unit.compare_cases import one, put, text

# ---------------------------------------------------------------------- numbers in text


@pytest.mark.parametrize(
    ("rtol", "ok"),
    [(1e-9, True), (1e-12, False)],
)
def test_numbers_compare_by_value_across_notations(case, rtol, ok):
    # 1.0000000001e+03 = 1000.0000001: abs error 1e-7, rel error 1e-10.
    result = text("E = 1.0000000001e+03 J\n", "E = 1000.0000002 J\n", case, rtol=rtol)
    assert result["ok"] is ok
    assert result["max_abs_error"] == pytest.approx(1e-7, rel=1e-3)
    assert result["max_rel_error"] == pytest.approx(1e-10, rel=1e-3)
    assert result["where_max"] == "line 1, token 3"
    if not ok:
        (diff,) = result["differences"]
        # Token 3 is the number; its first differing character is column 6.
        assert (diff["line"], diff["token"], diff["column"]) == (1, 3, 6)
        assert (diff["expected"], diff["actual"]) == ("1.0000000001e+03", "1000.0000002")
        assert "rel error 1e-10 > rtol 1e-12" in diff["message"]


def test_the_pair_from_the_design_notes_is_1e7_apart(case):
    # 1.0000001e+03 is 1000.0001, so against 1000.0000002 the rel error is about 1e-7.
    assert text("1.0000001e+03\n", "1000.0000002\n", case, rtol=1e-6)["ok"]
    assert not text("1.0000001e+03\n", "1000.0000002\n", case, rtol=1e-9)["ok"]


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("x 1.0\n", "x 1.00\n", True),  # tolerances 0: equal as numbers
        ("x 1\n", "x 1.0\n", True),
        ("x -0.0\n", "x 0\n", True),
        ("x 1.5D+03\n", "x 1500\n", True),  # Fortran exponent
        ("x 1.5d-3\n", "x 0.0015\n", True),
        ("x nan\n", "x NaN\n", True),
        ("x inf\n", "x Infinity\n", True),
        ("x 1.0\n", "x 1.0000001\n", False),
        ("x 12345678901234567890\n", "x 12345678901234567891\n", False),  # ints exactly
        ("x inf\n", "x -inf\n", False),
        ("x nan\n", "x 1\n", False),
    ],
)
def test_zero_tolerance_means_equal_as_numbers(case, expected, actual, ok):
    assert text(expected, actual, case)["ok"] is ok


def test_a_number_with_nan_or_inf_has_infinite_errors_written_as_strings(case):
    result = text("v inf\n", "v 2.0\n", case, atol=1e9)
    assert result["differences"][0]["abs_error"] == "inf"
    assert result["max_rel_error"] == "inf"


def test_zero_tolerance_message_says_both_values_and_both_limits(case):
    (diff,) = text("t 1.0\n", "t 1.0000001\n", case)["differences"]
    assert diff["message"] == (
        "line 1, token 2: expected 1.0, got 1.0000001 "
        "(abs error 1e-07 > atol 0, rel error 1e-07 > rtol 0)"
    )
    assert diff["abs_error"] == pytest.approx(1e-7)


def test_atol_or_rtol_is_enough(case):
    assert text("a 0.0\n", "a 1e-12\n", case, atol=1e-11)["ok"]  # rel error is huge
    assert not text("a 0.0\n", "a 1e-12\n", case, rtol=0.5)["ok"]
    assert text("a 1000\n", "a 1001\n", case, rtol=1e-3)["ok"]
    assert not text("a 1000\n", "a 1001\n", case, rtol=9e-4, atol=0.9)["ok"]


def test_words_must_match_exactly_and_numbers_glued_to_words_are_words(case):
    # "1.2.3" is five tokens: 1 . 2 . 3, where "2" and "3" follow a dot, so are words too.
    result = text("step1 x1 12ms 1.2.3 ok\n", "step2 x1 12ms 1.2.4 ok\n", case, atol=10)
    assert [d["token"] for d in result["differences"]] == [1, 8]
    assert [d["column"] for d in result["differences"]] == [5, 19]  # the characters that differ
    assert [d["abs_error"] for d in result["differences"]] == [None, None]  # compared as text
    assert result["differences"][0]["message"] == "line 1, token 1: expected 'step1', got 'step2'"


def test_punctuation_separates_numbers(case):
    assert text("f(1.0,2.0)=3\n", "f(1.00,2.000)=3.0\n", case)["ok"]
    assert text("x=-1.5;\n", "x=-1.50;\n", case)["ok"]
    assert not text("x=-1.5;\n", "x=1.5;\n", case, atol=1)["ok"]


def test_with_whitespace_ignore_blanks_only_separate_tokens(case):
    # (Was the default, a false pass for indented or aligned text: see test_compare_blanks.)
    assert text("a  1\t2\n", " a 1 2 \r\n", case, whitespace="ignore")["ok"]
    assert not text("a 12\n", "a 1 2\n", case, whitespace="ignore")["ok"]


def test_different_token_counts_are_one_difference(case):
    result = text("a b c 1\n", "a b 1\n", case)
    (diff,) = result["differences"]
    assert diff["message"].startswith("line 1, token 3: expected 4 tokens, got 3")
    assert (diff["token"], diff["column"], diff["actual_mark"]) == (3, 5, 4)
    assert (result["differing_lines"], result["differing_values"]) == (1, 1)


def test_ignore_patterns_are_removed_on_both_sides(case):
    expected = "# generated at 10:00\nresult 1\nelapsed: 1.5 s done\n"
    actual = "# generated at 11:30 by bob\nresult 1\nelapsed: 99.25 s done\n"
    assert not text(expected, actual, case)["ok"]
    ignore = ["^# generated at .*", r"elapsed: [0-9.]+ s"]
    assert text(expected, actual, case, ignore=ignore)["ok"]
    assert not text(expected, actual.replace("done", "failed"), case, ignore=ignore)["ok"]


def test_field_tolerances_override_the_defaults(case):
    expected = "energy = 1.000 other 1.000\n"
    actual = "energy = 1.0005 other 1.0005\n"
    fields = [{"pattern": r"energy\s*=\s*(\S+)", "rtol": 1e-3}]
    result = text(expected, actual, case, rtol=1e-6, fields=fields)
    (diff,) = result["differences"]
    assert (diff["token"], diff["column"], diff["expected"]) == (5, 27, "1.000")
    assert "rtol 1e-06" in diff["message"]
    # Inside a word the field's group still becomes one number token.
    assert text("energy=1.000\n", "energy=1.0005\n", case, fields=fields)["ok"]
    assert not text("energy=1.000\n", "energy=1.002\n", case, fields=fields)["ok"]


def test_a_skipped_field_is_not_compared(case):
    fields = [{"pattern": r"seed (\d+)", "skip": True}]
    assert text("seed 42 x 1\n", "seed 7 x 1\n", case, fields=fields)["ok"]
    assert not text("seed 42 x 1\n", "seed 7 x 2\n", case, fields=fields)["ok"]


def test_missing_lines_at_the_end(case):
    expected = "".join(f"line {i}\n" for i in range(1, 101))
    actual = "".join(f"line {i}\n" for i in range(1, 98))
    result = text(expected, actual, case)
    message = "line 98: actual ends after line 97; expected has 3 more lines, the first: 'line 98'"
    assert result["message"] == message
    (diff,) = result["differences"]
    # The first missing line is shown: the difference names it as the expected value.
    assert (diff["line"], diff["expected"], diff["actual"]) == (98, "line 98", None)
    assert (diff["expected_line"], diff["actual_line"]) == ("line 98", None)
    assert (result["lines"], result["differing_lines"]) == (97, 3)


def test_extra_lines_at_the_end(case):
    expected = "".join(f"line {i}\n" for i in range(1, 101))
    result = text(expected, expected + "tail one\ntail two\n", case)
    assert result["message"] == "line 101: extra line in actual: 'tail one' (and 1 more)"
    assert result["differences"][0]["actual"] == "tail one"
    assert result["differing_lines"] == 2


def test_only_differing_lines_are_decoded(case, monkeypatch):
    import assay.compare.text as engine

    decoded = []
    original = engine._decode

    def counting(line: bytes) -> str:
        decoded.append(line)
        return original(line)

    monkeypatch.setattr(engine, "_decode", counting)
    expected = "".join(f"row {i} {i}.5\n" for i in range(1000))
    actual = expected.replace("row 10 10.5", "row 10 10.50").replace("row 99 ", "row  99 ")
    result = text(expected, actual, case, ignore=["row"], whitespace="ignore")
    assert result["ok"] and result["lines"] == 1000
    assert sorted(decoded) == sorted(
        [b"row 10 10.5\n", b"row 10 10.50\n", b"row 99 99.5\n", b"row  99 99.5\n"]
    )


def test_counts_are_complete_when_the_list_is_truncated(case):
    expected = "".join(f"{i} {i}.0\n" for i in range(1, 201))
    actual = "".join(f"{i} {i + 1 if i % 4 == 0 else i}.0\n" for i in range(1, 201))
    result = text(expected, actual, case, max_differences=5)
    assert len(result["differences"]) == 5 and result["truncated"]
    assert (result["lines"], result["differing_lines"], result["differing_values"]) == (200, 50, 50)
    assert result["values"] == 100  # both tokens of every differing line
    assert result["max_rel_error"] == pytest.approx(1 / 4)  # 4.0 -> 5.0
    assert result["where_max"] == "line 4, token 2"
    assert [d["line"] for d in result["differences"]] == [4, 8, 12, 16, 20]


def test_summary_names_the_file_the_count_and_the_worst_error(case):
    verdict = case({"log.txt": "a 1\nb 2\n"}, {"log.txt": "a 1.1\nb 2.5\n"})
    # Where the first difference is, then how many differ and the worst.
    assert verdict["summary"] == (
        "log.txt line 1, token 2: expected 1, got 1.1 (abs error 0.1 > atol 0, rel error 0.1 "
        "> rtol 0); 2 values differ in 2 lines, max rel error 2.5e-01 at line 2, token 2"
    )


def test_long_lines_are_cut_in_the_verdict(case):
    expected = "x " * 50_000 + "1\n"
    result = text(expected, expected.replace("1\n", "1 2\n"), case)  # one more token
    assert len(json.dumps(result)) < 5_000
    (diff,) = result["differences"]
    assert "(100001 characters)" in diff["expected"]
    # The line is shown around the difference: the end of the expected line, where the
    # actual one goes on.
    assert diff["expected_line"].startswith("... x x") and diff["expected_line"].endswith("x 1")
    assert diff["actual_line"].endswith("x 1 2")
    assert diff["expected_line"][diff["expected_mark"] :] == ""
    assert diff["actual_line"][diff["actual_mark"] :] == "2"


# ----------------------------------------------------------------------------------- CSV

CSV = "id,pressure,temp,name\n1,1.0,300,a\n2,2.0,310,b\n3,3.0,320,c\n"


def test_csv_compares_by_column_with_column_tolerances(case):
    actual = CSV.replace("2.0,310", "2.001,311")
    rules = [{"match": "*.csv", "rtol": 1e-6, "columns": {"pressure": {"rtol": 1e-3}}}]
    result = one(case({"r.csv": CSV}, {"r.csv": actual}, rules=rules))
    assert result["format"] == "csv"
    (diff,) = result["differences"]
    assert (diff["line"], diff["column"], diff["index"]) == (3, "temp", 3)
    assert (diff["expected"], diff["actual"]) == ("310", "311")
    assert diff["message"].startswith("line 3, column 'temp': expected 310, got 311")
    assert (result["lines"], result["differing_lines"], result["values"]) == (3, 1, 4)
    assert result["where_max"] == "line 3, column 'temp'"


def test_csv_cells_pair_by_column_name_and_report_missing_and_extra_columns(case):
    actual = "name,id,pressure,extra\na,1,1.0,x\nb,2,2.0,y\nc,3,3.0,z\n"
    result = one(case({"r.csv": CSV}, {"r.csv": actual}))
    messages = [d["message"] for d in result["differences"]]
    assert messages == [
        "line 1: missing column 'temp' (column 3 of expected)",
        "line 1: extra column 'extra' (column 4 of actual)",
    ]


def test_csv_missing_and_extra_rows(case):
    short = one(case({"r.csv": CSV}, {"r.csv": CSV.rsplit("3,", 1)[0]}))
    assert short["message"] == (
        "line 4: actual ends before this row; expected has 1 more row: '3,3.0,320,c'"
    )
    assert short["differences"][0]["expected"] == "3,3.0,320,c"
    longer = one(case({"r.csv": CSV}, {"r.csv": CSV + "4,4.0,330,d\n"}))
    assert longer["message"] == "line 5: extra row in actual: '4,4.0,330,d'"


def test_csv_rows_pair_by_key(case):
    lines = CSV.splitlines(keepends=True)
    shuffled = lines[0] + lines[3] + lines[1] + lines[2]
    assert not one(case({"r.csv": CSV}, {"r.csv": shuffled}))["ok"]
    rules = [{"match": "r.csv", "key": "id"}]
    assert one(case({"r.csv": CSV}, {"r.csv": shuffled}, rules=rules))["ok"]
    changed = lines[0] + lines[3] + "5,5.0,350,e\n" + lines[2].replace("310", "312")
    result = one(case({"r.csv": CSV}, {"r.csv": changed}, rules=rules))
    messages = [d["message"] for d in result["differences"]]
    assert messages == [
        "line 2: no row with id='1' in actual",
        "line 3, column 'temp' (actual line 4): expected 310, got 312 "
        "(abs error 2 > atol 0, rel error 0.00645 > rtol 0)",
        "extra row with id='5' at line 3 of actual",
    ]


def test_csv_key_that_is_no_column_fails_with_the_fix(case):
    rules = [{"match": "*.csv", "key": "ident"}]
    result = one(case({"r.csv": CSV}, {"r.csv": CSV}, rules=rules))
    assert not result["ok"]
    assert "key: column 'ident' is not in the header of expected" in result["message"]


def test_tsv_by_extension_and_headerless_csv(case):
    tsv = "a\tb\n1\t2.0\n"
    assert one(case({"r.tsv": tsv}, {"r.tsv": tsv.replace("2.0", "2")}))["ok"]
    rules = [{"match": "*.dat", "format": "csv", "header": False, "columns": {"2": {"atol": 1}}}]
    result = one(case({"m.dat": "1,10\n2,20\n"}, {"m.dat": "1,10.5\n3,20\n"}, rules=rules))
    ((diff),) = result["differences"]
    assert (diff["line"], diff["column"]) == (2, "1")


def test_csv_ignore_and_a_summary_of_header_differences(case):
    stamped = "when,v\nmonday,1\n"
    ignore = ["^[a-z]+day,"]
    assert one(case({"r.csv": stamped}, {"r.csv": "when,v\nfriday,1\n"}, ignore=ignore))["ok"]
    verdict = case({"r.csv": "a,b,c\n1,2,3\n"}, {"r.csv": "a\n1\n"})
    assert verdict["summary"] == (
        "r.csv line 1: missing column 'b' (column 2 of expected); 2 differences"
    )


# ---------------------------------------------------------------------------------- JSON

DOC = {
    "results": {"energy": 1.0, "name": "run"},
    "items": [{"t": 1.0, "id": 1}, {"t": 2.0, "id": 2}],
    "meta": {"host": "a", "when": "today"},
}


def test_json_paths_and_path_tolerances(case):
    actual = json.loads(json.dumps(DOC))
    actual["results"]["energy"] = 1.0 + 5e-10
    actual["items"][1]["t"] = 2.01
    actual["items"][1]["id"] = 3
    exp, act = json.dumps(DOC), json.dumps(actual)
    plain = one(case({"d.json": exp}, {"d.json": act}))
    assert [d["column"] for d in plain["differences"]] == [
        "results.energy",
        "items[1].t",
        "items[1].id",
    ]
    keys = {"results.energy": {"atol": 1e-9}, "items[*].t": {"rtol": 0.01}}
    rules = [{"match": "*.json", "keys": keys}]
    tolerant = one(case({"d.json": exp}, {"d.json": act}, rules=rules))
    (diff,) = tolerant["differences"]
    assert diff["message"] == (
        "items[1].id: expected 2, got 3 (abs error 1 > atol 0, rel error 0.5 > rtol 0)"
    )
    assert tolerant["values"] == 8 and tolerant["lines"] is None


def test_json_missing_extra_keys_types_lengths_and_skipped_subtrees(case):
    actual = {
        "results": {"energy": "1.0", "extra": True},
        "items": [{"t": 1.0, "id": 1}],
        "meta": {"host": "b"},
    }
    exp, act = json.dumps(DOC), json.dumps(actual)
    rules = [{"match": "*.json", "keys": {"meta": {"skip": True}}}]
    result = one(case({"d.json": exp}, {"d.json": act}, rules=rules))
    assert [d["message"] for d in result["differences"]] == [
        'results.energy: expected number 1.0, got string "1.0"',
        "results.name: missing in actual",
        "results.extra: extra key in actual",
        "items: expected 2 items, got 1",
    ]


TOML_TEST = {  # toml-test's tagged JSON: every value a string, numbers too
    "exponent": {"type": "float", "value": "3.0e14"},
    "one": {"type": "float", "value": "1"},
    "neg": {"type": "float", "value": "-0"},
    "name": {"type": "string", "value": "1.0"},
}


def test_json_strings_that_are_numbers_on_both_sides_compare_as_numbers(case):
    """A decoder's "300000000000000.0" is toml-test's "3.0e14": equal, as the same text
    compared line by line (or as CSV cells) already was. Before, 3 values differed."""
    actual = {
        "exponent": {"type": "float", "value": "300000000000000.0"},
        "one": {"type": "float", "value": "1.0"},
        "neg": {"type": "float", "value": "-0.0"},
        "name": {"type": "string", "value": "1.00"},
    }
    exp, act = json.dumps(TOML_TEST), json.dumps(actual)
    assert one(case({"d.json": exp}, {"d.json": act}))["ok"]
    actual["exponent"]["value"] = "3.1e14"
    actual["name"]["value"] = "one"
    result = one(case({"d.json": exp}, {"d.json": json.dumps(actual)}))
    assert [d["message"] for d in result["differences"]] == [
        "exponent.value: expected '3.0e14', got '3.1e14' (abs error 1e+13 > atol 0, "
        "rel error 0.0333 > rtol 0)",
        "name.value: expected '1.0', got 'one'",
    ]
    within = one(case({"d.json": exp}, {"d.json": json.dumps(actual)}, rtol=0.05))
    assert within["differences"] == [result["differences"][1]]
    # mode "text": strings as written; a number and a string still differ by type
    assert not one(case({"d.json": exp}, {"d.json": act}, mode="text"))["ok"]
    typed = one(case({"d.json": '{"v": "1"}'}, {"d.json": '{"v": 1}'}))
    assert typed["differences"][0]["message"] == 'v: expected string "1", got number 1'


def test_json_numbers_equal_within_the_tolerance_are_no_differing_values(case):
    # Before, every number (or number-string) pair whose texts differed counted as a
    # differing value, equal or not: "2 values differ" for one.
    exp = json.dumps({"f": 1.0, "s": "3.0e14", "g": 2})
    act = '{"f": 1.00, "s": "300000000000000.0", "g": 3}'
    result = one(case({"d.json": exp}, {"d.json": act}))
    assert result["differing_values"] == 1 and result["values"] == 3
    assert [d["column"] for d in result["differences"]] == ["g"]


def test_json_strings_text_compares_identifiers_and_versions_as_written(case):
    """``strings = "text"``: numeric-looking strings are identifiers or versions ("1.10" is
    not "1.1"), while numbers keep their tolerance. Before, no option but mode "text",
    which takes the tolerance of the numbers too."""
    exp = json.dumps({"version": "1.10", "id": "007", "energy": 1.0})
    act = json.dumps({"version": "1.1", "id": "7", "energy": 1.05})
    assert one(case({"d.json": exp}, {"d.json": act}, rtol=0.1))["ok"]  # the default
    result = one(case({"d.json": exp}, {"d.json": act}, rtol=0.1, strings="text"))
    assert [d["message"] for d in result["differences"]] == [
        "version: expected '1.10', got '1.1'",
        "id: expected '007', got '7'",
    ]
    rules = [{"match": "ids.json", "strings": "text"}]  # per file, the others keep numbers
    both = case(
        {"d.json": exp, "ids.json": exp}, {"d.json": act, "ids.json": act}, rtol=0.1, rules=rules
    )
    assert [f["ok"] for f in both["files"]] == [True, False]


def test_json_strings_datetimes_compare_as_the_moments_they_name(case):
    """toml-test writes RFC 3339 datetimes; a decoder may print Python's str(datetime).
    ``strings = ["numbers", "datetimes"]`` compares them as what they denote; before, only
    as text, so a correct decoder failed."""
    exp = {
        "odt": {"type": "datetime", "value": "1979-05-27T07:32:00Z"},
        "offset": {"type": "datetime", "value": "1979-05-27T00:32:00-07:00"},
        "ldt": {"type": "datetime-local", "value": "1979-05-27T07:32:00.5"},
        "ld": {"type": "date-local", "value": "1979-05-27"},
        "lt": {"type": "time-local", "value": "07:32"},
        "f": {"type": "float", "value": "3.0e14"},
    }
    act = {
        "odt": {"type": "datetime", "value": "1979-05-27 07:32:00+00:00"},
        "offset": {"type": "datetime", "value": "1979-05-27T07:32:00Z"},
        "ldt": {"type": "datetime-local", "value": "1979-05-27 07:32:00.500000"},
        "ld": {"type": "date-local", "value": "1979-05-27"},
        "lt": {"type": "time-local", "value": "07:32:00"},
        "f": {"type": "float", "value": "300000000000000.0"},
    }
    exp_text, act_text = json.dumps(exp), json.dumps(act)
    words = ["numbers", "datetimes"]
    assert not one(case({"d.json": exp_text}, {"d.json": act_text}))["ok"]  # opt-in
    assert one(case({"d.json": exp_text}, {"d.json": act_text}, strings=words))["ok"]
    # Another moment, a local datetime for an offset one, a date for a datetime, a
    # fraction beyond microseconds, a day that does not exist: all differ.
    act["odt"]["value"] = "1979-05-27 07:32:01+00:00"
    act["offset"]["value"] = "1979-05-27T07:32:00"
    act["ldt"]["value"] = "1979-05-27T07:32:00.500000001"
    act["ld"]["value"] = "1979-05-27T00:00:00"
    act["lt"]["value"] = "1979-02-30"
    result = one(case({"d.json": exp_text}, {"d.json": json.dumps(act)}, strings=words))
    assert [d["column"] for d in result["differences"]] == [
        "odt.value",
        "offset.value",
        "ldt.value",
        "ld.value",
        "lt.value",
    ]
    assert result["differences"][0]["message"] == (
        "odt.value: expected '1979-05-27T07:32:00Z', got '1979-05-27 07:32:00+00:00'".replace(
            "07:32:00+", "07:32:01+"
        )
    )


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"strings": "dates"}, "strings: 'dates' is not \"text\" or a list of numbers, datetimes"),
        ({"strings": []}, 'strings: [] is not "text" or a list of numbers, datetimes'),
        ({"strings": ["text", "numbers"]}, "strings: ['text', 'numbers'] is not \"text\""),
        (
            {"mode": "text", "strings": "datetimes"},
            "strings: mode \"text\" compares strings as written, so 'datetimes' would not apply",
        ),
    ],
)
def test_json_strings_spec_errors_name_the_key_and_the_words(case, extra, problem):
    verdict = case({"d.json": "{}"}, {"d.json": "{}"}, **extra)
    assert not verdict["ok"] and verdict["errors"][0].startswith(problem), verdict["errors"]


def test_json_scalar_root(case):
    (diff,) = one(case({"v.json": "1.5"}, {"v.json": "2.5"}))["differences"]
    assert diff["column"] == "(root)" and diff["abs_error"] == 1.0


def test_json_booleans_are_not_numbers_and_invalid_json_is_reported(case):
    assert not one(case({"d.json": "[true]"}, {"d.json": "[1]"}))["ok"]
    bad = one(case({"d.json": "{}"}, {"d.json": "{"}))
    assert bad["message"].startswith("actual is not valid JSON:")


# -------------------------------------------------------------------------------- binary


def test_binary_reports_the_first_differing_offset_and_the_sizes(case):
    data = bytes(range(256)) * 8192  # 2 MiB: the difference is in the second chunk
    changed = bytearray(data)
    changed[1_500_000] ^= 0xFF
    result = one(case({"b.dat": data}, {"b.dat": bytes(changed) + b"\0"}))
    assert result["format"] == "binary"
    (diff,) = result["differences"]
    assert diff["offset"] == 1_500_000
    assert result["message"] == (
        f"first difference at byte 1500000, line {data[:1_500_000].count(10) + 1} "
        f"(expected 0x{data[1_500_000]:02x}, "
        f"actual 0x{changed[1_500_000]:02x}); sizes 2097152 and 2097153 bytes"
    )
    assert one(case({"c.dat": data}, {"c.dat": data}))["ok"]


def test_binary_names_the_line_of_the_first_difference_as_cmp_does(case):
    """Text compared byte for byte (gawk's test/*.ok, checked by its Makefile with cmp) was
    told by its byte offset alone: a reader counted lines to find it. cmp says
    'differ: byte 12, line 3'; so does the reason now (counted across read chunks)."""
    expected = b"one\ntwo\nthree\n"
    actual = b"one\ntwo\nthr3e\n"
    verdict = case({"x.ok": expected}, {"x.ok": actual}, rules=[{"match": "*", "format": "binary"}])
    assert one(verdict)["message"] == (
        "first difference at byte 11, line 3 (expected 0x65, actual 0x33); sizes 14 and 14 bytes"
    )
    big = b"x" * 99 + b"\n"
    data = big * 30_000  # 3 MiB: the difference is in the third chunk of 1 MiB
    changed = bytearray(data)
    changed[2_500_050] = ord("y")
    verdict = case(
        {"b.ok": data}, {"b.ok": bytes(changed)}, rules=[{"match": "*", "format": "binary"}]
    )
    assert one(verdict)["message"].startswith("first difference at byte 2500050, line 25001 ")


def test_binary_shows_the_bytes_around_the_first_difference_on_both_sides(case):
    """Only the offset and one byte each were shown: a reader could not tell 'lazy' from
    'hazy' without a hex dump of their own."""
    from assay.results.differences import describe_differences

    expected = b"The quick brown fox jumps over the hazy dog"
    actual = b"The quick brown fox jumps over the lazy dog"
    verdict = case({"fox": expected}, {"fox": actual}, rules=[{"match": "*", "format": "binary"}])
    (diff,) = one(verdict)["differences"]
    assert diff["window"] == 27  # 8 bytes before the difference at 35
    assert bytes.fromhex(diff["expected_bytes"]) == expected[27:51]
    assert bytes.fromhex(diff["actual_bytes"]) == actual[27:51]
    shown = describe_differences(verdict).splitlines()
    assert shown[-3] == (
        "    expected: 0000001b  76 65 72 20 74 68 65 20 68 61 7a 79 20 64 6f 67"
        "  |ver the hazy dog|"
    )
    assert shown[-2] == (
        "    actual:   0000001b  76 65 72 20 74 68 65 20 6c 61 7a 79 20 64 6f 67"
        "  |ver the lazy dog|"
    )
    assert shown[-1] == " " * shown[-2].index("6c") + "^^"


def test_binary_prefix_differs_at_the_end_of_the_shorter(case):
    result = one(case({"b.bin": b"\0abc"}, {"b.bin": b"\0ab"}))
    assert result["differences"][0]["offset"] == 3
    assert "(expected 0x63, actual end of file)" in result["message"]


def test_format_is_sniffed_from_the_expected_file(case):
    assert one(case({"x.out": b"a\0b"}, {"x.out": b"a\0b"}))["format"] == "binary"
    assert one(case({"y.out": b"\xff\xfe"}, {"y.out": b"\xff\xfe"}))["format"] == "binary"
    assert one(case({"z.out": "caf\u00e9 1.0\n"}, {"z.out": "caf\u00e9 1\n"}))["format"] == "text"


# --------------------------------------------------------------------------- directories


def test_missing_files_and_extra_files_in_complete_dirs(case):
    expected = {"a.txt": "1\n", "out/b.txt": "2\n", "log.txt": "x\n"}
    actual = {"a.txt": "1\n", "out/b.txt": "2\n", "out/c.txt": "3\n", "stray.txt": "s\n"}
    verdict = case(expected, actual, complete=["out"])
    assert not verdict["ok"]
    assert (verdict["missing"], verdict["extra"]) == (["log.txt"], ["out/c.txt"])
    assert verdict["summary"] == "log.txt: missing; out/c.txt: extra file"
    assert case(expected, actual, complete=["."])["extra"] == ["out/c.txt", "stray.txt"]


def test_files_globs_select_what_is_compared(case):
    expected = {"r.csv": "a\n1\n", "out/x.txt": "1\n", "out/sub/y.txt": "2\n", "skip.log": "s\n"}
    actual = {"r.csv": "a\n1\n", "out/x.txt": "1\n", "out/sub/y.txt": "2\n"}
    verdict = case(expected, actual, files=["r.csv", "out/*.txt"])
    assert verdict["ok"] and [f["file"] for f in verdict["files"]] == ["out/x.txt", "r.csv"]
    verdict = case(expected, actual, files=["out"])  # a directory selects the files below
    assert [f["file"] for f in verdict["files"]] == ["out/sub/y.txt", "out/x.txt"]
    verdict = case(expected, actual, files=["**/*.txt"])
    assert [f["file"] for f in verdict["files"]] == ["out/sub/y.txt", "out/x.txt"]


def test_a_glob_matching_nothing_is_a_spec_error(case, tmp_path):
    verdict = case({"result.csv": "a\n1\n"}, {}, files=["x.csv"])
    assert not verdict["ok"] and verdict["files"] == []
    assert verdict["errors"] == [
        f"files: 'x.csv' matches nothing in {tmp_path / 'expected'}; fix the name or add the file"
    ]
    assert verdict["summary"].startswith("spec error: files: 'x.csv' matches nothing")


def test_rules_first_match_wins_by_name_or_by_path(case):
    expected = {"a/log.txt": "t 1.0\n", "b/log.txt": "t 1.0\n"}
    actual = {"a/log.txt": "t 1.1\n", "b/log.txt": "t 1.1\n"}
    rules = [{"match": "b/*.txt", "rtol": 0.2}, {"match": "log.txt", "rtol": 0.01}]
    verdict = case(expected, actual, rules=rules)
    assert [f["ok"] for f in verdict["files"]] == [False, True]


def test_single_files_on_both_sides(tmp_path):
    exp = put(tmp_path, "e/out.txt", "v 1.0\n")
    act = put(tmp_path, "a/out.txt", "v 1.05\n")
    assert compare_files(str(exp), str(act), rtol=0.1)["ok"]
    verdict = compare_files(str(exp), str(act.parent))  # a directory holding the same name
    assert verdict["files"][0]["file"] == "out.txt" and not verdict["ok"]
    assert compare_files(str(exp), str(tmp_path / "nowhere"))["missing"] == ["out.txt"]


# -------------------------------------------------------------------------- user command


def test_a_rule_command_decides_with_its_exit_status_and_shows_its_output_tail(case):
    files = {"data 1.h5": "x\n", "y.h5": "y\n"}
    ok = case(files, files, rules=[{"match": "*.h5", "command": "cmp {expected} {actual}"}])
    assert ok["ok"] and [f["format"] for f in ok["files"]] == ["command", "command"]
    noisy = "for i in $(seq 1 30); do echo out $i; done; echo {file} >&2; exit 3"
    verdict = case(files, files, rules=[{"match": "y.h5", "command": noisy}])
    result = verdict["files"][1]
    assert not result["ok"]
    lines = result["message"].split("\n")
    assert lines[0] == f"command exited 3: {noisy}"
    assert lines[1:] == [f"out {i}" for i in range(12, 31)] + ["y.h5"]
    assert verdict["summary"] == "y.h5: command exited 3: y.h5"


def test_the_top_level_command_runs_once_on_the_roots(case, tmp_path):
    files = {"a.txt": "1\n"}
    only = case(files, {"a.txt": "2\n"}, command="test -d {expected} && test -d {actual}")
    assert only["ok"] and [f["file"] for f in only["files"]] == ["(command)"]
    both = case(files, {"a.txt": "2\n"}, files=[], command="true")
    assert [f["file"] for f in both["files"]] == ["a.txt", "(command)"] and not both["ok"]


def test_a_command_over_its_time_limit_fails(case):
    verdict = case({"a": "1\n"}, {"a": "1\n"}, command="sleep 30", command_timeout=0.2)
    assert verdict["files"][0]["message"] == "command timed out after 0.2 s: sleep 30"


# ---------------------------------------------------------------------------- spec errors


def test_bad_regexes_are_spec_errors_naming_the_key(case):
    rules = [{"match": "*.txt", "ignore": ["ok", "[unclosed"]}]
    verdict = case(
        {"a.txt": "1\n"},
        {"a.txt": "1\n"},
        ignore=["(x"],
        fields=[{"pattern": "energy=\\S+"}],
        rules=rules,
    )
    errors = verdict["errors"]
    assert len(errors) == 3 and not verdict["ok"]
    assert errors[0].startswith("ignore[0]: bad regex '(x': missing ), unterminated subpattern")
    assert errors[1].startswith("fields[0].pattern: 'energy=\\\\S+' has no group")
    assert errors[2].startswith("rules[0].ignore[1]: bad regex '[unclosed'")


def test_validate_spec_reports_every_problem(tmp_path):
    (tmp_path / "e").mkdir()
    put(tmp_path, "e/a.txt", "1\n")
    good = {"version": 1, "expected": str(tmp_path / "e"), "actual": str(tmp_path / "a")}
    assert validate_spec(good) == []
    problems = validate_spec(
        {
            **good,
            "version": 2,
            "rtoll": 1,
            "atol": -1,
            "rules": [{"match": "*.x", "format": "xml", "columns": {"p": {"rtol": "big"}}}],
            "max_differences": "many",
        }
    )
    assert problems[0].startswith("rtoll: unknown key; known keys: version, actual")
    assert problems[1:] == [
        'version: 2 is not supported; write "version": 1',
        "max_differences: 'many' must be an integer >= 0",
        "atol: -1 must be a finite number >= 0",
        "rules[0].format: 'xml' is not one of text, csv, json, binary",
        "rules[0].columns['p'].rtol: 'big' is not a number; write e.g. \"rtol\": 1e-6",
    ]
    missing = validate_spec({**good, "expected": str(tmp_path / "nope")})
    assert missing == [
        f"expected: {tmp_path / 'nope'} does not exist; point it at the expected outputs"
    ]
    assert validate_spec({**good, "command_timeout": 0}) == [
        "command_timeout: must be more than 0 seconds (default 600)"
    ]
    assert validate_spec({**good, "complete": ["out"]}) == [
        f"complete: 'out' is not a directory in {tmp_path / 'e'}"
    ]
    assert compare({"version": 1})["errors"] == [
        "expected: required, the path of the expected directory or file",
        "actual: required, the path of the actual directory or file",
    ]


@pytest.mark.parametrize("folder", ["/", "..", "../..", "sub/../..", "/etc"])
def test_a_complete_directory_outside_the_expected_outputs_is_refused(tmp_path, folder):
    """``complete = ["/"]`` once walked the whole file system (minutes) and listed the host's
    files as extra outputs in the report; ``".."`` the other cases' stage dirs."""
    (tmp_path / "e" / "sub").mkdir(parents=True)
    (tmp_path / "e" / "out.txt").write_text("1\n")
    (tmp_path / "a").mkdir()
    spec = {"version": 1, "expected": str(tmp_path / "e"), "actual": str(tmp_path / "a")}
    assert validate_spec({**spec, "complete": [folder]}) == [
        f"complete: {folder!r} is not a directory inside the expected outputs; give a "
        "relative path such as 'results' ('.' for all of them)"
    ]
