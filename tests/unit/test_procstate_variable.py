"""procstate.variable reads os.environ's own dict and answers as os.environ.get does."""

from __future__ import annotations

import os

import pytest

from assay import procstate


def test_a_variable_reads_as_os_environ_get(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_TEST_SET", "a value")
    monkeypatch.setenv("ASSAY_TEST_EMPTY", "")
    monkeypatch.delenv("ASSAY_TEST_UNSET", raising=False)
    # Not UTF-8: os.environ decodes it with surrogateescape.
    monkeypatch.setitem(os.environ, "ASSAY_TEST_BYTES", os.fsdecode(b"caf\xe9"))
    for name in ("ASSAY_TEST_SET", "ASSAY_TEST_EMPTY", "ASSAY_TEST_UNSET", "ASSAY_TEST_BYTES"):
        assert procstate.variable(name) == os.environ.get(name), name
    os.environ["ASSAY_TEST_SET"] = "changed"  # later changes are seen
    assert procstate.variable("ASSAY_TEST_SET") == "changed"
    del os.environ["ASSAY_TEST_SET"]
    assert procstate.variable("ASSAY_TEST_SET") is None
