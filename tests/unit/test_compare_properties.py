"""Properties of the comparison engine, on random inputs (Hypothesis, derandomized).

A file always equals itself, whatever its bytes and the format it is read as; no input
makes ``compare`` raise; equality within an absolute tolerance is symmetric; the exact
decimal decision agrees with rational arithmetic; a long line streamed in pieces gives what
the whole line gives.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from assay.compare import compare_files, numeric, resync, text, tokens
from assay.compare.options import Options
from assay.compare.spec import Checker

# Deterministic in CI; ASSAY_FUZZ_EXAMPLES=N runs N random examples each, to hunt for more.
_FUZZ = int(os.environ.get("ASSAY_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(
    derandomize=not _FUZZ,
    database=None,
    deadline=None,
    max_examples=_FUZZ or 150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FORMATS = ("text", "csv", "json", "binary")

# ------------------------------------------------------------------------------ inputs

SPECIAL = [
    *("nan", "-nan", "NaN", "inf", "-inf", "+Infinity", "-0", "0", "0e5", "-0.0", ".5", "5."),
    *("1.5D+03", "1.5d-3", "1e400", "2e400", "1e-400", "1e99999999999999999999", "0x1F"),
    *("1_000", "12abc", "1.2.3", "1e", "e5", "+", "-", "1" + "0" * 5000),
]
numbers = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.6e}"),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(SPECIAL),
)
words = st.one_of(numbers, st.text(min_size=1, max_size=6), st.sampled_from(["x", "é", "ok"]))
separators = st.sampled_from([" ", "  ", "\t", ",", ";", "=", "(", ")", " ,", ""])


@st.composite
def lines_of(draw: Any, max_lines: int = 6) -> str:
    lines = []
    for _ in range(draw(st.integers(0, max_lines))):
        parts = draw(st.lists(words, max_size=8))
        seps = draw(st.lists(separators, min_size=len(parts), max_size=len(parts)))
        lines.append("".join(p + s for p, s in zip(parts, seps, strict=True)))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return end.join(lines) + draw(st.sampled_from(["", end]))


contents = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    lines_of().map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\n", b"\r\n", b"\0", b"a,a\n1,2\n", b'"a\nb",c\n']),
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**400), 10**400),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=10),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)
tolerances = st.fixed_dictionaries(
    {},
    optional={
        "rtol": st.sampled_from([0.0, 1e-9, 0.1, 0.5, 1.0, 10.0]),
        "atol": st.sampled_from([0.0, 1e-300, 1e-6, 0.1, 1.0, 1e300]),
    },
)
extras = st.fixed_dictionaries(
    {},
    optional={
        "ignore": st.lists(st.sampled_from([r"\d+", "^#.*", "x", r"\s+$", ""]), max_size=2),
        "fields": st.lists(
            st.fixed_dictionaries(
                {"pattern": st.sampled_from([r"(\S+)", r"=(\d*)", r"x(.)", r"(a)|(b)"])},
                optional={"rtol": st.just(0.5), "skip": st.booleans()},
            ),
            max_size=2,
        ),
    },
)
rule_extras = st.fixed_dictionaries(
    {},
    optional={
        "columns": st.dictionaries(
            st.sampled_from(["a", "*", "[z-a]", "1", "x?"]),
            st.fixed_dictionaries({}, optional={"skip": st.booleans(), "atol": st.just(1.0)}),
            max_size=2,
        ),
        "key": st.sampled_from(["a", "1", ["a", "b"]]),
        "header": st.booleans(),
        "delimiter": st.sampled_from([",", ";", "\t", '"', "ab"]),
        "keys": st.dictionaries(
            st.sampled_from(["a", "*", "[*]", "**", "a.b"]),
            st.fixed_dictionaries({}, optional={"skip": st.booleans(), "rtol": st.just(1.0)}),
            max_size=2,
        ),
    },
)


def run(expected: bytes, actual: bytes, fmt: str | None, **spec: Any) -> dict[str, Any]:
    """Compare two files named ``out.dat`` (the format from the rule, else sniffed)."""
    rule = spec.pop("rule", {})
    if fmt:
        spec["rules"] = [{"match": "*", "format": fmt, **rule}]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for side, data in (("expected", expected), ("actual", actual)):
            (root / side).mkdir()
            (root / side / "out.dat").write_bytes(data)
        verdict = compare_files(str(root / "expected"), str(root / "actual"), **spec)
    json.dumps(verdict, allow_nan=False)  # always strict JSON
    return verdict


# -------------------------------------------------------------------------- properties


@SETTINGS
@given(contents, st.sampled_from([None, "text", "csv", "binary"]), tolerances, extras)
def test_a_file_equals_itself_whatever_its_bytes(data, fmt, tol, extra):
    verdict = run(data, data, fmt, **tol, **extra)
    assert verdict["ok"], verdict["summary"]


@SETTINGS
@given(json_values, st.sampled_from([None, 1, "\t"]), tolerances)
def test_a_json_document_equals_itself_however_it_is_laid_out(value, indent, tol):
    compact = json.dumps(value).encode()
    laid_out = json.dumps(value, indent=indent, ensure_ascii=False).encode()
    verdict = run(compact, laid_out, "json", **tol)
    assert verdict["ok"], verdict["summary"]


@SETTINGS
@given(lines_of(), st.sampled_from(["text", "csv"]))
def test_blanks_and_line_ends_do_not_matter_in_text(content, fmt):
    # (Blanks only with whitespace = "ignore": by default they count, see test_compare_blanks.)
    spaced = content.replace(" ", " \t ").replace("\r\n", "\n").replace("\n", "\r\n")
    if fmt == "csv":  # in CSV, blanks inside cells count; line ends do not
        spaced = content.replace("\r\n", "\n").replace("\n", "\r\n")
    verdict = run(
        content.encode("utf-8", "surrogatepass"), spaced.encode(), fmt, whitespace="ignore"
    )
    if fmt == "text" or '"' not in content:  # a quoted CSV cell keeps its line end
        assert verdict["ok"], verdict["summary"]


@SETTINGS
@given(
    contents,
    contents,
    st.sampled_from([None, *FORMATS]),
    tolerances,
    extras,
    rule_extras,
)
def test_compare_never_raises(expected, actual, fmt, tol, extra, rule):
    verdict = run(expected, actual, fmt, **tol, **extra, rule=rule)
    assert verdict["version"] == 1
    assert verdict["errors"] or len(verdict["files"]) == 1
    if verdict["ok"]:
        assert not verdict["errors"] and verdict["files"][0]["differences"] == []


@SETTINGS
@given(contents, contents, st.sampled_from(FORMATS), st.sampled_from([0.0, 1e-6, 1.0]))
def test_equal_within_an_absolute_tolerance_is_symmetric(a, b, fmt, atol):
    assert run(a, b, fmt, atol=atol)["ok"] == run(b, a, fmt, atol=atol)["ok"]


@SETTINGS
@given(json_values, json_values, st.sampled_from([0.0, 1e-6, 1.0]))
def test_json_equality_is_symmetric(a, b, atol):
    ja, jb = json.dumps(a).encode(), json.dumps(b).encode()
    assert run(ja, jb, "json", atol=atol)["ok"] == run(jb, ja, "json", atol=atol)["ok"]


# ---------------------------------------------------------------------- numeric core

finite = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
    st.builds(
        lambda m, e: f"{m}e{e}",
        st.integers(-(10**20), 10**20),
        st.integers(-400, 400),
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    # Integers past Python's 4,300-digit conversion limit, built as text.
    st.builds(
        lambda sign, head, zeros: f"{sign}{head}{'0' * zeros}",
        st.sampled_from(["", "-"]),
        st.integers(1, 10**6).map(str),
        st.integers(4300, 6000),
    ),
)


def exact(text: str) -> Fraction:
    return Fraction(Decimal(text))


@SETTINGS
@given(finite, finite, st.sampled_from([0.0, 1e-300, 1e-9, 0.1, 0.3, 1.0, 7.5]), st.floats(0, 1e6))
def test_the_decision_is_exact_rational_arithmetic(expected, actual, rtol, atol):
    tol = numeric.Tol(rtol, atol)
    e, a = exact(expected), exact(actual)
    truth = abs(a - e) <= exact(repr(atol)) or abs(a - e) <= exact(repr(rtol)) * abs(e)
    ok, abs_err, rel_err = numeric.errors(expected, actual, tol)
    assert ok == truth
    if isinstance(abs_err, float) and 1e-300 < abs_err < 1e300:  # shown, close enough
        assert abs(Fraction(abs_err) - abs(a - e)) <= abs(a - e) * Fraction(1, 10**12)
    assert (rel_err is None) == (e == 0 and a != 0) or a == e


@SETTINGS
@given(finite, finite)
def test_a_small_nudge_on_the_boundary_is_decided_exactly(expected, nudge):
    # The actual value sits exactly on |a - e| = rtol * |e|, then one unit past it.
    e = exact(expected)
    if e == 0:
        return
    rtol = 0.1
    on = e + exact("0.1") * abs(e)
    tol = numeric.Tol(rtol)
    assert numeric.errors(expected, _decimal_text(on), tol)[0]
    past = on + abs(e) / 10**40
    assert not numeric.errors(expected, _decimal_text(past), tol)[0]


def _decimal_text(value: Fraction) -> str:
    """An exact decimal text of a fraction with a power-of-ten-friendly denominator."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    scale = 0
    while value.denominator != 1:
        value *= 10
        scale += 1
        assert scale < 20000
    return f"{sign}{numeric.int_text(value.numerator)}e-{scale}"


# ------------------------------------------------------------------- long-line streaming

short_patterns = st.lists(st.sampled_from([r"\d{1,3}", "^#.{0,5}", "x", r"(?<=q)\w{1,2}", "a$"]))
short_fields = st.lists(
    st.sampled_from([r"e=(\S{1,4})", r"(\d{1,2})", r"x(.)", r"(a)|(b)", r"([0-9.]{1,6})"])
)


@SETTINGS
@given(lines_of(max_lines=1), st.data(), short_patterns, short_fields)
def test_a_line_streamed_in_pieces_gives_the_tokens_of_the_whole_line(line, data, ignore, fields):
    line = line.replace("\r", "").replace("\n", " ") * 3
    assume(uncuttable(line) < 24)
    check = Checker()
    opt = check.options({"ignore": ignore, "fields": [{"pattern": f} for f in fields]}, "", None)
    assert not check.problems
    cuts = sorted(data.draw(st.lists(st.integers(0, len(line)), max_size=8)))
    pieces = [line[i:j] for i, j in zip([0, *cuts], [*cuts, len(line)], strict=True)]
    pieces = _merge_short(pieces, 8)  # real pieces are 256 KiB; matches here are <= 8 long
    whole = tokens.line_tokens(opt.strip(line), opt)
    with mock.patch.object(tokens, "PIECE", 8):
        streamed = [t for part in tokens.stream_tokens(iter(pieces), opt, str) for t in part]
    assert streamed == whole


def uncuttable(text: str) -> int:
    """The longest run of ``text`` that streaming cannot cut without cutting a token.

    Longer than four pieces, it is cut anyway (by design: real pieces are 64 KiB, so only
    such runs of over 256 KiB are); here pieces are 8 characters."""
    places = [len(text) - m.start() for m in tokens._SAFE_REVERSED.finditer(text[::-1])]
    places = sorted({0, len(text), *places})
    return max((b - a for a, b in itertools.pairwise(places)), default=0)


def _merge_short(pieces: list[str], least: int) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) < least:
            out[-1] += piece
        else:
            out.append(piece)
    return out


@SETTINGS
@given(
    lines_of(max_lines=3),
    lines_of(max_lines=3),
    tolerances,
    st.sampled_from([{}, {"fields": [{"pattern": r"=(\S{1,4})", "atol": 1.0}]}]),
)
def test_long_lines_give_the_verdict_of_short_ones(a, b, tol, extra):
    assume(uncuttable(a) < 24 and uncuttable(b) < 24)
    ea, eb = a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    # (No looking ahead for missing or extra lines: a line longer than a piece is never
    # looked ahead at, so the short ones would find lines the long ones cannot.)
    with mock.patch.object(resync, "WINDOW", 0):
        short = run(ea, eb, "text", **tol, **extra)
        with mock.patch.object(text, "PIECE", 8), mock.patch.object(tokens, "PIECE", 8):
            streamed = run(ea, eb, "text", **tol, **extra)
    assert streamed == short


def test_a_field_match_that_goes_on_past_the_next_segment_is_not_cut_there():
    """Found by the test above: streamed, ``=(\\S{1,4})`` took ``=-1,`` of ``=-1,0.0...``
    (the segments were ``0 0 0=``, ``-1,``, ``0.000000e+00 0``), and the line had 8 tokens
    where the whole line has 12."""
    line = "0 0 0=-1,0.000000e+00 0 "
    opt = Checker().options({"fields": [{"pattern": r"=(\S{1,4})", "atol": 1.0}]}, "", None)
    whole = tokens.line_tokens(opt.strip(line), opt)
    with mock.patch.object(tokens, "PIECE", 8):
        pieces = iter([line[i : i + 8] for i in range(0, len(line), 8)])
        streamed = [t for part in tokens.stream_tokens(pieces, opt, str) for t in part]
    assert ("0", "", 1) in whole and len(whole) == 12
    assert streamed == whole


def test_options_from_a_checker_are_options():
    assert isinstance(Checker().options({}, "", None), Options)


# ------------------------------------------------------------------------------ specs

spec_keys = st.sampled_from(
    [
        *("version", "files", "complete", "rules", "command_timeout", "max_differences"),
        *("rtol", "atol", "ignore", "fields", "match", "format", "columns", "key", "keys"),
        *("delimiter", "header", "skip", "pattern", "nope"),
    ]
)
spec_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**400), 10**400),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["*", "[z-a]", "(", "**/x", "a.txt", "csv", "\0", "-1", "1e400"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(spec_keys | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.dictionaries(spec_keys, spec_values, max_size=6), contents)
def test_a_random_spec_gives_a_verdict(spec, data):
    spec.pop("version", None)
    verdict = run(data, data, None, **spec)
    assert verdict["errors"] or verdict["ok"], verdict["summary"]
