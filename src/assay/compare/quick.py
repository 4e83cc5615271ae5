"""The common differing line of a numerical output: the same words and other tokens
around its numbers, and every number that differs within tolerance by a clear margin
(results that move in their last digits between builds). Such a line is settled here in one
pass over its numbers, without the per-token objects of the full path
(:class:`.text.LineCheck`), with exactly the counts and largest errors that path would add
to the result.

Three tries, the cheapest first: the blank-separated fields of both lines; the same with
blanks put around commas, '=', parentheses and the like (a token each wherever they
stand); the text around TOKEN's numbers compared as strings. Anything else is left to the
full path, the result untouched: other tokens, or token counts, that differ; a number
whose float is 0, nan, inf or beyond 1e+-290; a Fortran ``D`` exponent; a pair of numbers
that fails or is too close to its tolerance for floats to decide (the full path's decimals
decide it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .layout import same_runs
from .numeric import _MARGIN, _SLACK, NUMBER_TOKEN, TOKEN

if TYPE_CHECKING:  # (the alias only for the checker: the bundle runs on Python 3.7)
    from .numeric import Tol
    from .result import Result

    # What a line pair adds: its tokens, the largest errors and the tokens they are at.
    _Found = tuple[int, float, int, float, int]

# TOKEN's numbers alone: a number is found exactly where TOKEN finds one, since TOKEN tries
# its number first wherever it stands and a word never runs into a number (a number is
# never preceded nor followed by a word character). What lies between the numbers is then
# tokenized by TOKEN's word part alone, whatever surrounds it.
_NUMBERS = re.compile(NUMBER_TOKEN)
_WORDS = re.compile(r"\w+|\S")  # TOKEN's other part: a word or one other visible character
# Characters that are a token each wherever they stand: no number or word holds one, and
# one parts the tokens beside it as a blank does. With blanks around each, a line's fields
# are its tokens.
# (str.replace for the common ones: str.translate to longer strings takes a dict look-up
# per character, 8x the cost.)
_APART = tuple((c, f" {c} ") for c in ",;:=()[]|")
_LOW, _HIGH = 1e-290, 1e290  # the range in which numeric.errors lets floats decide
_UNDER = 1 - _MARGIN


def settle(
    n: int | str, expected: str, actual: str, tol: Tol, res: Result, blanks: bool = False
) -> bool:
    """Add line pair ``n`` (ignore patterns already removed; a number, or where the pair
    is: ``12 (output line 13)``) to ``res`` as the full path would, if it is a line this
    module settles (see the module doc); else leave ``res`` as it is and return False.
    With ``blanks`` (whitespace counts: trailing blanks already removed), only a line
    whose blank runs are those of the expected one is settled by its fields."""
    found = _by_fields(expected, actual, tol, blanks)
    if found is None:
        apart_e = _apart(expected)
        if apart_e != expected and not (blanks and not same_runs(expected, actual)):
            found = _by_fields(apart_e, _apart(actual), tol)  # (commas, '=', parentheses...)
    if found is None:  # (the text between numbers, blanks included, may still be equal)
        found = _by_numbers(expected, actual, tol)
        if found is None:
            return False
    values, max_abs, at_abs, max_rel, at_rel = found
    res.values += values
    if res.max_abs is None or max_abs > res.max_abs:
        res.max_abs, res.where_abs = max_abs, f"line {n}, token {at_abs}"
    if res.max_rel is None or max_rel > res.max_rel:
        res.max_rel, res.where_rel = max_rel, f"line {n}, token {at_rel}"
    return True


def _by_fields(expected: str, actual: str, tol: Tol, blanks: bool = False) -> _Found | None:
    """Blank-separated fields, each pair equal or two numbers within tolerance; with
    ``blanks``, the blank runs between them the same on both sides too.

    Tokens never run over a blank, so a line's tokens are its fields' tokens in order (and
    blanks that differ change no token). A field that ``float`` reads, without an
    underscore (which it allows between digits, and a word would hold), is exactly one
    number token: ``float`` reads the numbers TOKEN finds but for ``D`` exponents."""
    fields_e, fields_a = expected.split(), actual.split()
    if len(fields_e) != len(fields_a):
        return None
    if blanks and not (
        # (fields one blank apart on both sides: the same layout, 8x cheaper than the regex)
        (" ".join(fields_e) == expected and " ".join(fields_a) == actual)
        or same_runs(expected, actual)
    ):
        return None
    under = "_" in expected or "_" in actual
    rtol, atol_under = tol.rtol, tol.atol * _UNDER
    low, high, slack, margin, same = _LOW, _HIGH, _SLACK, _UNDER, _SAME  # (locals: fast)
    max_abs = max_rel = -1.0  # (every error is >= 0: the first number sets both)
    at_abs = at_rel = token = 0
    for x, y in zip(fields_e, fields_a):
        if x == y:
            count, first = same.get(x) or _same(x)
            if first and max_abs < 0.0:  # an equal number: errors of 0
                max_abs = max_rel = 0.0
                at_abs = at_rel = token + first
            token += count
            continue
        token += 1
        if under and ("_" in x or "_" in y):
            return None
        # As numeric.errors decides a clear case with floats, in the same operations.
        try:
            fe, fa = float(x), float(y)
        except ValueError:  # not a number (or a Fortran exponent)
            return None
        ae, aa = abs(fe), abs(fa)
        if not (low < ae < high and low < aa < high):
            return None
        abs_err = abs(fa - fe)
        hi = abs_err + (aa + ae) * slack
        if not (hi <= atol_under or hi <= rtol * ae * margin):
            return None
        if abs_err > max_abs:
            max_abs, at_abs = abs_err, token
        rel_err = abs_err / ae
        if rel_err > max_rel:
            max_rel, at_rel = rel_err, token
    if max_abs < 0.0:  # (no number: the lines differ in blanks only)
        return None
    return token, max_abs, at_abs, max_rel, at_rel


_SAME: dict[str, tuple[int, int]] = {}  # field -> _same(field), for fields seen equal
_SAME_MAX = 4096
_SAME_LONGEST = 100  # characters: longer fields are not kept (the cache stays under 1 MB)


def _same(field: str) -> tuple[int, int]:
    """A field's tokens, and the 1-based index of its first number (0: none)."""
    try:
        float(field)
        one_number = "_" not in field  # (as _by_fields reads a field)
    except ValueError:
        one_number = False
    if one_number:
        found = 1, 1
    else:
        tokens = TOKEN.findall(field)
        found = len(tokens), next((i for i, t in enumerate(tokens, 1) if t[0]), 0)
    if len(field) <= _SAME_LONGEST:
        if len(_SAME) >= _SAME_MAX:
            _SAME.clear()
        _SAME[field] = found
    return found


def _by_numbers(expected: str, actual: str, tol: Tol) -> _Found | None:
    """The same text around the numbers (blanks included), each pair of numbers equal as
    text or within tolerance."""
    pe, pa = _NUMBERS.split(expected), _NUMBERS.split(actual)
    if len(pe) != len(pa) or pe[::2] != pa[::2]:
        return None
    rtol, atol_under = tol.rtol, tol.atol * _UNDER
    max_abs = max_rel = -1.0
    at_abs = at_rel = 0
    for k in range(1, len(pe), 2):
        x, y = pe[k], pa[k]
        if x == y:
            abs_err = rel_err = 0.0
        else:
            try:
                fe, fa = float(x), float(y)
            except ValueError:  # a Fortran exponent
                return None
            ae, aa = abs(fe), abs(fa)
            if not (_LOW < ae < _HIGH and _LOW < aa < _HIGH):
                return None
            abs_err = abs(fa - fe)
            hi = abs_err + (aa + ae) * _SLACK
            if not (hi <= atol_under or hi <= rtol * ae * _UNDER):
                return None
            rel_err = abs_err / ae
        if abs_err > max_abs:
            max_abs, at_abs = abs_err, k
        if rel_err > max_rel:
            max_rel, at_rel = rel_err, k
    if max_abs < 0.0:
        return None
    gaps = pe[::2]
    values = len(pe) // 2 + _words(gaps, len(gaps))
    return values, max_abs, _token(gaps, at_abs), max_rel, _token(gaps, at_rel)


def _apart(line: str) -> str:
    """``line`` with blanks around each of the characters of _APART."""
    for char, spaced in _APART:
        line = line.replace(char, spaced)
    return line


def _words(gaps: list[str], count: int) -> int:
    """The tokens in the first ``count`` texts between numbers."""
    joined = " ".join(gaps[:count])  # (a blank between: no word runs on into the next)
    if not joined or joined.isspace():
        return 0
    return len(_WORDS.findall(joined))


def _token(gaps: list[str], k: int) -> int:
    """The 1-based token index of the number at ``k`` (odd) of the split line."""
    return (k + 1) // 2 + _words(gaps, (k + 1) // 2)
