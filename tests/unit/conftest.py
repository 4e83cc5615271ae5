"""Fixtures shared by unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.compare_cases import Case, make_case


@pytest.fixture
def case(tmp_path: Path) -> Case:
    """Write an expected and an actual tree and compare them (see ``make_case``)."""
    return make_case(tmp_path)
