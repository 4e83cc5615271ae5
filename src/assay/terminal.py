"""Text for the terminal: what a test, a host, a bucket or a store names is shown, never obeyed.

Names, parameter values, metric names, outputs, paths in trees and error texts can come from
test code, from a remote host or from a bucket. Written raw, an escape sequence in one could
set the clipboard (OSC 52), clear the screen or restyle a line; a carriage return could
overwrite a FAIL; a bidirectional override could make a line read as another. Every such
character is written as an escape instead: ``\\xHH`` (C0, DEL, C1 controls, and bytes that
were not UTF-8, held as ``surrogateescape`` stand-ins) or ``\\uHHHH`` (bidirectional
controls).
"""

from __future__ import annotations

import functools
import re

# Tab aside: it moves the cursor but cannot hide or rewrite anything.
_C0_C1 = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"


@functools.cache
def _pattern(which: str) -> re.Pattern[str]:
    """The characters to escape (compiled on first need: a class that spans the surrogates
    takes ~1.5 ms, and most text has nothing to escape)."""
    return re.compile(
        {
            "lines": f"[{_C0_C1}{_BIDI}{_SURROGATES}]",
            "line": f"[\n{_C0_C1}{_BIDI}{_SURROGATES}]",
            # Inside a JSON document a C0 control is already escaped by every encoder; C1
            # controls and the bidirectional ones are not, yet a terminal obeys them.
            "json": f"[\x7f-\x9f{_BIDI}]",
            "surrogates": f"[{_SURROGATES}]",
        }[which]
    )


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# Every character escaped here is a control (Cc), a format character (Cf: the bidirectional
# ones) or a surrogate (Cs), none of which str.isprintable() lets through: printable text
# (most text) has nothing to escape, and is shown as it is without a pattern.


def line(text: object) -> str:
    """``text`` as one line: every control character (a newline too) written as an escape."""
    shown = str(text)
    return shown if shown.isprintable() else _pattern("line").sub(_escape, shown)


def lines(text: object) -> str:
    """``text`` with its newlines kept and every other control character written as an
    escape (a carriage return included: it would overwrite the line)."""
    shown = str(text)
    if all(part.isprintable() for part in shown.split("\n")):
        return shown
    return _pattern("lines").sub(_escape, shown)


def json_text(text: str) -> str:
    """A JSON document with the C1 and bidirectional controls in its strings written as
    ``\\u00HH`` (still the same JSON: these characters only occur inside strings)."""
    if text.isascii() and "\x7f" not in text:  # (nor C1 nor bidirectional controls)
        return text
    return _pattern("json").sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def storable(text: str) -> str:
    """``text`` with its lone surrogates written as escapes (``\\xHH`` for a byte that was
    not UTF-8), and nothing else changed: a text test code made (a file name its job wrote,
    decoded by ``os.listdir``) reaches the journal, report.json, the database and JUnit XML,
    whose UTF-8 encoders refuse lone surrogates and ended the whole run."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return _pattern("surrogates").sub(_escape, text)
    return text


def echo(text: object = "", err: bool = False) -> None:
    """``click.echo`` of ``text`` with its lines kept and everything else made visible."""
    import click  # lazy: start-up time (a run's display writes its stream itself)

    click.echo(lines(text), err=err)
