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

import re

# Tab aside: it moves the cursor but cannot hide or rewrite anything.
_C0_C1 = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"
_IN_LINES = re.compile(f"[{_C0_C1}{_BIDI}{_SURROGATES}]")
_IN_A_LINE = re.compile(f"[\n{_C0_C1}{_BIDI}{_SURROGATES}]")
# Inside a JSON document a C0 control is already escaped by every encoder; C1 controls and
# the bidirectional ones are not, yet a terminal obeys them.
_IN_JSON = re.compile(f"[\x7f-\x9f{_BIDI}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def line(text: object) -> str:
    """``text`` as one line: every control character (a newline too) written as an escape."""
    return _IN_A_LINE.sub(_escape, str(text))


def lines(text: object) -> str:
    """``text`` with its newlines kept and every other control character written as an
    escape (a carriage return included: it would overwrite the line)."""
    return _IN_LINES.sub(_escape, str(text))


def json_text(text: str) -> str:
    """A JSON document with the C1 and bidirectional controls in its strings written as
    ``\\u00HH`` (still the same JSON: these characters only occur inside strings)."""
    return _IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def echo(text: object = "", err: bool = False) -> None:
    """``click.echo`` of ``text`` with its lines kept and everything else made visible."""
    import click  # lazy: start-up time (a run's display writes its stream itself)

    click.echo(lines(text), err=err)
