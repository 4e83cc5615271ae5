"""Every read of a case's output is bounded: whole reads stop at MAX_OUTPUT_BYTES, a FIFO
or device is refused at once, tails are cut and escaped. Real files, FIFOs and /dev/zero."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.compare import compare_files
from assay.compare.binary import MAX_OUTPUT_BYTES, read_whole
from assay.define.output import Output
from assay.errors import SanityError
from assay.files import TAIL_LINE, tail
from assay.results.model import MAX_DETAILS, MAX_REASON, Failure
from assay.run.input_hints import tails
from tests.unit.fifo_guard import without_waiting


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:  # (no disk used: a hole)
        fh.truncate(size)
    return path


def _output(stage: Path) -> Output:
    return Output(stage, stage / "assay-run.out", stage / "assay-run.err", 0)


def test_a_file_past_the_cap_is_refused_naming_it_its_size_and_the_cap(tmp_path: Path) -> None:
    big = _sparse(tmp_path / "big.txt", MAX_OUTPUT_BYTES + 1)
    with pytest.raises(ValueError) as info:
        read_whole(str(big))
    assert str(info.value).startswith(
        f"{big} is 256 MiB ({MAX_OUTPUT_BYTES + 1:,} bytes), more than the 256 MiB assay reads "
        "of one output file (MAX_OUTPUT_BYTES): have the case write less there"
    )


def test_a_file_at_the_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    assert read_whole(str(path), cap=10) == b"0123456789"
    with pytest.raises(ValueError, match=r"10 bytes \(10 bytes\), more than the 9 bytes"):
        read_whole(str(path), cap=9)


def test_sanity_of_a_huge_output_fails_with_that_reason(tmp_path: Path) -> None:
    _sparse(tmp_path / "assay-run.out", MAX_OUTPUT_BYTES + 1)
    with pytest.raises(SanityError, match=r"cannot read 'stdout': .*assay-run.out is 256 MiB"):
        _output(tmp_path).expect("anything")


def test_sanity_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    raised = without_waiting(tmp_path / "pipe", lambda: _output(tmp_path).file("pipe"))
    assert isinstance(raised, SanityError)
    assert str(raised) == f"cannot read 'pipe': {tmp_path}/pipe is a FIFO, not a regular file"


def test_sanity_refuses_a_link_to_dev_zero(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "zero")
    with pytest.raises(SanityError, match="zero is a character device, not a regular file"):
        _output(tmp_path).count("x", "zero")


def test_a_directory_is_still_said_to_be_one(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(SanityError, match=r"'dir' is a directory, not a file"):
        _output(tmp_path).file("dir")


@pytest.mark.parametrize("name", ["out.json", "out.csv"])
def test_a_parsed_comparison_of_a_huge_file_fails_naming_it(tmp_path: Path, name: str) -> None:
    (tmp_path / "expected").mkdir()
    (tmp_path / "actual").mkdir()
    (tmp_path / "expected" / name).write_text("[1]\n")
    big = _sparse(tmp_path / "actual" / name, MAX_OUTPUT_BYTES + 1)
    verdict = compare_files(str(tmp_path / "expected" / name), str(big))
    assert not verdict["ok"]
    assert f"{big} is 256 MiB" in str(verdict), verdict


def test_a_tail_of_a_fifo_or_device_is_none_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    os.symlink("/dev/zero", tmp_path / "zero")
    got: list[object] = []
    pipe = tmp_path / "pipe"
    assert without_waiting(pipe, lambda: got.append(tail(pipe))) is None
    assert without_waiting(pipe, lambda: got.append(tails([pipe]))) is None
    assert got == [None, []]
    assert tail(tmp_path / "zero") is None


def test_a_tail_is_printable_and_each_line_cut(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"x" * 5000 + b"\n\x1b]52;c;AAAA\x07 \x1b[2J\r\xff\ttab\n")
    shown = tail(path)
    assert shown is not None
    first, second = shown.split("\n")
    assert first == "x" * TAIL_LINE + f"... ({5000 - TAIL_LINE:,} more characters)"
    assert second == r"\x1b]52;c;AAAA\x07 \x1b[2J\x0d\xff" + "\ttab"


def test_the_tail_of_one_endless_line_is_its_end_bounded(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"a" * 1_000_000 + b"THE END")
    shown = tail(path)
    assert shown == "..." + ("a" * 1_000_000 + "THE END")[-TAIL_LINE:]


def test_a_failure_reason_and_details_are_cut_once() -> None:
    long = "r" * 100_000
    failure = Failure("sanity", long, long * 10)
    assert MAX_REASON - 40 <= len(failure.reason) <= MAX_REASON
    assert MAX_DETAILS - 40 <= len(failure.details or "") <= MAX_DETAILS
    assert failure.reason.endswith(f"... ({100_000 - MAX_REASON + 40:,} more characters)")
    assert Failure("sanity", failure.reason, failure.details) == failure
    assert Failure("run", "short", None) == Failure("run", "short")


def test_a_file_that_grows_past_the_cap_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file was small when looked at and grew since (a process the case left behind
    still writes it): the read stops just past the cap. A fake fstat injects the old size
    (a real writer cannot be made to land between the look and the read on demand)."""
    path = tmp_path / "growing"
    path.write_bytes(b"g" * 1000)
    real_fstat = os.fstat

    def fstat_seen_before_it_grew(fd: int) -> os.stat_result:
        st = list(real_fstat(fd))
        st[6] = 10  # st_size
        return os.stat_result(st)

    monkeypatch.setattr("assay.compare.binary.os.fstat", fstat_seen_before_it_grew)
    with pytest.raises(ValueError, match=r"growing is 51 bytes \(51 bytes\), more than the 50"):
        read_whole(str(path), cap=50)
