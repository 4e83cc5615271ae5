"""The quick path for lines whose numbers moved within tolerance (``compare/quick.py``) and
the line-by-line reading after a differing line: both must give exactly what the full
path gives, for every input (counts, largest errors and where, listed differences, the
verdict's JSON)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.compare import compare_files, quick, text
from assay.compare.numeric import Tol
from assay.compare.options import Options
from assay.compare.result import Result

# ------------------------------------------------------------------------------ inputs

NUMBERS = [
    *("0", "0.0", "-0.0", "+0", "1", "1.0", "-1", "5.", ".5", "-.5", "1e5", "1E-05", "1.5D+03"),
    *("nan", "-nan", "NaN", "inf", "-inf", "+Infinity", "1e-300", "1e300", "2e-290", "1e290"),
    *("12345678901234567890123", "\u0663.\u0665", "1" + "0" * 400, "3.25"),
]
WORDS = [
    "step",
    "energy=",
    "x_1",
    "1_000",
    "\u00e9t\u00e9",
    "a.b",
    ",",
    "(",
    ")",
    "=",
    "#",
    "12abc",
]
SEPS = [" ", "  ", "\t", ", ", "", "=", " # ", "\u00a0", "\x1f", "\u2028"]
FACTORS = [1.0, 1 + 1e-12, 1 + 1e-9, 1 - 1e-9, 1 + 1e-7, 1 + 1e-6, 1 + 1.0000001e-6, 1.001, -1.0]
FORMATS = ["{:.15e}", "{!r}", "{:.17g}", "{:.6f}", "{:.9E}", "{:g}"]


def _number(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return rng.choice(NUMBERS)
    value = rng.choice([rng.uniform(-1e3, 1e3), rng.uniform(0, 1e-5), rng.randint(-99, 99)])
    return rng.choice(FORMATS).format(float(value))


def _moved(token: str, rng: random.Random, calm: bool) -> str:
    """A token as a later build may print it: moved in its last digits, reformatted,
    replaced, or unchanged (``calm``: moved within 1e-9 at most, as written)."""
    if calm:
        try:
            value = float(token)
        except ValueError:
            return token
        if "e" not in token or "_" in token or rng.random() < 0.1:
            return token
        return f"{value * rng.choice(FACTORS[:4]):.15e}"
    roll = rng.random()
    if roll < 0.15:
        return token
    if roll < 0.2:
        return rng.choice(NUMBERS + WORDS)
    try:
        value = float(token)
    except ValueError:
        return token if roll < 0.9 else token + "x"
    fmt = "{:.15e}" if "e" in token else rng.choice(FORMATS)
    return fmt.format(value * rng.choice(FACTORS))


def line_pair(rng: random.Random) -> tuple[str, str]:
    """An expected line of numbers, words and separators, and an actual one made from it."""
    parts_e, parts_a = [], []
    calm = rng.random() < 0.5
    for _ in range(rng.randint(0, 9)):
        token = _number(rng) if rng.random() < 0.75 else rng.choice(WORDS)
        sep = rng.choice(SEPS) if rng.random() < 0.3 else " "
        parts_e.append(token + sep)
        other_sep = sep if calm or rng.random() < 0.9 else rng.choice(SEPS)
        parts_a.append(_moved(token, rng, calm) + other_sep)
    if not calm and rng.random() < 0.1:  # a token more
        parts_a.append(rng.choice(NUMBERS))
    # A long line (over SHOW characters, under a piece); not with the 400-digit number,
    # which TOKEN takes quadratic time over when a word is glued to it.
    if rng.random() < 0.02 and all(len(p) < 100 for p in parts_e + parts_a):
        parts_e = parts_e * 300
        parts_a = parts_a * 300
    return "".join(parts_e).rstrip(), "".join(parts_a).rstrip()


OPTIONS = [
    Options(tol=Tol(rtol=1e-6)),
    Options(tol=Tol(rtol=1e-6, atol=1e-12)),
    Options(tol=Tol(atol=1e-3)),
    Options(tol=Tol()),
    Options(tol=Tol(rtol=1e-6), ignore=(re.compile(r"#.*"),)),
    Options(tol=Tol(rtol=1e-6), ignore=(re.compile(r"\d+"),)),
    Options(tol=Tol(rtol=1e-9), fields=((re.compile(r"=(\S+)"), Tol(rtol=0.1)),)),
    Options(tol=Tol(rtol=1e-6, skip=True)),
]


def full_path(*_: Any) -> bool:
    """settle switched off: every differing line takes the full path."""
    return False


def state(res: Result) -> dict[str, Any]:
    return {**res.to_dict(), "where": (res.where_abs, res.where_rel), "found": res.found}


def compare_lines(pairs: list[tuple[str, str]], opt: Options, limit: int = 5) -> Result:
    """What ``_short_pair`` adds for each pair, in order, to one result."""
    res = Result("out", "text", limit)
    for n, (le, la) in enumerate(pairs, 1):
        text._short_pair(n, le.encode(), la.encode(), res, opt)
    return res


# ------------------------------------------------------------------- the two paths agree


@pytest.mark.parametrize("seed", range(8))
def test_quick_and_full_paths_agree_on_random_line_pairs(seed: int) -> None:
    rng = random.Random(seed)
    settled = 0
    real = quick.settle

    def counting(*args: Any) -> bool:
        nonlocal settled
        done = real(*args)
        settled += done
        return done

    for opt in OPTIONS:
        pairs = [line_pair(rng) for _ in range(250)]
        with mock.patch.object(text, "settle", counting):
            quick_res = compare_lines(pairs, opt)
        with mock.patch.object(text, "settle", full_path):
            full_res = compare_lines(pairs, opt)
        assert state(quick_res) == state(full_res), opt
    assert settled > 150  # (the quick path is taken, not only fallen back from)


def test_every_number_that_moved_within_tolerance_is_settled_quickly() -> None:
    rng = random.Random(3)
    pairs = []
    for _ in range(200):
        values = [rng.uniform(-1e3, 1e3) for _ in range(6)]
        moved = [v * (1 + rng.uniform(-1e-9, 1e-9)) for v in values]
        pairs.append(
            (
                " ".join(f"{v:.15e}" for v in values) + " step 0.0 x=1",
                " ".join(f"{v:.15e}" for v in moved) + " step 0.0 x=1",
            )
        )
    opt = Options(tol=Tol(rtol=1e-6), blanks=False)  # ("a  3.25": a blank more, else)
    with mock.patch.object(text, "LineCheck", side_effect=AssertionError("full path taken")):
        res = compare_lines(pairs, opt)
    with mock.patch.object(text, "settle", full_path):
        full = compare_lines(pairs, opt)
    assert res.values == 200 * 11 and res.ok  # 6 numbers, step, 0.0, x, =, 1
    assert state(res) == state(full)


@pytest.mark.parametrize(
    ("expected", "actual", "opt"),
    [
        ("1.0 2.0", "1.0 2.1", Options(tol=Tol(rtol=1e-6))),  # a number fails
        ("1.0 2.0", "1.0 2.000002", Options(tol=Tol(rtol=1e-6))),  # too close to tell
        ("1.0 2.0", "1.0 2.0 3.0", Options(tol=Tol(rtol=1e-6))),  # a token more
        ("a 1.0", "b 1.0000000001", Options(tol=Tol(rtol=1e-6))),  # a word differs
        ("1.0 0", "1.0000000001 -0", Options(tol=Tol(rtol=1e-6))),  # a zero that differs
        ("1.0 nan", "1.0000000001 NaN", Options(tol=Tol(rtol=1e-6))),  # nan as other text
        ("1.5D+03 1", "1.5000000001D+03 1", Options(tol=Tol(rtol=1e-6))),  # Fortran
        ("x 1e-300", "x 1.0000000001e-300", Options(tol=Tol(rtol=1e-6))),  # out of range
        ("1_000 2", "1_001 2", Options(tol=Tol(atol=10))),  # a word, to float() a number
    ],
)
def test_what_the_quick_path_cannot_settle_is_left_to_the_full_path_untouched(
    expected: str, actual: str, opt: Options
) -> None:
    res = Result("out", "text", 5)
    before = state(res)
    assert not quick.settle(1, expected, actual, opt.tol, res)
    assert state(res) == before
    with mock.patch.object(text, "settle", full_path):
        full = compare_lines([(expected, actual)], opt)
    assert state(compare_lines([(expected, actual)], opt)) == state(full)


def test_fields_and_skipped_tolerances_never_reach_the_quick_path() -> None:
    pairs = [("a=1.0 2.0", "a=1.01 2.0000000001")]
    for opt in OPTIONS[-2:]:
        with mock.patch.object(text, "settle", side_effect=AssertionError("quick path")):
            res = compare_lines(pairs, opt)
        assert res.ok and res.values == (0 if opt.tol.skip else 4)  # a, =, 1.0, 2.0


# ------------------------------------------------- whole files: the verdict, byte for byte


def _files(tmp: Path, lines_e: list[str], lines_a: list[str], ends: tuple[str, str]) -> Path:
    for side, lines, end in (("expected", lines_e, ends[0]), ("actual", lines_a, ends[1])):
        (tmp / side).mkdir()
        (tmp / side / "out.txt").write_bytes(("\n".join(lines) + end).encode())
    return tmp


def _verdict(root: Path, **spec: Any) -> str:
    return json.dumps(compare_files(str(root / "expected"), str(root / "actual"), **spec))


@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(0, 40),
    equal_share=st.sampled_from([0.0, 0.5, 0.95]),
    ends=st.sampled_from([("\n", "\n"), ("", ""), ("\n", ""), ("", "\n")]),
    spec=st.sampled_from([{"rtol": 1e-6}, {"atol": 1e-3}, {"rtol": 1e-6, "ignore": ["#.*"]}]),
)
def test_whole_files_get_the_same_verdict_either_way(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    count: int,
    equal_share: float,
    ends: tuple[str, str],
    spec: dict[str, Any],
) -> None:
    rng = random.Random(seed)
    lines_e, lines_a = [], []
    for _ in range(count):
        le, la = line_pair(rng)
        lines_e.append(le)
        lines_a.append(le if rng.random() < equal_share else la)
    if rng.random() < 0.2:  # one side longer
        (lines_e if rng.random() < 0.5 else lines_a).extend(["1 2 3", "4 5"])
    if rng.random() < 0.1 and lines_e:  # a line longer than a piece
        lines_e[0] = lines_a[0] = " ".join(["1.5"] * 30_000)
    root = _files(tmp_path_factory.mktemp("q"), lines_e, lines_a, ends)
    quick_verdict = _verdict(root, **spec)
    with mock.patch.object(text, "settle", full_path):
        full_verdict = _verdict(root, **spec)
    assert quick_verdict == full_verdict


def test_lines_after_a_differing_line_are_read_one_by_one_with_the_same_counts(
    tmp_path: Path,
) -> None:
    # Runs of differing lines between runs of equal ones, a last line without its end and
    # two lines more in actual: every pair is seen once, in order.
    lines_e, lines_a, differing = [], [], []
    for n in range(1, 301):
        line = f"{n} {n * 0.5:.6f} word"
        lines_e.append(line)
        if n % 7 in (1, 2, 3):
            lines_a.append(f"{n} {n * 0.5 + 0.25:.6f} word")
            differing.append(n)
        else:
            lines_a.append(line)
    root = _files(tmp_path, lines_e, [*lines_a, "x", "y"], ("", ""))
    verdict = json.loads(_verdict(root, rtol=1e-6))
    result = verdict["files"][0]
    assert result["lines"] == 300
    assert result["differing_lines"] == len(differing) + 2
    assert result["differing_values"] == len(differing)
    listed = [d["line"] for d in result["differences"]]
    assert listed and listed == differing[: len(listed)]
    assert "line 301: extra line in actual: 'x' (and 1 more)" in result["message"]


@pytest.mark.parametrize(
    ("expected", "actual", "token", "values"),
    [("a 3.25 1.0 x", "a  3.25 1.00 x", 2, 4), ("a=3.25 1.0 x", "a=3.25 1.00 x", 3, 5)],
)
def test_the_first_of_numbers_equal_in_value_is_where_the_errors_of_zero_are(
    expected: str, actual: str, token: int, values: int
) -> None:
    opt = Options(tol=Tol(rtol=1e-6), blanks=False)  # ("a  3.25": a blank more, else)
    with mock.patch.object(text, "LineCheck", side_effect=AssertionError("full path taken")):
        res = compare_lines([(expected, actual)], opt)
    assert (res.max_abs, res.max_rel) == (0.0, 0.0)
    assert res.where_abs == res.where_rel == f"line 1, token {token}"
    assert res.values == values
    with mock.patch.object(text, "settle", full_path):
        assert state(compare_lines([(expected, actual)], opt)) == state(res)
