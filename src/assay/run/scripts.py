"""The build and run scripts of a case: plain bash, every value quoted, runnable by hand.

Every value is quoted onto its own line (a newline in a value is written ``$'\\x0a'``),
the case's name goes into a comment with its control characters shown as escapes, and
the scheduler's header comes first: whatever a value holds, the script has the lines it
was written with, and its directives come before its first command (checked as it is
written, :func:`assay.schedulers.jobscript.compose`).
"""

from __future__ import annotations

import functools
import locale
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import PurePath, PurePosixPath

from assay import planted, shell
from assay.config import Environment, Partition
from assay.modules import module_lines
from assay.schedulers.base import STATUS_SUFFIX
from assay.schedulers.jobscript import compose
from assay.schedulers.local_exec import root_lines

BUILD_SCRIPT = "assay-build.sh"
BUILD_OUT = "assay-build.out"
BUILD_ERR = "assay-build.err"
RUN_SCRIPT = "assay-run.sh"
RUN_OUT = "assay-run.out"
RUN_ERR = "assay-run.err"
PYTHON_OUT = "assay-python.out"  # what the test's Python code printed (hooks, sanity...)
OWN_FILES = (BUILD_SCRIPT, BUILD_OUT, BUILD_ERR, RUN_SCRIPT, RUN_OUT, RUN_ERR, PYTHON_OUT)
COMPARE_SPEC = "assay-compare.json"  # a comparison to make in the job, and its verdict
COMPARE_VERDICT = "assay-verdict.json"
ASSAY_FILES = (
    *OWN_FILES,
    *(f"{name}{STATUS_SUFFIX}" for name in (BUILD_OUT, RUN_OUT)),
    COMPARE_SPEC,
    COMPARE_VERDICT,
)


_NOTHING: Mapping[str, str | None] = {}  # (a default: never changed)


@functools.cache
def _encoding() -> str:
    """What ``Path.write_text`` encodes with (the locale's, or UTF-8 in UTF-8 mode)."""
    return "utf-8" if sys.flags.utf8_mode else locale.getencoding()


def write(path: PurePath, text: str) -> None:
    """Write a script as ``Path.write_text`` would (created with mode 0666 less the umask;
    the locale's encoding), without a text file object per script: one ``open``,
    ``write`` and ``close`` for every case. Always a new file: what an earlier job (the
    build) left at the name, such as a link to a file elsewhere, is removed, never
    written through (:func:`assay.planted.create`)."""
    data = memoryview(text.encode(_encoding()))
    fd = planted.create(path)
    try:
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


"""Every file assay itself may put in a stage dir (none of them is an output of the test)."""


def assay_name(name: str) -> bool:
    """Whether a stage dir's top-level ``name`` is assay's to write (``assay-*``, which
    :data:`ASSAY_FILES` are, and ``.assay-*``: the fetcher of ``store_remote`` and its
    lists): staged sources must not hold one, or assay's writes would go through it."""
    return name.startswith(("assay-", ".assay-"))


# The first word of a command that may replace the shell: a plain program name or path.
_PROGRAM = re.compile(r"[A-Za-z0-9_./+][A-Za-z0-9_./+-]*")
# Words bash runs itself (no process to save; ``exec`` would run another program or fail).
_SHELL_WORDS = frozenset(
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "case",
        "esac",
        "for",
        "select",
        "while",
        "until",
        "do",
        "done",
        "in",
        "function",
        "time",
        "coproc",
        "{",
        "}",
        "!",
        "[[",
        "]]",
        ".",
        ":",
        "[",
        "alias",
        "bg",
        "bind",
        "break",
        "builtin",
        "caller",
        "cd",
        "command",
        "compgen",
        "complete",
        "compopt",
        "continue",
        "declare",
        "dirs",
        "disown",
        "echo",
        "enable",
        "eval",
        "exec",
        "exit",
        "export",
        "false",
        "fc",
        "fg",
        "getopts",
        "hash",
        "help",
        "history",
        "jobs",
        "kill",
        "let",
        "local",
        "logout",
        "mapfile",
        "popd",
        "printf",
        "pushd",
        "pwd",
        "read",
        "readarray",
        "readonly",
        "return",
        "set",
        "shift",
        "shopt",
        "source",
        "suspend",
        "test",
        "times",
        "trap",
        "true",
        "type",
        "typeset",
        "ulimit",
        "umask",
        "unalias",
        "unset",
        "wait",
    ]
)


@functools.lru_cache(maxsize=256)  # the variants of a test share their command
def _last_command(command: str, plain: bool) -> str:
    """The command as the last line of a script. A simple command that runs a program
    replaces the shell (``exec``), so a case costs one process start, not two, and the
    shell's status is the program's own; anything else is written as it is.

    ``plain``: nothing ran before it that could set a trap or define a function (no
    prerun lines). Even then a function exported to the environment may carry the
    program's name; the script checks (``declare -F`` is a builtin: no process).
    """
    if not plain or "\n" in command or "#" in command:
        return command
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    try:
        words = list(lexer)
    except ValueError:  # an unbalanced quote: bash will say what is wrong
        return command
    if not words or any(w and set(w) <= set(lexer.punctuation_chars) for w in words):
        return command  # a list, pipe, redirection or subshell: several things to run
    first = words[0]
    if first in _SHELL_WORDS or _PROGRAM.fullmatch(first) is None or first != command.split()[0]:
        return command
    return f"if declare -F {first} >/dev/null; then {command}; else exec {command}; fi"


# A word bash reads as itself: no quotes, expansions, globs, braces, tildes or operators.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:,+@%=-]+")


def direct_command(
    command: str,
    env_config: Environment,
    partition: Partition,
    test_env: Mapping[str, str],
    prerun: Iterable[str],
    postrun: Iterable[str],
    footer: Iterable[str],
    inherited: Mapping[str, str | None] = _NOTHING,
) -> tuple[list[str], dict[str, str]] | None:
    """What the run script :func:`run_script` writes for these values does, as (argv of the
    one program it runs, the variables it exports), when that is all it does: no module or
    prerun lines, nothing after the command, variables without ``$`` references, and a
    command of plain words whose first is a program (:func:`_last_command` would ``exec``
    it). A local job then starts the program itself, without bash. None: bash runs it."""
    if list(prerun) or list(postrun) or list(footer) or env_config.prerun or partition.prerun:
        return None
    if _module_lines(env_config):
        return None
    words = command.split(" ")
    if not all(_PLAIN_WORD.fullmatch(word) for word in words):
        return None
    first = words[0]
    if first in _SHELL_WORDS or "=" in first or _PROGRAM.fullmatch(first) is None:
        return None
    variables = {**env_config.exports(), **partition.variables, **test_env}
    values = {name: str(value) for name, value in variables.items()}
    if any("$" in value for value in values.values()):
        return None  # bash expands ``$NAME`` references (:func:`shell.env_value`)
    if inherited:
        kept = {k: v for k, v in inherited.items() if shell.valid_name(k)}
        if any(v is None for v in kept.values()):
            return None  # a variable the script unsets: bash's job
        values = {**{k: v for k, v in kept.items() if v is not None}, **values}
    return words, values


# An environment's module lines, by the environment object (a frozen struct of the
# session's config, with lists in it: not hashable). Every case asks twice; working them
# out costs six Python calls each time. The entry holds the object, so its id stays its own.
_MODULE_LINES: dict[int, tuple[Environment, list[str]]] = {}


def _module_lines(env: Environment) -> list[str]:
    """:func:`assay.modules.module_lines`, worked out once per environment (do not change
    the list)."""
    cached = _MODULE_LINES.get(id(env))
    if cached is None or cached[0] is not env:
        if len(_MODULE_LINES) >= 64:  # many configs in one process (tests): start over
            _MODULE_LINES.clear()
        cached = _MODULE_LINES[id(env)] = (env, module_lines(env))
    return cached[1]


@functools.lru_cache(maxsize=4096)
def _export_text(name: str, value: str) -> str:
    return shell.export(name, value)


def _export(name: str, value: object) -> str:
    """:func:`assay.shell.export`, worked out once per name and text: every case of a test
    exports the same variables (a line that cannot be written raises every time)."""
    if type(value) is str:
        return _export_text(name, value)
    return shell.export(name, value)


def inherited_lines(inherited: Mapping[str, str | None]) -> list[str]:
    """The case's test code's changes to assay's ``os.environ`` (None: removed), as the
    job would have inherited them: literal values, below everything the script sets. A
    name bash cannot export is left out (the job never sees such a variable from bash)."""
    lines = []
    for name, value in inherited.items():
        if not shell.valid_name(name):
            continue
        lines.append(f"unset {name}" if value is None else f"export {name}={shell.quote(value)}")
    return lines


def _environment_lines(
    stage_dir: PurePosixPath,
    env_config: Environment,
    partition: Partition,
    test_env: Mapping[str, str],
    prerun: Iterable[str],
    inherited: Mapping[str, str | None],
) -> list[str]:
    lines = [f"cd {shell.quote(stage_dir)} || exit 97"]
    lines += inherited_lines(inherited)
    # Modules first: the environment's and the partition's variables win over theirs.
    lines += _module_lines(env_config)
    variables = {**env_config.exports(), **partition.variables, **test_env}
    lines += [_export(name, value) for name, value in variables.items()]
    lines += list(env_config.prerun) + list(partition.prerun) + list(prerun)
    return lines


def build_script(
    title: str,
    stage_dir: PurePosixPath,
    env_config: Environment,
    partition: Partition,
    test_env: Mapping[str, str],
    commands: Iterable[str],
    header: Iterable[str] = (),
    footer: Iterable[str] = (),
    protect_inputs: bool = False,
    inherited: Mapping[str, str | None] = _NOTHING,
) -> str:
    """A script that runs the build commands in order and stops at the first failure;
    ``protect_inputs`` when the stage dir holds read-only links into the store;
    ``inherited``: see :func:`inherited_lines`."""
    lines = ["#!/bin/bash", *header, f"# assay build: {shell.comment(title)}"]
    lines += root_lines(protect_inputs)
    body = _environment_lines(stage_dir, env_config, partition, test_env, (), inherited)
    for command in commands:
        body += [command, _entry_check(command)]
    after = list(footer)
    if not after:
        return compose([*lines, "set -e", *_NAME_FAILED, *body])
    lines += ["(", "set -e", *_NAME_FAILED, *body, ")", "assay_status=$?", *after]
    return compose([*lines, "exit $assay_status"])


# The build stops at its first failing command; these lines say which one it was, as the
# last line of the build's stderr (the failure's reason quotes it: failed_build_command).
# BASH_COMMAND is the failing simple command as written; its newlines become spaces.
FAILED_MARK = "assay: build command failed"
_NAME_FAILED = (
    "_assay_failed() { printf '%s (%s): %s\\n' "
    f"'{FAILED_MARK}' \"exit code $1\" \"${{BASH_COMMAND//$'\\n'/ }}\" >&2; }}",
    "trap '_assay_failed $?' ERR",
)
_SHOWN_COMMAND = 200  # characters of the command quoted in the reason


def _entry_check(command: str) -> str:
    """The line after a build entry that ends the build when the entry's status is not 0.

    set -e (and the ERR trap) ignore a failure that is not the last of an `&&` or `||` list:
    an entry `make && make install` whose make fails would go on to the next entry, and a
    build whose last entry passes would pass."""
    shown = shell.quote(" ".join(command.split()))
    return (
        f"_assay_s=$?; if [ \"$_assay_s\" != 0 ]; then printf '%s (%s): %s\\n' "
        f'\'{FAILED_MARK}\' "exit code $_assay_s" {shown} >&2; exit "$_assay_s"; fi'
    )


_SYNTAX_ERROR = re.compile(rf"{re.escape(BUILD_SCRIPT)}: line (\d+): syntax error")


def failed_build_command(stderr_tail: str, script: str) -> str | None:
    """What a build stopped at, as the failure's reason ends: `` from `make -j4` `` from the
    last line :data:`_NAME_FAILED` wrote to the end of its stderr, or the line of
    ``script`` (the build script's text) bash found a syntax error in; None when neither
    is there (an ``exit N``, a killed build). Control characters are dropped: the reason
    is one line of a terminal."""
    for line in reversed(stderr_tail.splitlines()):
        if line.startswith(FAILED_MARK + " ("):
            command = line.partition("): ")[2]
            return f" from `{_shown(command)}`" if command.strip() else None
        syntax = _SYNTAX_ERROR.search(line)
        if syntax is not None:
            lines = script.splitlines()
            number = int(syntax.group(1))
            if 0 < number <= len(lines) and lines[number - 1].strip():
                shown = _shown(lines[number - 1])
                return f": a shell syntax error in `{shown}` (check its quoting)"
            return None
    return None


def _shown(command: str) -> str:
    command = "".join(c if c.isprintable() else " " for c in command).strip()
    if len(command) > _SHOWN_COMMAND:
        command = command[: _SHOWN_COMMAND - 3] + "..."
    return command


def run_script(
    title: str,
    header: Iterable[str],
    stage_dir: PurePosixPath,
    env_config: Environment,
    partition: Partition,
    test_env: Mapping[str, str],
    prerun: Iterable[str],
    command: str,
    postrun: Iterable[str],
    footer: Iterable[str] = (),
    protect_inputs: bool = False,
    inherited: Mapping[str, str | None] = _NOTHING,
) -> str:
    """A script that runs the (launched) command; its exit code is the command's;
    ``protect_inputs`` when the stage dir holds read-only links into the store;
    ``inherited``: see :func:`inherited_lines`."""
    lines = ["#!/bin/bash", *header, f"# assay run: {shell.comment(title)}"]
    lines += root_lines(protect_inputs)
    prerun = list(prerun)
    lines += _environment_lines(stage_dir, env_config, partition, test_env, prerun, inherited)
    after = [*postrun, *footer]
    if after:
        lines += [command, "assay_status=$?", *after, "exit $assay_status"]
    else:
        plain = not (prerun or env_config.prerun or partition.prerun)
        lines.append(_last_command(command, plain))
    return compose(lines)
