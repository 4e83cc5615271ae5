"""Durations as users write them: ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"01:30:00"``.

What a user wrote is decoded once, where it is read (config, test fields, suite files, ``-S``),
into a :class:`Duration`; everything after that reads seconds.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|d|h|m|s)")
_CLOCK = re.compile(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)")


MAX_SECONDS = 10_000 * 86400.0
"""The longest duration accepted (10000 days): beyond it a limit means nothing, and timers
overflow (a thread's wait takes at most ``threading.TIMEOUT_MAX``, about 1e10 s)."""


def parse_duration(value: object) -> float:
    """Return seconds for a duration, or raise ``ValueError`` with the accepted forms.

    Accepted: a number of seconds (int or float), a string of number+unit parts
    (``d``, ``h``, ``m``, ``s``, ``ms``; e.g. ``"1h30m"``, ``"2.5s"``), or a Slurm-style
    clock ``[D-]HH:MM:SS`` / ``MM:SS``.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"{value!r} is not a duration; write e.g. 90, '90s', '5m', '1h30m' or '01:30:00'"
        )
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int no float holds (TOML reads any length whole)
            seconds = math.inf
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise ValueError(
            f"{value!r} is not a duration; write e.g. 90, '90s', '5m', '1h30m' or '01:30:00'"
        )
    if seconds <= 0 or seconds != seconds:
        raise ValueError(f"duration {value!r} must be positive")
    if math.isinf(seconds) and not isinstance(value, int):
        raise ValueError(f"duration {value!r} must be finite; write e.g. '30d' for a long limit")
    if seconds > MAX_SECONDS:
        shown = repr(value) if len(repr(value)) <= 30 else repr(value)[:20] + "..."
        raise ValueError(
            f"duration {shown} is longer than any job: at most {MAX_SECONDS // 86400:.0f}d"
        )
    return seconds


class Duration(float):
    """A positive, finite length of time: what a user wrote, decoded once into seconds.

    ``Duration("1h30m") == Duration(5400) == 5400.0``. It is a ``float`` (seconds) wherever
    arithmetic or JSON needs one; ``str()`` is the compact text (``"1h30m"``) that reads back
    to the same seconds, and :meth:`slurm` is Slurm's ``D-HH:MM:SS``. Raises ``ValueError``
    naming the accepted forms, as :func:`parse_duration` does.
    """

    __slots__ = ()

    def __new__(cls, value: object) -> Duration:
        if isinstance(value, Duration):
            return value
        return super().__new__(cls, parse_duration(value))

    @property
    def seconds(self) -> float:
        """The duration as a plain float of seconds."""
        return float(self)

    def slurm(self) -> str:
        """Slurm's ``[D-]HH:MM:SS`` (rounded up to whole seconds)."""
        return slurm_time(self)

    def __str__(self) -> str:
        seconds = float(self)
        whole = math.floor(seconds)
        hours, rest = divmod(whole, 3600)
        minutes = rest // 60
        # Exact: the hours and minutes taken off are whole numbers below ``seconds``.
        left = seconds - (hours * 3600 + minutes * 60)
        parts = [f"{hours}h"] if hours else []
        if minutes:
            parts.append(f"{minutes}m")
        if left:
            number = str(int(left)) if left == int(left) else _positional(left)
            parts.append(f"{number}s")
        return "".join(parts)

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else super().__format__(spec)

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"


def _parse_text(text: str) -> float:
    if not text:
        raise ValueError("empty duration; write e.g. '90s', '5m', '1h30m' or '01:30:00'")
    try:
        return float(text)
    except ValueError:
        pass
    clock = _CLOCK.fullmatch(text)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    pos = 0
    total = 0.0
    compact = text.replace(" ", "")
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(compact) or pos == 0:
        raise ValueError(
            f"{text!r} is not a duration; write e.g. '90s', '5m', '1h30m', '2.5s' or '01:30:00'"
        )
    return total


def _positional(number: float) -> str:
    """The shortest text that reads back to the same float, without an exponent."""
    from decimal import Decimal  # rarely needed: not at start-up

    return format(Decimal(repr(number)), "f")


def format_duration(seconds: float) -> str:
    """Format seconds compactly for messages: ``10s``, ``1.5s``, ``5m``, ``1h30m``, ``250ms``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        text = f"{seconds:.1f}".rstrip("0").rstrip(".")
        return f"{text}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return "".join(parts)


def slurm_time(seconds: float) -> str:
    """Format seconds as Slurm's ``D-HH:MM:SS`` (rounded up to whole seconds)."""
    whole = int(-(-seconds // 1))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    prefix = f"{days}-" if days else ""
    return f"{prefix}{hours:02d}:{minutes:02d}:{secs:02d}"
