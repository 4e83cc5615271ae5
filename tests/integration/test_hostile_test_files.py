"""Hostile test and suite files: a FIFO, a link to /dev/zero, a file past the size cap,
TOML nested 100k deep (in brackets, or in one dotted key). Each is a load problem of its
own (the file, what is wrong, the fix); the good test beside them still loads and runs,
nothing hangs (the run's timeout would catch it) and no traceback is shown."""

from __future__ import annotations

import os
from pathlib import Path

from assay.load import load
from assay.validation import MAX_SOURCE_BYTES
from tests.unit.fifo_guard import without_waiting

_GOOD = """
import assay


class Good(assay.Test):
    command = "echo fine"

    def sanity(self, out):
        out.expect("fine")
"""

_FIX = (
    "assay reads test, suite, references and configuration files only from regular files: "
    "replace it with one, or leave it out"
)


def _hostile_tree(root: Path) -> dict[str, str]:
    """The hostile files under ``root``, and the start of the problem each must give."""
    (root / "test_good.py").write_text(_GOOD)
    os.mkfifo(root / "test_fifo.py")
    os.mkfifo(root / "fifo.suite.toml")
    os.symlink("/dev/zero", root / "test_zero.py")
    with open(root / "big.suite.toml", "wb") as fh:  # (sparse: no disk used)
        fh.truncate(MAX_SOURCE_BYTES + 1)
    deep = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"
    (root / "deep.suite.toml").write_text(f'[suite]\nname = "d"\ncommand = "true"\n{deep}')
    dotted = "[suite.env." + ".".join(["a"] * 100_000) + "]\n"  # (tomllib: minutes, squared)
    (root / "dotted.suite.toml").write_text(f'[suite]\nname = "e"\ncommand = "true"\n{dotted}')
    return {
        "test_fifo.py": f"is a FIFO, not a regular file; {_FIX}",
        "fifo.suite.toml": "is a FIFO, not a regular file",
        "test_zero.py": "is a character device, not a regular file",
        "big.suite.toml": f"is 64 MiB ({MAX_SOURCE_BYTES + 1:,} bytes), more than the 64 MiB "
        "assay reads of a test, suite, references or configuration file: give the right file, "
        "or leave it out",
        "deep.suite.toml": "not valid TOML for assay: arrays or inline tables nested deeper",
        "dotted.suite.toml": "not valid TOML for assay: line 4 has 1000 dots or more",
    }


def test_each_hostile_file_is_its_own_problem_and_the_good_test_runs(
    assay_cli, tmp_path: Path
) -> None:
    expected = _hostile_tree(tmp_path)
    result = assay_cli("run", ".", "--plain", timeout=120)
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and "RecursionError" not in shown, result
    assert f"{len(expected)} problem(s) loading tests" in shown, result
    for name, start in expected.items():
        assert f"  {name}: {start}" in shown, (name, result)
    assert result.case("Good")["status"] == "passed"


def test_a_hostile_file_given_by_name_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    """Named on the command line (not found by a walk): a FIFO is neither a file nor a
    directory, and was taken for a directory to walk."""
    expected = _hostile_tree(tmp_path)
    names = [str(tmp_path / n) for n in ("test_good.py", *expected)]
    found: list[object] = []
    raised = without_waiting(tmp_path / "test_fifo.py", lambda: found.append(load(names)))
    assert raised is None, raised
    [loaded] = found
    assert [t.__name__ for t in loaded.tests] == ["Good"]  # type: ignore[attr-defined]
    problems = {Path(p.file).name: p.message for p in loaded.problems}  # type: ignore[attr-defined]
    assert sorted(problems) == sorted(expected)
    for name, start in expected.items():
        assert problems[name].startswith(start), (name, problems[name])


def test_a_references_file_linked_to_dev_zero_is_a_problem_not_ignored(tmp_path: Path) -> None:
    (tmp_path / "test_good.py").write_text(_GOOD)
    os.symlink("/dev/zero", tmp_path / "test_good.references.toml")
    loaded = load([str(tmp_path / "test_good.py")])
    assert loaded.tests == []  # (its references are not the ones it would be judged against)
    [problem] = loaded.problems
    assert Path(problem.file).name == "test_good.references.toml"
    assert problem.message.startswith("is a character device, not a regular file"), problem


def test_a_config_file_that_is_a_fifo_is_a_usage_error_not_a_hang(assay_cli, tmp_path) -> None:
    (tmp_path / "test_good.py").write_text(_GOOD)
    os.mkfifo(tmp_path / "assay.toml")
    result = assay_cli("run", ".", env={"ASSAY_CONFIG": str(tmp_path / "assay.toml")}, timeout=60)
    assert result.code == 2, result
    assert f"ASSAY_CONFIG={tmp_path}/assay.toml: is a FIFO, not a regular file" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
