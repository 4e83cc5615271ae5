"""Strings that are dates and times (RFC 3339, TOML's four kinds), compared as what they
denote: ``"1979-05-27T07:32:00Z"`` equals ``"1979-05-27 07:32:00+00:00"`` (the same instant)
and ``"07:32"`` equals ``"07:32:00.000"``. Opt-in for JSON strings (``strings =
["numbers", "datetimes"]``): elsewhere such strings are text."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

_TIME = r"([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]+)?)?"
_OFFSET = r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
_DATETIME = re.compile(rf"([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})(?:[Tt ]{_TIME}{_OFFSET}?)?")
_TIME_ONLY = re.compile(_TIME)


def moment(text: str) -> tuple[Any, ...] | None:
    """What ``text`` denotes, as a key equal for equal moments of the same kind: an offset
    datetime (as its instant in UTC), a local datetime, a local date or a local time;
    fractions of a second exact (any number of digits). None when ``text`` is none of
    those (nor a valid one: February 30th, 24:00, an offset beyond 23:59)."""
    try:
        m = _DATETIME.fullmatch(text)
        if m is not None:
            year, month, day, hour, minute, second, frac, zulu, sign, oh, om = m.groups()
            date = dt.date(int(year), int(month), int(day))
            if hour is None:
                return ("date", date)
            clock = dt.time(int(hour), int(minute), int(second or 0))
            fraction = Decimal(frac or 0).normalize()
            stamp = dt.datetime.combine(date, clock)
            if zulu is None and sign is None:
                return ("local datetime", stamp, fraction)
            offset = dt.timedelta(hours=int(oh or 0), minutes=int(om or 0))
            if offset >= dt.timedelta(days=1):
                return None
            instant = stamp - (offset if sign == "+" else -offset)
            return ("datetime", instant, fraction)
        m = _TIME_ONLY.fullmatch(text)
        if m is not None:
            hour, minute, second, frac = m.groups()
            clock = dt.time(int(hour), int(minute), int(second or 0))
            return ("time", clock, Decimal(frac or 0).normalize())
    except (ValueError, OverflowError):  # no such day or time (or beyond year 1..9999)
        return None
    return None
