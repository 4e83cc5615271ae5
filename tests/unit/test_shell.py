"""Quoting for the shell, checked by running the quoted text through a real bash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from assay.shell import UnsafeValue, comment, env_value, export, join, quote

HOME = "/home/tester"


def bash(script: str, cwd: Path) -> str:
    """Run ``script`` with bash in ``cwd`` with a known HOME; return stdout."""
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={"HOME": HOME, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OTHER": "o v"},
        capture_output=True,
        timeout=30,
        check=True,
    )
    return proc.stdout.decode()  # not text=True: that would turn a "\r" into "\n"


def through_export(value: object, cwd: Path) -> str:
    return bash(f'{export("X", value)}\nprintf %s "$X"', cwd)


def through_assignment(value: object, cwd: Path) -> str:
    return bash(f'X={env_value(value)}; printf %s "$X"', cwd)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$HOME", HOME),
        ("${HOME}", HOME),
        ("${HOME}/bin:$OTHER", f"{HOME}/bin:o v"),
        ("$HOME/x", f"{HOME}/x"),
        ("pre-${HOME}-post", f"pre-{HOME}-post"),
        ("$UNSET_VARIABLE_XYZ", ""),
        ("$$", "$"),
        ("$$HOME", "$HOME"),
        ("cost: 5$$", "cost: 5$"),
        ("a$$$HOME", f"a${HOME}"),
        ("\\$HOME", "\\" + HOME),  # the backslash is literal; it escapes nothing
    ],
)
def test_env_value_keeps_variable_references_live(
    value: str, expected: str, tmp_path: Path
) -> None:
    assert through_assignment(value, tmp_path) == expected
    assert through_export(value, tmp_path) == expected


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "two words",
        'say "hi"',
        "it's",
        "back\\slash",
        "trailing\\",
        "`whoami`",
        "$(whoami)",
        "${HOME:-x}",
        "${#HOME}",
        "$1 $? $! $@ $*",
        "a $ b",
        "ends with $",
        "*",
        "?",
        "[a-z]*",
        "~",
        "~/x",
        "a;b|c&d",
        "<in >out",
        "line1\nline2",
        "tab\there",
        "{a,b}",
        "!history",
        "",
    ],
)
def test_env_value_passes_everything_else_through_literally(value: str, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")  # something for a stray glob to match
    assert through_assignment(value, tmp_path) == value
    assert through_export(value, tmp_path) == value


def test_env_value_numbers_are_their_text(tmp_path: Path) -> None:
    assert through_export(42, tmp_path) == "42"
    assert through_export(2.5, tmp_path) == "2.5"


def test_command_substitution_is_never_executed(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    value = f"$(touch {target})`touch {target}`"
    out = through_export(value, tmp_path)
    assert out == value
    assert not target.exists()
    out = through_assignment(f"${{HOME}}/$(touch {target})", tmp_path)
    assert out == f"{HOME}/$(touch {target})"
    assert not target.exists()


def test_env_value_is_one_double_quoted_word() -> None:
    assert env_value("a b") == '"a b"'
    assert env_value('"') == '"\\""'
    assert env_value("`") == '"\\`"'
    assert env_value("\\") == '"\\\\"'
    assert env_value("$(x)") == '"\\$(x)"'
    assert env_value("$$") == '"\\$"'
    assert env_value("$HOME") == '"$HOME"'
    assert env_value("${HOME}") == '"${HOME}"'


def test_export_line_format() -> None:
    assert export("PATH_2", "x") == 'export PATH_2="x"'
    assert export("_x", "$HOME") == 'export _x="$HOME"'


@pytest.mark.parametrize("name", ["", "1X", "A-B", "A B", "X=Y", "$X", "A;rm", "é"])
def test_export_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid environment variable name") as info:
        export(name, "v")
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("word", ["plain", "two words", "it's", "$(whoami)", "*", "", "a\nb"])
def test_quote_is_one_literal_word(word: str, tmp_path: Path) -> None:
    assert bash(f"printf %s {quote(word)}", tmp_path) == word


def test_quote_accepts_non_strings() -> None:
    assert quote(3) == "3"


def test_join_keeps_word_boundaries(tmp_path: Path) -> None:
    words = ["a b", "it's", "$(whoami)", "", "*"]
    out = bash(f"printf '<%s>' {join(words)}", tmp_path)
    assert out == "<a b><it's><$(whoami)><><*>"


HOSTILE = [
    "a\nb",
    "x\ntouch PWNED\n#",
    "cr\rhere",
    "dos\r\nline",
    "esc \x1b[31mred\x1b[0m",
    "del\x7f",
    "tab\there",
    "\x01\x02\x1f",
    "'\n'",
    "\\\n\\",
    "$(touch PWNED)\n`touch PWNED`",
    "#SBATCH --wrap=touch\n#SBATCH --x",
    "\n1",  # a hex digit right after an escape stays a character of its own
    "é\nü",
]


@pytest.mark.parametrize("word", HOSTILE)
def test_a_quoted_word_with_control_characters_stays_on_one_line(word: str, tmp_path: Path) -> None:
    quoted = quote(word)
    assert "\n" not in quoted and "\r" not in quoted and "\x1b" not in quoted
    assert bash(f"printf %s {quoted}", tmp_path) == word
    assert bash(f"printf '<%s>' {join([word, 'x y'])}", tmp_path) == f"<{word}><x y>"
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("value", [*HOSTILE, "$HOME\n$$\n${HOME}"])
def test_an_env_value_with_control_characters_stays_on_one_line(value: str, tmp_path: Path) -> None:
    line = export("X", value)
    assert "\n" not in line and "\r" not in line
    expected = value.replace("${HOME}", HOME).replace("$HOME", HOME).replace("$$", "$")
    assert through_export(value, tmp_path) == expected
    assert not (tmp_path / "PWNED").exists()


def test_bytes_that_are_not_utf8_pass_through_as_bytes(tmp_path: Path) -> None:
    raw = b"a\xffb\n\xfe"
    word = raw.decode("utf-8", "surrogateescape")  # how Python holds such a path
    quoted = quote(word)
    assert quoted.isprintable()
    out = subprocess.run(
        ["bash", "-c", f"printf %s {quoted}"], capture_output=True, check=True
    ).stdout
    assert out == raw


def test_nul_is_refused_not_truncated() -> None:
    with pytest.raises(UnsafeValue, match="NUL"):
        quote("a\0b")
    with pytest.raises(UnsafeValue, match="NUL"):
        export("X", "a\0b")


def test_a_comment_shows_control_characters_and_stays_one_line(tmp_path: Path) -> None:
    text = comment("T[v=x\ntouch PWNED\n#]\r\0\x1b")
    assert text == "T[v=x\\x0atouch PWNED\\x0a#]\\x0d\\x00\\x1b"
    bash(f"# {text}\necho ok", tmp_path)
    assert not (tmp_path / "PWNED").exists()
