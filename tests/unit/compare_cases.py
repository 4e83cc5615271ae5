"""Helpers of the comparison engine's tests: write expected and actual trees and compare them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.compare import compare_files
from tests.conftest import write_tree

Case = Callable[..., dict[str, Any]]


def put(root: Path, rel: str, content: str | bytes) -> Path:
    write_tree(root, {rel: content})
    return root / rel


def make_case(tmp_path: Path) -> Case:
    """``case(expected={...}, actual={...}, **spec)`` writes both trees and compares them.

    The first call uses ``tmp_path/expected`` and ``tmp_path/actual``, later ones fresh dirs.
    """
    calls: list[Path] = []

    def run(expected: dict[str, Any], actual: dict[str, Any], **spec: Any) -> dict[str, Any]:
        root = tmp_path / f"call{len(calls)}" if calls else tmp_path
        calls.append(root)
        for side, files in (("expected", expected), ("actual", actual)):
            (root / side).mkdir(parents=True)
            for rel, content in files.items():
                put(root / side, rel, content)
        verdict = compare_files(str(root / "expected"), str(root / "actual"), **spec)
        json.dumps(verdict, allow_nan=False)  # the verdict is always strict JSON
        return verdict

    return run


def one(verdict: dict[str, Any]) -> dict[str, Any]:
    assert len(verdict["files"]) == 1, verdict
    return verdict["files"][0]


def text(expected: str | bytes, actual: str | bytes, case: Case, **spec: Any) -> dict[str, Any]:
    return one(case({"out.txt": expected}, {"out.txt": actual}, **spec))
