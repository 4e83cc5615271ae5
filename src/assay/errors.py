"""Errors that are the user's to fix, and how they are worded.

Every user error carries one message that names the thing, the place and the
fix. The CLI prints it without a traceback (unless ``--debug``) and exits 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class AssayError(Exception):
    """An error the user can fix: bad input, bad config, bad option."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(AssayError):
    """The configuration file is malformed or refers to things that do not exist."""


class UsageError(AssayError):
    """A command-line option or argument is wrong."""


class StoreError(AssayError):
    """The store is unreadable, inconsistent, or an object is missing or corrupt. (Here,
    not in :mod:`assay.store.objects`, which re-exports it: the run's modules that only
    catch it need not import the store, blake3 and all, before a lone case starts.)"""


class SanityError(Exception):
    """Raised by sanity and metric helpers when the output is not what the test expects.

    It is an expected failure of a case, not a bug: the case fails at its stage
    with this message (one line) and no traceback; ``details`` (several lines, e.g.
    the differences a comparison found) go to the report and the summary.
    """

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.details = details


def sanity_failure(exc: SanityError) -> tuple[str, str | None]:
    """The reason and details of a :class:`SanityError`, never raising: test code raises
    them too, with an empty message, details that are no text (a list of lines), or as a
    subclass whose ``__str__`` raises or whose ``__init__`` set no ``details``."""
    reason = _text(exc) or f"{type(exc).__name__} without a message"
    details = getattr(exc, "details", None)
    if details is None or isinstance(details, str):
        return reason, details
    if isinstance(details, list | tuple):
        return reason, "\n".join(_text(line) for line in details)
    return reason, _text(details)


def _text(value: object) -> str:
    try:
        return str(value)
    except Exception:  # test code's __str__ may raise
        return f"<unprintable {type(value).__name__} object>"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    names = list(choices)
    import difflib  # lazy: only when a name is unknown

    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def toml_key(name: str) -> str:
    """A TOML key as written in a dotted path (quoted when it needs quotes)."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return '"' + name.replace('"', '\\"') + '"'
