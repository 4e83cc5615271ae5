"""Suite and config files that once crashed the loader (found by test_toml_properties):
each now gives a problem or an error naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import ConfigError
from assay.session import Request, prepare
from tests.unit.test_toml_properties import TEST_PY
from tests.unit.toml_fuzz import dumps


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for case in ("c1", "c2"):
        (tmp_path / "cases" / case / "expected").mkdir(parents=True)
        (tmp_path / "cases" / case / "input.txt").write_text("v=1\n")
        (tmp_path / "cases" / case / "expected" / "out.txt").write_text("v=1\n")
    (tmp_path / "test_t.py").write_text(TEST_PY)
    return tmp_path


def problems(home: Path, suite: dict | bytes) -> list[str]:
    path = home / "s.suite.toml"
    path.write_bytes(suite if isinstance(suite, bytes) else dumps(suite).encode())
    prepared = prepare(Request(paths=[str(path)]))
    return [str(p) for p in prepared.problems]


def minimal(**extra: object) -> dict:
    return {"suite": {"command": "true", "cases": "cases/*", **extra}}


def test_a_suite_file_that_is_not_utf8(home):
    (found,) = problems(home, b'[suite]\ncommand = "x"\n# caf\xe9\n')
    assert found.endswith(
        "s.suite.toml: not UTF-8 text (byte 0xe9 on line 3); save the file as UTF-8"
    )


def test_a_config_file_that_is_not_utf8(home):
    config = home / "bad.toml"
    config.write_bytes(b"[systems.a]\n\xff = 1\n")
    with pytest.raises(ConfigError) as exc:
        prepare(Request(paths=[str(home / "test_t.py")], config=str(config)))
    assert str(exc.value).endswith(
        "bad.toml: not UTF-8 text (byte 0xff on line 2); save the file as UTF-8"
    )


def test_a_sweep_template_that_is_not_utf8(home):
    (home / "in.j2").write_bytes(b"v={{ a }} \xff\n")
    sweep = [{"template": "in.j2", "a": [1]}]
    (found,) = problems(home, {"suite": {"command": "true", "sweep": sweep}})
    assert "suite.sweep[0].template: in.j2: not UTF-8 text (byte 0xff on line 1)" in found


def test_compared_file_names_too_long_for_the_file_system(home):
    # (Each case lacks it: no problem of the suite; each fails saying so when it runs.)
    assert problems(home, minimal(compare={"files": ["x" * 300]})) == []


def test_a_build_named_too_long_for_the_file_system(home):
    (found,) = problems(home, minimal(build="y" * 300))
    assert "suite.build: " in found and "cannot be looked at: File name too long" in found


def test_sweep_settings_of_the_wrong_type(home):
    sweep = [{"a": [1], "tags": 5}]
    (found,) = problems(home, {"suite": {"command": "true", "sweep": sweep}})
    assert found.endswith("suite.sweep[0].tags: expected a list, got an integer")


def test_an_expected_directory_outside_the_cases_is_refused(home):
    # It once made the compile step walk the whole file system ("/").
    for expected in ("/", "../..", ""):
        (found,) = problems(home, minimal(expected=expected, compare={"rtol": 0.1}))
        assert f"suite.expected: {expected!r} is not a sub-directory of a case" in found


def test_an_empty_cases_glob(home):
    found = problems(home, minimal(cases=""))
    assert "suite.cases: '' is not a usable glob: Unacceptable pattern: ''" in found[0]
