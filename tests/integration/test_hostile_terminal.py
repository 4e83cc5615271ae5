"""What a test, a user's argument or a stored tree names reaches the terminal shown, never
obeyed: an OSC 52 clipboard write, a screen clear, a carriage return, a C1 CSI or a
bidirectional override in a parameter value, a metric name, a load error, a file name in a
stored tree or a version's message comes out escaped in every command's output."""

from __future__ import annotations

import json
import re

from tests.conftest import CliResult, run_on_terminal

# OSC 52 (set the clipboard), BEL, CSI 2J (clear the screen), CR, C1 CSI, right-to-left override
EVIL = "A\x1b]52;c;ZXZpbA==\x07B\x1b[2JC\rD\x9b31mE\u202eF"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
PAYLOADS = ("\x1b]52", "\x1b[2J", "\x9b", "\u202e", "C\rD")

TESTS = f"""
import assay

EVIL = {EVIL!r}


class Evil(assay.Test):
    v = assay.parameter([EVIL, "ok"])
    tags = {{"t" + EVIL}}
    command = "echo hi"

    @assay.metric("s" + EVIL)
    def rate(self, out):
        return 1.0
"""

BROKEN = f"import assay\n\nraise RuntimeError({EVIL!r})\n"


def _clean(text: str) -> None:
    """No raw control character (tab and newline aside) in ``text``."""
    found = RAW.findall(text)
    assert not found, f"raw control characters {found!r} in:\n{text}"


def _clean_result(result: CliResult) -> None:
    _clean(result.stdout)
    _clean(result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result


def test_list_shows_hostile_values_tags_and_load_errors_escaped(assay_cli, write):
    write("test_evil.py", TESTS)
    write("test_broken.py", BROKEN)
    result = assay_cli("list", ".", "-v")
    assert result.code == 1, result  # a test file failed to load
    _clean_result(result)
    assert "Evil[v=A\\x1b]52;c;ZXZpbA==\\x07B\\x1b[2JC\\x0dD\\x9b31mE\\u202eF]" in result.stdout
    assert "tags: tA\\x1b]52" in result.stdout
    assert "RuntimeError: A\\x1b]52" in result.stderr
    listed = assay_cli("list", ".", "--json")
    _clean(listed.stdout)
    assert json.loads(listed.stdout)["cases"][0]["name"].startswith(f"Evil[v={EVIL}]")


def test_history_and_compare_json_escape_c1_and_bidi_controls(assay_cli, write, tmp_path):
    write("test_evil.py", TESTS)
    for _ in range(2):
        assert assay_cli("run", "test_evil.py", "--plain").code == 0
    for args in (("history",), ("history", "--json"), ("compare",), ("compare", "--json")):
        result = assay_cli(*args)
        assert result.code == 0, result
        _clean_result(result)
    _clean((tmp_path / ".assay" / "latest" / "summary.txt").read_text())  # cat in CI logs
    history = json.loads(assay_cli("history", "--json").stdout)
    names = [h["name"] for h in history["cases"]]
    assert f"Evil[v={EVIL}] @local:default+builtin" in names, names


def test_a_hostile_argument_in_an_error_or_a_usage_error_is_escaped(assay_cli, tmp_path):
    for args in (("run", EVIL), ("history", EVIL), ("store", "show", EVIL), ("compare", EVIL)):
        result = assay_cli(*args)
        assert result.code == 2, result
        _clean_result(result)
        assert "\\x1b]52" in result.stderr or args[0] == "compare", result


def test_store_show_and_ls_escape_names_of_stored_files_and_messages(assay_cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok").write_text("a")
    (src / f"f{EVIL}").write_text("hi")
    assert assay_cli("store", "put", "data", str(src), "-m", f"m{EVIL}").code == 0
    (src / f"g{EVIL}").write_text("more")
    put = assay_cli("store", "put", "data", str(src), "-m", f"n{EVIL}")
    assert put.code == 0, put
    for args in (
        ("store", "ls"),
        ("store", "show", "data"),
        ("store", "show", "data", "--files"),
        ("store", "show", "data", "--diff", "@1"),
    ):
        result = assay_cli(*args)
        assert result.code == 0, result
        _clean_result(result)
    files = assay_cli("store", "show", "data", "--files").stdout
    assert "gA\\x1b]52;c;ZXZpbA==\\x07B\\x1b[2JC\\x0dD\\x9b31mE\\u202eF" in files


def test_the_live_display_and_list_on_a_terminal_draw_no_hostile_sequence(write, tmp_path):
    write("test_evil.py", TESTS)
    for args in (("run", "test_evil.py"), ("list", "test_evil.py", "-v"), ("history",)):
        code, screen = run_on_terminal(*args, cwd=tmp_path)
        assert code == 0, screen
        for payload in PAYLOADS:
            assert payload not in screen, (args, payload, screen)


def test_an_html_report_of_cases_named_with_control_characters_is_written(assay_cli, write):
    # The slowest-cases plot labels each bar with the case's name: a BEL in it made the SVG
    # not XML and `--html` an internal error.
    write("test_evil.py", TESTS)
    result = assay_cli("run", "test_evil.py", "--plain", "--html", "report.html")
    assert result.code == 0, result
    _clean_result(result)
    page = (result.cwd / "report.html").read_text()
    assert "<svg" in page and "<script" not in page


def test_the_list_of_failed_cases_in_a_log_shows_a_newline_in_a_name_escaped(assay_cli, write):
    """The wrapped list (a pipe, --plain, summary.txt) turned a name's newline or carriage
    return into a space: 'Bad[v=a b]' could not be told from the case 'Bad[v=a b]' nor
    matched with the name every other line shows ('a\\x0ab')."""
    write(
        "test_bad.py",
        """
        import assay


        class Bad(assay.Test):
            v = assay.parameter(["a\\nb", "c\\rd", "e\\x0bf"])
            command = "exit 3"
        """,
    )
    result = assay_cli("run", "test_bad.py", "--plain")
    assert result.code == 1, result
    listed = result.stdout[result.stdout.index("failed (3)") :]
    for shown in ("Bad[v=a\\x0ab]", "Bad[v=c\\x0dd]", "Bad[v=e\\x0bf]"):
        assert shown in listed, listed
    summary = (result.cwd / ".assay" / "latest" / "summary.txt").read_text()
    assert "Bad[v=a\\x0ab]" in summary[summary.index("failed (3)") :]
