"""read_whole looks at the file it reads once: the fstat that finds it a regular file also
gives its size (a stat result is ~6,500 instructions, and every case reads its outputs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.compare import binary


def _counting_fstat(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = os.fstat

    def fstat(fd: int) -> os.stat_result:
        seen.append(fd)
        return real(fd)

    monkeypatch.setattr(binary.os, "fstat", fstat)
    return seen


def test_a_file_read_whole_is_looked_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "out.txt"
    path.write_bytes(b"hello\n")
    seen = _counting_fstat(monkeypatch)
    assert binary.read_whole(str(path)) == b"hello\n"
    fd = os.open(path, os.O_RDONLY)
    assert binary.read_whole(str(path), fd=fd) == b"hello\n"  # (closed by it)
    assert len(seen) == 2  # one per read


def test_what_is_too_large_or_no_file_is_still_refused(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="100 bytes"):
        binary.read_whole(str(path), cap=10)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"(?i)fifo"):
        binary.read_whole(str(fifo))
