"""Broken suite and config files through the real ``assay list``: a message naming the file,
never a traceback (the same documents as the property tests, a handful of each kind)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.unit.test_toml_properties import CONFIG, SUITE, TEST_PY
from tests.unit.toml_fuzz import dumps


def changed(base: dict, path: tuple, value: object) -> dict:
    doc = copy.deepcopy(base)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


def lay_out(root: Path) -> None:
    for case in ("c1", "c2"):
        (root / "cases" / case / "expected").mkdir(parents=True)
        (root / "cases" / case / "input.txt").write_text("v=1\n")
        (root / "cases" / case / "expected" / "out.txt").write_text("v=1\n")
    for folder in ("build/bin", "extra", "overlay"):
        (root / folder).mkdir(parents=True)
    (root / "in.j2").write_text("v={{ a }} {{ b }}\n")
    (root / "test_t.py").write_text(TEST_PY)
    (root / "assay.toml").write_text(dumps(CONFIG))


SUITES = {
    "valid": dumps(SUITE).encode(),
    "syntax": b'[suite]\ncommand = "x\n',
    "not utf-8": b'[suite]\ncommand = "caf\xe9"\n',
    "command a number": dumps(changed(SUITE, ("suite", "command"), 5)).encode(),
    "rtol a string": dumps(changed(SUITE, ("suite", "compare", "rtol"), "big")).encode(),
    "sweep tags a table": dumps(changed(SUITE, ("suite", "sweep", 0, "tags"), {"x": 1})).encode(),
    "expected outside": dumps(changed(SUITE, ("suite", "expected"), "/")).encode(),
    "file name too long": dumps(changed(SUITE, ("suite", "build"), "b" * 400)).encode(),
    "newline in time_limit": dumps(changed(SUITE, ("suite", "time_limit"), "1m\n2m")).encode(),
}
CONFIGS = {
    "syntax": b"[systems.a\n",
    "not utf-8": b"[systems.a]\n\xff = 1\n",
    "max_jobs 0": dumps(
        changed(CONFIG, ("systems", "here", "partitions", "p", "max_jobs"), 0)
    ).encode(),
    "partitions empty": dumps(changed(CONFIG, ("systems", "here", "partitions"), {})).encode(),
    "environment a list": dumps(changed(CONFIG, ("environments", "gnu"), [1])).encode(),
}


@pytest.mark.parametrize("name", list(SUITES))
def test_assay_list_on_a_broken_suite_names_the_file(assay_cli, tmp_path, name):
    lay_out(tmp_path)
    (tmp_path / "fz.suite.toml").write_bytes(SUITES[name])
    result = assay_cli("list", "fz.suite.toml")
    assert "Traceback" not in result.stdout + result.stderr, result
    if name == "valid":
        assert result.code == 0 and "fz[case=c1]" in result.stdout, result
    else:
        assert result.code in (1, 2) and "fz.suite.toml" in result.stderr, result


@pytest.mark.parametrize("name", list(CONFIGS))
def test_assay_list_with_a_broken_config_names_the_file(assay_cli, tmp_path, name):
    lay_out(tmp_path)
    (tmp_path / "fuzzed.toml").write_bytes(CONFIGS[name])
    result = assay_cli("list", "--config", "fuzzed.toml", "test_t.py")
    assert "Traceback" not in result.stdout + result.stderr, result
    assert result.code == 2 and "fuzzed.toml" in result.stderr, result
