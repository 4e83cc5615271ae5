"""A test that takes its own permissions away (``chmod 000 dir``, ``chmod 500 .``) must not
break assay's cleanup. A user who is not root (here: root without the capabilities that let
it ignore file modes, which is what such a user has) cannot list, move or delete in a
directory without its write and execute bits: cleanup gives the owner those bits back on the
case's own directories, as ``assay`` on a host already does, and moves and removes as usual.
Everything happens in a sandbox under the test's tmp dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliResult, _assay_env

NO_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--reuid=0"]

TESTS = """
import assay


class ClosedPassed(assay.Test):
    command = "mkdir -p d/e && touch d/e/f && chmod 000 d/e d && chmod 500 ."


class ClosedKept(assay.Test):
    command = (
        "mkdir -p k/deep && echo kept > k/deep/out && echo globbed > k/deep/also"
        " && chmod 000 k/deep k"
    )
    keep_files = ["k/deep/out", "k/*/als?"]  # a glob finds nothing in a closed dir


class ClosedWhole(assay.Test):
    command = "mkdir d && chmod 000 d && chmod 000 ."  # (cleanup cannot even list it)


class ClosedFailed(assay.Test):
    command = "mkdir d && chmod 000 d && chmod 500 . && false"
"""


def _run_without_caps(project: Path) -> CliResult:
    proc = subprocess.run(
        [*NO_CAPS, sys.executable, "-m", "assay", "run", "test_closed.py", "--plain"],
        cwd=project,
        capture_output=True,
        text=True,
        env=_assay_env(project, {"COLUMNS": "200"}),
        timeout=120,
    )
    return CliResult(("run",), proc.returncode, proc.stdout, proc.stderr, project)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="root only")
def test_a_case_that_closed_its_directories_is_cleaned_up_as_any_other(tmp_path: Path) -> None:
    project = tmp_path / "sandbox" / "deep" / "project"
    project.mkdir(parents=True)
    (project / "test_closed.py").write_text(TESTS)
    result = _run_without_caps(project)
    out = result.stdout + result.stderr
    assert "PermissionError" not in out and "Traceback" not in out, out
    names = ("ClosedPassed", "ClosedKept", "ClosedFailed", "ClosedWhole")
    closed, kept, failed, whole = (result.case(n) for n in names)
    assert closed["status"] == "passed", closed
    assert whole["status"] == "passed", whole
    assert kept["status"] == "passed", kept
    assert failed["failure"]["reason"] == "exit code 1 (expected exit code 0)", failed
    session = Path(str(closed["output_dir"])).parent.parent
    stage = session / "stage"
    # The passed cases' stage dirs are gone; the failed one's is kept for a look.
    assert sorted(p.name for p in stage.iterdir()) == [Path(str(failed["stage_dir"])).name]
    assert (Path(str(kept["output_dir"])) / "k/deep/out").read_text() == "kept\n"
    assert (Path(str(kept["output_dir"])) / "k/deep/also").read_text() == "globbed\n"
    # A passed case's output dir is its owner's to delete, without privileges.
    for case in (closed, kept, whole):
        assert os.stat(str(case["output_dir"])).st_mode & 0o700 == 0o700, case
