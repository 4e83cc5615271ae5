"""`assay report SESSION`: a session id that names none is answered with the newest ids,
newest first (what a user most likely meant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import UsageError
from assay.results.html import find_session


def test_an_unknown_session_lists_the_newest_ids_newest_first(tmp_path: Path) -> None:
    for name in ("20261201-090000-aaaa", "20261202-070000-bbbb", "20261202-080000-cccc",
                 "20261130-120000-dddd"):  # fmt: skip
        (tmp_path / "runs" / name).mkdir(parents=True)
    with pytest.raises(UsageError) as raised:
        find_session(tmp_path, "2025")
    assert raised.value.hint == (
        "the newest are, newest first: 20261202-080000-cccc, 20261202-070000-bbbb, "
        "20261201-090000-aaaa"
    )
    assert find_session(tmp_path, "20261202-07") == tmp_path / "runs" / "20261202-070000-bbbb"
