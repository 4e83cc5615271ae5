"""Numbers as written in outputs: recognised in text, compared exactly as the decimals they are.

A tolerance decision is exact: ``|actual - expected| <= atol`` or ``<= rtol * |expected|``
in decimal arithmetic on the numbers' text and on the tolerances' shortest decimal form, so
``1.0`` and ``1.1`` are equal with ``rtol = 0.1``. Floats decide the clear cases quickly;
the decimals decide the rest. No size limit: integers of any length, exponents of any size.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # (aliases only for the checker: subscripted builtins need Python 3.9)
    # An error: a float (0, normal or inf) where it can hold the value, else a BigErr.
    Err = Union[float, "BigErr"]
    Errors = tuple[bool, Err, Err | None]  # within tolerance, abs error, rel error

# (Digits, then a dot with digits or not: the same numbers as ``\d+\.?\d*``, which
# backtracked through every split of a run of digits between its two parts when the guard
# after it failed: a line of 64 KiB of digits glued to a letter took minutes.)
NUMBER = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eEdD][+-]?\d+)?|(?i:nan|inf(?:inity)?))"
NUMBER_CELL = re.compile(rf"\s*{NUMBER}\s*")
# A number not glued to a word or a dot (group 1), else a word or one other visible
# character (group 2): ``findall`` gives ``(number, "")`` or ``("", other)`` per token.
NUMBER_TOKEN = rf"(?<![\w.])({NUMBER})(?!\w|\.\d)"  # TOKEN's group 1 with its guards
TOKEN = re.compile(rf"{NUMBER_TOKEN}|(\w+|\S)")
_FINITE = re.compile(r"[+-]?(\d*)(?:\.(\d*))?(?:[eEdD]([+-]?)(\d+))?")

ZERO = 0.0
INF = math.inf
_INT_DIGITS = 4000  # below Python's int/str conversion limit (4,300 digits)
_MAX_PREC = 1_000_000  # digits of exact arithmetic (more only for absurd exponent spans)
_FAR = 10**9  # a number this many decades below the other is negligible beside it
# Two decimal strings converted to floats and subtracted are off by at most 2**-52 of the
# sum of their magnitudes; tolerances, by a few 2**-53 of theirs. Within twice that the
# decimals decide.
_SLACK = 4.5e-16
_MARGIN = 1e-15


def _tol_decimal(x: float) -> Decimal:
    return Decimal(repr(float(x)))


@dataclass(frozen=True)
class Tol:
    """Tolerances of a number: equal when ``abs_err <= atol`` or ``abs_err <= rtol * |e|``."""

    rtol: float = 0.0
    atol: float = 0.0
    skip: bool = False
    rtol_d: Decimal = field(init=False, repr=False, compare=False)
    atol_d: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rtol_d", _tol_decimal(self.rtol))
        object.__setattr__(self, "atol_d", _tol_decimal(self.atol))


# -------------------------------------------------------------------------- big integers


def big_int(digits: str) -> int:
    """``int(digits)`` for any number of digits (Python refuses more than 4,300 at once)."""
    if len(digits) <= _INT_DIGITS:
        return int(digits)
    value = 0
    for i in range(0, len(digits), _INT_DIGITS):
        chunk = digits[i : i + _INT_DIGITS]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def int_text(value: int) -> str:
    """``str(value)`` for any size of int."""
    if abs(value) < 10**_INT_DIGITS:
        return str(value)
    sign, value, parts = "-" if value < 0 else "", abs(value), []
    unit = 10**_INT_DIGITS
    while value >= unit:
        value, low = divmod(value, unit)
        parts.append(str(low).rjust(_INT_DIGITS, "0"))
    return sign + str(value) + "".join(reversed(parts))


# ------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class _Finite:
    """``sign * int(digits) * 10**exp``: digits without leading or trailing zeros ("" is 0)."""

    sign: int
    digits: str
    exp: int

    @property
    def adjusted(self) -> int:
        return self.exp + len(self.digits) - 1

    def scaled(self, shift: int) -> Decimal:
        """The value times ``10**-shift`` (a far-off exponent is clamped: negligible)."""
        if not self.digits:
            return Decimal(0)
        exp = max(self.exp - shift, -_FAR)
        return Decimal(f"{'-' if self.sign < 0 else ''}{self.digits}E{exp}")


_Parsed = Union[str, _Finite]  # "nan", "+inf", "-inf" or a finite number


def parse(text: str) -> _Parsed:
    """The value of a token that matched ``NUMBER``."""
    text = text.strip()
    negative = text.startswith("-")
    body = text.lstrip("+-").lower()
    if body == "nan":
        return "nan"
    if body.startswith("inf"):
        return "-inf" if negative else "+inf"
    m = _FINITE.fullmatch(text)
    if m is None:  # not a number after all: callers only pass NUMBER matches
        raise ValueError(f"not a number: {text[:60]!r}")
    whole, frac, exp_sign, exp_digits = m.group(1), m.group(2) or "", m.group(3), m.group(4)
    exp = big_int(exp_digits) if exp_digits else 0
    exp = (-exp if exp_sign == "-" else exp) - len(frac)
    digits = (whole + frac).lstrip("0")
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    if not stripped:
        return _Finite(1, "", 0)
    return _Finite(-1 if negative else 1, stripped, exp)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # a Fortran exponent (1.5D+03)
        return float(text.replace("d", "e").replace("D", "E"))


# ------------------------------------------------------------------------------- errors


class BigErr:
    """An error beyond the float range: ``mantissa * 10**exp``, exp >= 308 or <= -308.

    It orders with floats: a large one above every finite float, a small one below every
    non-zero float this module makes (those are at least 1e-307)."""

    __slots__ = ("exp", "mantissa")

    def __init__(self, exp: int, mantissa: float) -> None:
        self.exp, self.mantissa = exp, mantissa

    def _key(self, other: object) -> tuple[Any, Any]:
        if isinstance(other, BigErr):
            return (self.exp, self.mantissa), (other.exp, other.mantissa)
        if isinstance(other, (int, float)):
            if self.exp > 0:  # above every finite float, below inf
                return (1, 0), (2 if other == math.inf else 0, 0)
            return (1, 0), (0 if other <= 0 else 2, 0)  # above 0, below the rest
        raise TypeError(f"cannot order an error and {type(other).__name__}")

    def __lt__(self, other: object) -> bool:
        mine, theirs = self._key(other)
        return bool(mine < theirs)

    def __gt__(self, other: object) -> bool:
        mine, theirs = self._key(other)
        return bool(mine > theirs)

    def __le__(self, other: object) -> bool:
        return not self > other

    def __ge__(self, other: object) -> bool:
        return not self < other

    def __repr__(self) -> str:
        return err_text(self)


def _err_of_decimal(d: Decimal, shift: int) -> Err:
    """The error ``|d| * 10**shift``."""
    if not d:
        return ZERO
    mantissa, _, exp = f"{d.copy_abs():.16e}".partition("e")
    power = int(exp) + shift
    if -308 < power < 308:
        return float(f"{mantissa}e{power}")
    return BigErr(power, float(mantissa))


def _exp_text(exp: int) -> str:
    return f"{'+' if exp >= 0 else '-'}{int_text(abs(exp)).rjust(2, '0')}"


def err_text(err: Err | None) -> str:
    """An error as ``%.3g`` would write it, for any exponent."""
    if err is None:
        return "undefined"
    if not isinstance(err, BigErr):
        return f"{err:.3g}"
    text, exp = f"{err.mantissa:.3g}", err.exp
    if float(text) >= 10:  # rounded up to 10
        text, exp = f"{err.mantissa / 10:.3g}", exp + 1
    return f"{text}e{_exp_text(exp)}"


def err_sci(err: Err) -> str:
    """An error as ``%.1e`` would write it, for any exponent (summaries)."""
    if not isinstance(err, BigErr):
        return f"{err:.1e}"
    text, exp = f"{err.mantissa:.1f}", err.exp
    if text == "10.0":
        text, exp = "1.0", exp + 1
    return f"{text}e{_exp_text(exp)}"


def err_json(err: Err | None) -> float | str | None:
    """An error in the verdict: a number, or a string where a float cannot hold it."""
    if err is None or (isinstance(err, float) and math.isfinite(err)):
        return err
    return err_text(err)


# ------------------------------------------------------------------------------- compare


def errors(expected: str, actual: str, tol: Tol) -> Errors:
    """Whether two number tokens are equal within ``tol``, with both errors (the relative
    one None when the expected value is 0: only ``atol`` can accept a value against it)."""
    if expected == actual:
        return True, ZERO, ZERO
    fe, fa = _float(expected), _float(actual)
    if 1e-290 < abs(fe) < 1e290 and 1e-290 < abs(fa) < 1e290:
        # Floats decide unless the difference is too close to a tolerance to tell.
        diff = abs(fa - fe)
        slack = (abs(fa) + abs(fe)) * _SLACK
        limit = tol.rtol * abs(fe)
        lo, hi = diff - slack, diff + slack
        if hi <= tol.atol * (1 - _MARGIN) or hi <= limit * (1 - _MARGIN):
            return True, diff, diff / abs(fe)
        if lo > tol.atol * (1 + _MARGIN) and lo > limit * (1 + _MARGIN):
            return False, diff, diff / abs(fe)
    return _exact(parse(expected), parse(actual), tol)


def _exact(pe: _Parsed, pa: _Parsed, tol: Tol) -> Errors:
    if isinstance(pe, str) or isinstance(pa, str):  # nan or inf on a side
        same = pe == pa
        return same, (ZERO if same else INF), (ZERO if same else INF)
    if (pe.digits, pe.exp, pe.sign) == (pa.digits, pa.exp, pa.sign) or not (pe.digits or pa.digits):
        return True, ZERO, ZERO  # the same value (0 and -0 too)
    # Scale both so that the larger is about 1: exponents of any size stay in range.
    shift = max(x.adjusted for x in (pe, pa) if x.digits)
    de, da = pe.scaled(shift), pa.scaled(shift)
    lowest = min(max(x.exp - shift, -_FAR) for x in (pe, pa) if x.digits)
    prec = min(max(34, 3 - lowest, len(pe.digits) + 40), _MAX_PREC)
    ctx = Context(prec=prec, Emax=MAX_EMAX, Emin=MIN_EMIN)
    diff = ctx.subtract(da, de).copy_abs()  # (abs() would round to 28 digits)
    abs_err = _err_of_decimal(diff, shift)
    rel_err = None
    ok = False
    if pe.digits:
        ratio = Context(prec=20, Emax=MAX_EMAX, Emin=MIN_EMIN).divide(diff, de.copy_abs())
        rel_err = _err_of_decimal(ratio, 0)
        ok = diff <= ctx.multiply(tol.rtol_d, de.copy_abs())
    if not ok and tol.atol:
        ok = _at_most(diff, shift, tol.atol_d, ctx)
    return ok, abs_err, rel_err


def _at_most(diff: Decimal, shift: int, limit: Decimal, ctx: Context) -> bool:
    """``diff * 10**shift <= limit`` for a ``limit`` > 0."""
    if not diff:
        return True
    here, there = diff.adjusted() + shift, limit.adjusted()
    if here != there:
        return here < there
    return ctx.scaleb(diff, -diff.adjusted()) <= ctx.scaleb(limit, -there)


def exceeds(abs_err: Err, rel_err: Err | None, tol: Tol) -> str:
    """Why two numbers differ: both errors against both limits."""
    head = f"abs error {err_text(abs_err)} > atol {tol.atol:.3g}"
    if rel_err is None:
        return f"{head}; no relative error against an expected 0"
    return f"{head}, rel error {err_text(rel_err)} > rtol {tol.rtol:.3g}"
