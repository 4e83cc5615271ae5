"""What sanity and metric functions see: Output and its error messages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from assay.define.output import Output
from assay.errors import SanityError

STDOUT = """\
Running benchmark
Triad: 1234.5 MB/s
Copy: 987.0 MB/s
threads = 4
status: OK
"""


@pytest.fixture
def out(tmp_path: Path) -> Output:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "run.out").write_text(STDOUT)
    (stage / "run.err").write_text("warning: slow disk\n")
    (stage / "some").mkdir()
    (stage / "some" / "file.txt").write_text("checksum=0xdeadbeef\nsteps=12\n")
    return Output(stage, stage / "run.out", stage / "run.err", 0)


def test_streams_and_files(out: Output) -> None:
    assert out.stdout == STDOUT
    assert out.stderr == "warning: slow disk\n"
    assert out.file("some/file.txt").startswith("checksum=")
    assert out.exit_code == 0
    assert out.exists("some/file.txt")
    assert not out.exists("nope.txt")
    assert out.path("some/file.txt") == out.stage_dir / "some" / "file.txt"


def test_expect_returns_the_first_match(out: Output) -> None:
    match = out.expect(r"(\w+): ([\d.]+) MB/s")
    assert match.group(1) == "Triad"
    assert match.group(2) == "1234.5"


def test_expect_is_multiline(out: Output) -> None:
    assert out.expect(r"^status: OK$").group(0) == "status: OK"


def test_expect_flags(out: Output) -> None:
    assert out.expect("TRIAD", flags=re.IGNORECASE).group(0) == "Triad"
    with pytest.raises(SanityError):
        out.expect("TRIAD")


def test_expect_accepts_compiled_patterns(out: Output) -> None:
    assert out.expect(re.compile(r"Copy: (\S+)")).group(1) == "987.0"


def test_expect_failure_quotes_pattern_and_names_file(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.expect(r"Scale: (\d+)")
    message = str(info.value)
    assert r"r'Scale: (\d+)'" in message
    assert "not found in stdout" in message
    assert str(out.stage_dir / "run.out") in message


def test_expect_failure_plain_pattern_is_quoted_without_r(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.expect("PASSED")
    assert str(info.value).startswith("pattern 'PASSED' not found in stdout (")


def test_expect_in_stderr(out: Output) -> None:
    assert out.expect("slow", where="stderr").group(0) == "slow"
    with pytest.raises(SanityError) as info:
        out.expect("Triad", where="stderr")
    message = str(info.value)
    assert "'Triad'" in message
    assert "stderr" in message
    assert str(out.stage_dir / "run.err") in message


def test_expect_in_a_file(out: Output) -> None:
    assert out.expect(r"steps=(\d+)", where="some/file.txt").group(1) == "12"
    with pytest.raises(SanityError) as info:
        out.expect("missing", where="some/file.txt")
    message = str(info.value)
    assert "'missing'" in message
    assert "some/file.txt" in message
    assert str(out.stage_dir / "some" / "file.txt") in message


def test_invalid_regex_is_a_sanity_error(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.expect("(unclosed")
    assert "invalid regular expression '(unclosed'" in str(info.value)


def test_expect_not_passes_when_absent(out: Output) -> None:
    assert out.expect_not("ERROR") is None


def test_expect_not_reports_line_and_text(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.expect_not(r"threads = \d+")
    message = str(info.value)
    assert r"r'threads = \d+'" in message
    assert "found in stdout" in message
    assert str(out.stage_dir / "run.out") in message
    assert "at line 4" in message
    assert "'threads = 4'" in message


def test_expect_not_in_file(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.expect_not("steps", where="some/file.txt")
    assert "at line 2" in str(info.value)
    assert "some/file.txt" in str(info.value)


def test_count(out: Output) -> None:
    assert out.count(r"MB/s") == 2
    assert out.count(r"nothing") == 0


def test_extract_default_group_and_type(out: Output) -> None:
    value = out.extract(r"Triad: (\S+)")
    assert value == "1234.5"
    assert isinstance(value, str)


def test_extract_converts(out: Output) -> None:
    assert out.extract(r"Triad: (\S+)", float) == 1234.5
    assert out.extract(r"threads = (\d+)", int) == 4


def test_extract_named_and_numbered_groups(out: Output) -> None:
    pattern = r"(?P<kernel>\w+): (?P<rate>[\d.]+) MB/s"
    assert out.extract(pattern, group="kernel") == "Triad"
    assert out.extract(pattern, float, group="rate") == 1234.5
    assert out.extract(pattern, group=0) == "Triad: 1234.5 MB/s"
    assert out.extract(pattern, group=2) == "1234.5"


def test_extract_with_custom_converter(out: Output) -> None:
    value = out.extract(r"checksum=(\S+)", lambda s: int(s, 16), where="some/file.txt")
    assert value == 0xDEADBEEF


def test_extract_bad_group_number(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract(r"Triad: (\S+)", group=3)
    message = str(info.value)
    assert r"r'Triad: (\S+)'" in message
    assert "has no group 3" in message
    assert str(out.stage_dir / "run.out") in message


def test_extract_bad_group_name(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract(r"Triad: (?P<rate>\S+)", group="speed")
    assert "has no group 'speed'" in str(info.value)


def test_extract_group_that_did_not_match(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract(r"Triad: (\S+)( extra)?", group=2)
    message = str(info.value)
    assert "group 2" in message
    assert "did not take part in the match" in message
    assert str(out.stage_dir / "run.out") in message


def test_extract_conversion_failure_names_pattern_file_line_and_type(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract(r"status: (\w+)", float)
    message = str(info.value)
    assert r"r'status: (\w+)'" in message
    assert "matched 'OK'" in message
    assert "stdout" in message
    assert str(out.stage_dir / "run.out") in message
    assert "at line 5" in message
    assert "not a valid float" in message


def test_extract_conversion_failure_in_a_file(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract(r"checksum=(\S+)", int, where="some/file.txt")
    message = str(info.value)
    assert "matched '0xdeadbeef'" in message
    assert "some/file.txt" in message
    assert "at line 1" in message
    assert "not a valid int" in message


def test_extract_not_found(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract(r"Scale: (\S+)", float)
    assert r"pattern r'Scale: (\S+)' not found in stdout" in str(info.value)


def test_extract_all(out: Output) -> None:
    assert out.extract_all(r"(\w+): ([\d.]+) MB/s") == ["Triad", "Copy"]
    assert out.extract_all(r"(\w+): ([\d.]+) MB/s", float, group=2) == [1234.5, 987.0]


def test_extract_all_none_found(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract_all(r"Scale: (\S+)", float, where="stderr")
    message = str(info.value)
    assert r"r'Scale: (\S+)'" in message
    assert "not found in stderr" in message
    assert str(out.stage_dir / "run.err") in message


def test_extract_all_conversion_failure_reports_the_line(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.extract_all(r"^(\w+)", int)
    message = str(info.value)
    assert "matched 'Running'" in message
    assert "at line 1" in message


def test_missing_file(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.file("results/data.csv")
    message = str(info.value)
    assert "file 'results/data.csv' was not produced" in message
    assert str(out.stage_dir / "results" / "data.csv") in message


def test_missing_file_in_expect(out: Output) -> None:
    with pytest.raises(SanityError, match=r"'log\.txt' was not produced"):
        out.expect("x", where="log.txt")


def test_missing_stdout(tmp_path: Path) -> None:
    out = Output(tmp_path, tmp_path / "nope.out", tmp_path / "nope.err", None)
    with pytest.raises(SanityError) as info:
        _ = out.stdout
    assert "'stdout' was not produced" in str(info.value)
    assert str(tmp_path / "nope.out") in str(info.value)


def test_directory_is_not_a_file(out: Output) -> None:
    with pytest.raises(SanityError) as info:
        out.file("some")
    assert "'some' is a directory, not a file" in str(info.value)


def test_undecodable_bytes_do_not_crash(tmp_path: Path) -> None:
    (tmp_path / "o").write_bytes(b"value=\xff\xfe 3\n")
    out = Output(tmp_path, tmp_path / "o", tmp_path / "e", 0)
    assert out.extract(r"(\d+)$", int) == 3


@pytest.mark.parametrize("pattern", [r"Scale: (\d+)", r"a\.b", "plain text", r"\d{3}\t"])
def test_pattern_in_message_reads_back_as_the_pattern(out: Output, pattern: str) -> None:
    """The quoted pattern in a message is a Python literal equal to what the test wrote."""
    with pytest.raises(SanityError) as info:
        out.expect(pattern, where="stderr")
    literal = re.match(r"pattern (r?'[^']*')", str(info.value))
    assert literal is not None, str(info.value)
    assert ast.literal_eval(literal.group(1)) == pattern


@pytest.mark.parametrize(
    "data",
    [
        b"hello\n",
        b"",
        b"dos\r\nlines\r\nand a lone\rcarriage return\r",
        b"bad utf-8 \xff\xfe here \xc3\n",
        "caf\u00e9 \u2603\n".encode(),
        b"\r\n" * 5000 + b"x" * 100_000,
    ],
)
def test_an_output_reads_as_read_text_reads_it(tmp_path: Path, data: bytes) -> None:
    # Output reads its files with fewer steps than Path.read_text: the text must be the
    # same (the locale's encoding, bad bytes replaced, universal newlines).
    (tmp_path / "out").write_bytes(data)
    out = Output(tmp_path, tmp_path / "out", tmp_path / "err", 0)
    assert out.stdout == (tmp_path / "out").read_text(errors="replace")


def test_an_output_that_is_a_directory_says_so(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    out = Output(tmp_path, tmp_path / "out", tmp_path / "err", 0)
    with pytest.raises(SanityError, match=r"'dir' is a directory, not a file"):
        out.expect("x", "dir")


def test_compared_files_lists_the_compared_outputs_that_are_files_now(tmp_path: Path) -> None:
    """What a comparison looked at and is a regular file in the stage dir (a link to one
    inside too); not a missing file, a link to nothing, a directory, a name below a file,
    nor the command's pseudo-file."""
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "a.txt").write_text("a\n")
    (stage / "to_a").symlink_to("a.txt")
    (stage / "dangling").symlink_to("nothing")
    (stage / "d").mkdir()
    out = Output(stage, stage / "o", stage / "e", 0)
    names = ["a.txt", "to_a", "dangling", "d", "gone", "a.txt/below", "(command)"]
    out.comparisons.append({"files": [{"file": n} for n in names], "extra": ["x"]})
    (stage / "x").write_text("x\n")
    assert out.compared_files() == ["a.txt", "to_a", "x"]
