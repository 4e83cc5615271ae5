"""Random and nearly valid suite and config files: a plan, or a clear error naming the file.

Every document goes through the real loading and planning (``session.prepare``, what
``assay list`` and ``assay run`` do first). The outcome must be a plan, with any problem
naming the file, or an ``AssayError`` naming the file: never another exception.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.errors import AssayError
from assay.session import Request, prepare
from tests.unit.toml_fuzz import dumps, near_valid, random_docs, random_texts

_FUZZ = int(os.environ.get("ASSAY_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(
    derandomize=not _FUZZ,
    database=None,
    deadline=None,
    max_examples=_FUZZ or 200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

SUITE: dict[str, Any] = {
    "suite": {
        "name": "fz",
        "description": "fuzzed",
        "build": "build",
        "cases": "cases/*",
        "command": "cat input.txt > out.txt",
        "env": {"X": "1"},
        "time_limit": "1m",
        "tags": ["t"],
        "variables": {"n": 3, "label": "a"},
        "exit_codes": [0],
        "prerun": ["true"],
        "keep_files": ["out.txt"],
        "compare": {
            "files": ["out.txt"],
            "rtol": 1e-6,
            "ignore": ["^#"],
            "fields": [{"pattern": "v=(\\S+)", "rtol": 0.1}],
            "rules": [{"match": "*.csv", "format": "csv", "columns": {"p*": {"atol": 1}}}],
            "max_differences": 5,
        },
        "metrics": {"v": {"regex": "v=(\\d+)", "file": "out.txt", "unit": "s"}},
        "references": {"*": {"v": {"value": 1.0, "upper": 0.5}}},
        "groups": [{"cases": ["c1"], "tags": ["g"], "time_limit": "2m", "partitions": ["*"]}],
        "sweep": [
            {
                "name": "sw",
                "template": "in.j2",
                "output": "input.txt",
                "inputs": "extra",
                "command": "cat input.txt > out.txt",
                "tags": ["sweep"],
                "time_limit": "1m",
                "exclude": [{"a": 2, "b": "y"}],
                "a": [1, 2],
                "b": ["x", "y"],
            }
        ],
        "scaling": {
            "cpus_per_task": [1, 2],
            "cases": ["c*"],
            "command": "cat input.txt > out.txt",
            "env": {"T": "{cpus_per_task}"},
            "tags": ["scaling"],
            "time_limit": "2m",
        },
        "overlays": ["overlay"],
        "expected": "expected",
        "partitions": ["*"],
        "environments": ["*"],
        "tag_partitions": {"g": ["*:p"]},
        "tasks": 1,
        "cpus_per_task": 1,
        "postrun": ["true"],
    }
}
CONFIG: dict[str, Any] = {
    "systems": {
        "here": {
            "description": "fuzzed",
            "hostnames": ["*"],
            "prefix": ".assay",
            "partitions": {
                "p": {
                    "max_jobs": 2,
                    "environments": ["gnu"],
                    "time_limit": "10m",
                    "variables": {"A": "1"},
                    "prerun": ["true"],
                    "resources": {"nodes": 1, "cpus_per_node": 4},
                },
                "q": {
                    "scheduler": "slurm",
                    "launcher": "srun",
                    "slurm": {"partition": "debug", "options": ["--mem=1G"], "pack_time": "5m"},
                },
            },
        }
    },
    "environments": {"gnu": {"cc": "gcc", "cflags": "-O2", "variables": {"B": "2"}}},
}
TEST_PY = 'import assay\n\nclass T(assay.Test):\n    command = "true"\n'


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with what the base suite names: cases, a build, a template; a test file."""
    root = tmp_path_factory.mktemp("fuzz")
    for case in ("c1", "c2"):
        (root / "cases" / case / "expected").mkdir(parents=True)
        (root / "cases" / case / "input.txt").write_text("v=1\n")
        (root / "cases" / case / "expected" / "out.txt").write_text("v=1\n")
    (root / "build" / "bin").mkdir(parents=True)
    (root / "in.j2").write_text("v={{ a }} {{ b }}\n")
    (root / "extra").mkdir()
    (root / "extra" / "more.txt").write_text("x\n")
    (root / "overlay").mkdir()
    (root / "test_t.py").write_text(TEST_PY)
    (root / "assay.toml").write_text(dumps(CONFIG))
    return root


def outcome(path: Path, paths: list[Path], config: Path) -> str:
    """Plan ``paths`` with ``config``; "plan" or "error", after checking that every problem
    names ``path``."""
    try:
        prepared = prepare(Request(paths=[str(p) for p in paths], config=str(config)))
    except AssayError as exc:
        assert path.name in str(exc), f"an error that does not name {path.name}: {exc}"
        return "error"
    for problem in prepared.problems:
        assert path.name in str(problem), f"a problem that does not name {path.name}: {problem}"
    return "plan" if not prepared.problems else "error"


def suite_outcome(home: Path, data: bytes) -> str:
    path = home / "fz.suite.toml"
    path.write_bytes(data)
    return outcome(path, [path], home / "assay.toml")


def config_outcome(home: Path, data: bytes) -> str:
    path = home / "fuzzed-config.toml"
    path.write_bytes(data)
    return outcome(path, [home / "test_t.py"], path)


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------------ the writer


@SETTINGS
@given(random_docs, st.booleans())
def test_the_toml_writer_round_trips(doc, tables):
    text = dumps(doc, tables)
    assert tomllib.loads(text) == doc or "nan" in text


# --------------------------------------------------------------------------- suites


def test_the_base_documents_plan(home):
    assert suite_outcome(home, dumps(SUITE).encode()) == "plan"
    assert suite_outcome(home, dumps(SUITE, tables=False).encode()) == "plan"
    assert config_outcome(home, dumps(CONFIG).encode()) == "plan"


@SETTINGS
@given(near_valid(SUITE), st.booleans())
def test_a_nearly_valid_suite_plans_or_names_the_file(home, doc, tables):
    suite_outcome(home, encode(dumps(doc, tables)))


@SETTINGS
@given(st.one_of(random_docs.map(dumps), random_texts.map(str)))
def test_a_random_suite_file_plans_or_names_the_file(home, text):
    suite_outcome(home, encode(text))


@SETTINGS
@given(st.binary(max_size=200))
def test_a_suite_file_of_random_bytes_names_the_file(home, data):
    suite_outcome(home, data)


# --------------------------------------------------------------------------- configs


@SETTINGS
@given(near_valid(CONFIG), st.booleans())
def test_a_nearly_valid_config_plans_or_names_the_file(home, doc, tables):
    config_outcome(home, encode(dumps(doc, tables)))


@SETTINGS
@given(st.one_of(random_docs.map(dumps), random_texts.map(str)))
def test_a_random_config_file_plans_or_names_the_file(home, text):
    config_outcome(home, encode(text))


@SETTINGS
@given(st.binary(max_size=200))
def test_a_config_file_of_random_bytes_names_the_file(home, data):
    config_outcome(home, data)
