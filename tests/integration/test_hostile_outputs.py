"""Hostile and huge outputs never hurt the runner: each fails its own case with a reason
naming the file, and the other cases go on; tails shown of any output are bounded and
printable. Real runs of ``assay`` (a hang is caught by the run's timeout)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from assay.compare.binary import MAX_OUTPUT_BYTES

BIG = MAX_OUTPUT_BYTES + 1  # (sparse: made at once, no disk used)

_TESTS = f"""
import assay


class Ok(assay.Test):
    command = "echo fine"

    def sanity(self, out):
        out.expect("fine")


class Huge(assay.Test):
    command = "truncate -s {BIG} big.txt; echo done"

    def sanity(self, out):
        out.expect("x", "big.txt")


class Fifo(assay.Test):
    command = "mkfifo pipe.txt"

    def sanity(self, out):
        out.expect("x", "pipe.txt")


class Zero(assay.Test):
    command = "ln -s /dev/zero zero.txt"

    @assay.metric("MB/s")
    def speed(self, out):
        return out.extract(r"(\\d+)", float, where="zero.txt")
"""


def test_a_huge_fifo_or_device_output_fails_its_case_and_the_others_go_on(
    assay_cli, write, tmp_path: Path
) -> None:
    write("test_outputs.py", _TESTS)
    result = assay_cli("run", "test_outputs.py", "--plain", timeout=120)
    assert result.code == 1, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert result.case("Ok")["status"] == "passed"
    reasons = {}
    for name in ("Huge", "Fifo", "Zero"):
        case = result.case(name)
        assert case["status"] == "failed", case
        reasons[name] = case["failure"]["reason"]
    big = Path(result.case("Huge")["stage_dir"]) / "big.txt"
    assert f"{big} is 256 MiB ({BIG:,} bytes), more than the 256 MiB" in reasons["Huge"]
    assert "MAX_OUTPUT_BYTES" in reasons["Huge"]
    assert "pipe.txt is a FIFO, not a regular file" in reasons["Fifo"], reasons
    assert "zero.txt is a character device, not a regular file" in reasons["Zero"], reasons


def test_a_huge_json_output_fails_its_comparison_naming_the_file(
    assay_cli, write, tmp_path: Path
) -> None:
    for case in ("small", "huge"):
        (tmp_path / "cases" / case / "expected").mkdir(parents=True)
        (tmp_path / "cases" / case / "expected" / "out.json").write_text("[1]\n")
        (tmp_path / "cases" / case / "size").write_text("4" if case == "small" else str(BIG))
    write(
        "s.suite.toml",
        """
        [suite]
        name = "s"
        command = "echo '[1]' > out.json; truncate -s $(cat size) out.json"
        cases = "cases/*"

        [suite.compare]
        files = ["out.json"]
        """,
    )
    result = assay_cli("run", "s.suite.toml", "--plain", timeout=120)
    assert result.code == 1, result
    assert result.case("s[case=small]")["status"] == "passed"
    failed = result.case("s[case=huge]")
    text = str(failed["failure"]) + str(failed.get("comparisons"))
    assert f"out.json is 256 MiB ({BIG:,} bytes), more than the 256 MiB" in text, failed
    assert "Traceback" not in result.stdout + result.stderr


def test_tails_of_binary_and_endless_lines_are_bounded_and_never_obeyed(
    assay_cli, write, tmp_path: Path
) -> None:
    """An escape sequence (set the title, clear the screen), a carriage return, bytes that
    are not UTF-8 and a line of 3 MB, printed by a failing case: the summary and the JUnit
    tail show them escaped, and no line of either is longer than the cut."""
    write(
        "test_tails.py",
        r"""
        import assay


        class Noisy(assay.Test):
            command = "printf 'a\\033]0;PWNED\\007 b\\033[2J c\\rd \\377\\376\\n'; exit 3"


        class Long(assay.Test):
            command = "head -c 3000000 /dev/zero | tr '\\0' x; exit 3"
        """,
    )
    result = assay_cli("run", "test_tails.py", "--plain", "--full", "--junit", "j.xml")
    assert result.code == 1, result
    shown = result.stdout + result.stderr
    assert "\x1b" not in shown and "\r" not in shown and "\x07" not in shown
    assert r"a\x1b]0;PWNED\x07 b\x1b[2J c\x0dd \xff\xfe" in shown, shown
    longest = max(len(line) for line in shown.splitlines())
    assert longest < 1000, longest
    assert "| ...xxxx" in shown  # the end of the 3 MB line, marked as an end
    outs = [c.findtext("system-out") or "" for c in ET.parse(tmp_path / "j.xml").iter("testcase")]
    assert any(r"\x1b]0;PWNED" in out for out in outs), outs
    assert not any("\x1b" in out for out in outs)
    assert max(len(line) for out in outs for line in out.splitlines()) < 1000
    assert os.path.getsize(tmp_path / "j.xml") < 64 * 1024


def test_an_exception_as_long_as_an_output_is_cut_in_the_summary_and_report(
    assay_cli, write, tmp_path: Path
) -> None:
    """Test code that raises with a whole output as its message (10 MB): the reason and
    details are cut, so the summary and the report stay small (were 40 MB and 20 MB)."""
    write(
        "test_loud.py",
        """
        import assay


        class Loud(assay.Test):
            command = "true"

            def sanity(self, out):
                raise AssertionError("start " + "y" * 10_000_000)
        """,
    )
    result = assay_cli("run", "test_loud.py", "--plain")
    assert result.code == 1, result
    reason = result.case("Loud")["failure"]["reason"]
    assert reason.startswith("AssertionError: start yyy") and reason.endswith("more characters)")
    assert 16 * 1024 - 40 <= len(reason) <= 16 * 1024
    assert len(result.stdout + result.stderr) < 1_000_000
    assert (tmp_path / ".assay" / "latest" / "report.json").stat().st_size < 1_000_000
