"""Writing job scripts that sbatch reads exactly as written.

sbatch takes options from ``#SBATCH`` (and ``#SLURM``) lines until the first line that is
a command, and splits each such line into words with its own rules: a word ends at blank
space unless quoted ('...' or "..."), a backslash makes the next character literal (in
quotes too), an unquoted ``#`` starts a comment, and nothing can hold a newline. Shell
quoting is therefore the wrong quoting for a directive (``shlex.quote`` keeps a
backslash literal inside single quotes; sbatch does not), and a value with a newline in a
directive would end it, put the rest of the value on a line of its own (a command when the
script runs, and the end of the directives for sbatch).

So: :func:`directive` writes one option as sbatch parses it and refuses what no
directive can hold, and :func:`compose` joins a script's lines and checks that the
directives sbatch will read are exactly the ones written, all of them before the first
command. Values that only a file or the command line can carry exactly (paths, names)
are not written as directives at all: the Slurm scheduler passes them to sbatch as
arguments (no shell, no directive parser).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from assay import shell
from assay.schedulers.base import SchedulerError
from assay.shell import CONTROL

DIRECTIVE_WORDS = ("#SBATCH", "#SLURM")
assert all(word.startswith("#S") for word in DIRECTIVE_WORDS)  # compose's quick test
"""The line prefixes sbatch reads options from (Slurm 22.05, src/sbatch/opt.c)."""


_BARE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


class ScriptError(SchedulerError):
    """A job script that sbatch would not read as written (the message says what to fix)."""


def directive(option: str, value: object | None = None, *, what: str = "") -> str:
    """``#SBATCH --option="value"``, quoted for sbatch's own parser; ``what`` names the
    setting the value came from, for the error when it cannot be written."""
    if value is None:
        return f"#SBATCH --{option}"
    return f"#SBATCH --{option}={sbatch_word(str(value), what or f'--{option}')}"


def sbatch_word(text: str, what: str) -> str:
    """One word of a directive: as it is if it has no blank, quote, backslash or ``#``;
    else in double quotes, ``\\`` and ``"`` escaped with a backslash (which sbatch
    applies inside quotes too)."""
    bad = CONTROL.search(text)
    if bad is not None:
        raise ScriptError(
            f"{what}: {text!r} holds the control character {bad.group(0)!r}, which no "
            f"#SBATCH line can carry; remove it"
        )
    if _BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_directives(text: str) -> list[str]:
    """The lines of ``text`` that sbatch reads as options: those that start with
    ``#SBATCH`` or ``#SLURM``, up to the first line with a command."""
    found = []
    for line in text.split("\n"):
        if line.startswith(DIRECTIVE_WORDS):
            found.append(line)
            continue
        stripped = line.lstrip(" \t\n\v\f\r")  # C's isspace(): blanks and comments go on
        if stripped and not stripped.startswith("#"):
            break
    return found


def compose(lines: Sequence[str]) -> str:
    """Join a script's lines; refuse a script that sbatch would read differently: a
    directive line that is not where sbatch reads directives (after a command), a line
    of text that reads as a directive without being one, a NUL, or a Windows line
    ending in a job script (which sbatch refuses)."""
    text = "\n".join(lines) + "\n"
    if "#S" not in text:  # what every directive word starts with (checked at import)
        # No directive anywhere, none to misplace (a local job's script, usually).
        written: list[str] = []
    else:
        written = _directive_check(lines, text)
    if "\0" in text:
        raise ScriptError("a command of the case holds a NUL character; remove it")
    if written and "\r\n" in text:
        raise ScriptError(
            "a command of the case ends a line with a Windows line ending (\\r\\n), "
            "which sbatch refuses; remove the \\r"
        )
    return text


def _directive_check(lines: Sequence[str], text: str) -> list[str]:
    """The directive lines of a script, refused where sbatch would read them otherwise."""
    written = [line for line in lines if line.startswith(DIRECTIVE_WORDS)]
    for line in written:
        if CONTROL.search(line):
            raise ScriptError(f"a directive holds a control character: {line!r}")
    read = read_directives(text)
    if read != written:
        extra = [line for line in read if line not in written]
        missed = [line for line in written if line not in read]
        raise ScriptError(
            "the job script would not be read as written: "
            + (f"{extra[0]!r} would be read as a directive" if extra else "")
            + (f"{missed[0]!r} comes after a command" if missed and not extra else "")
        )
    return written


def compare_step(
    python: str, engine: PurePosixPath, compare: tuple[PurePosixPath, PurePosixPath]
) -> str:
    """The footer line of a job that compares its outputs where they are: the shipped
    engine reads the spec and writes the verdict, when the command succeeded."""
    spec_file, verdict = (shell.quote(p) for p in compare)
    return (
        f'[ "$assay_status" -eq 0 ] && {shell.quote(python)} -I {shell.quote(engine)} '
        f"{spec_file} -o {verdict} >/dev/null 2>&1"
    )
