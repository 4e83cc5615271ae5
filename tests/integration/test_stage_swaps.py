"""A job that replaces its whole stage dir with a link to another directory: assay's own
process reads, compares and keeps nothing through it.

Path-based defences resolved the stage dir and the file alike (``realpath``) and found the
file "inside" the stage dir, which by then was the other directory: sanity read, and the
comparison showed in its diff, a file there the job could not read itself (a root run
whose job dropped its capabilities). Setup notes the stage dir it made (device, inode);
every later read opens that directory, and one at its name that is not it is refused.
Each job here moves its stage dir away and leaves a link to a directory holding a canary
at the names the test then reads.
"""

from __future__ import annotations

import json
from pathlib import Path

SECRET = "precious-canary-b1e9"

SWAP = "d=$PWD; cd /; mv $d $d.moved && ln -s {outside} $d"

TEST = """
import assay

class S(assay.Test):
    command = {command!r}

    def sanity(self, out):
        {sanity}
"""


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("out.txt", "assay-run.out"):
        (outside / name).write_text(f"{SECRET}\n")
    return outside


def _run(assay_cli, tmp_path: Path, sanity: str) -> tuple[object, dict[str, object]]:
    outside = _outside(tmp_path)
    project = tmp_path / "project"
    (project / "expected").mkdir(parents=True)
    (project / "expected" / "out.txt").write_text("expected line\n")
    command = SWAP.format(outside=outside)
    (project / "test_s.py").write_text(TEST.format(command=command, sanity=sanity))
    result = assay_cli("run", "test_s.py", "--plain", cwd=project)
    return result, result.case("S")


def _everything(result: object, case: dict[str, object]) -> str:
    return result.stdout + result.stderr + json.dumps(case)  # type: ignore[attr-defined]


def test_sanity_reads_nothing_through_a_stage_dir_the_job_replaced(assay_cli, tmp_path):
    result, case = _run(assay_cli, tmp_path, 'out.expect("nothing like it", where="out.txt")')
    assert result.code == 1, result  # type: ignore[attr-defined]
    failure = case["failure"]
    assert failure["stage"] == "sanity", case  # type: ignore[index]
    reason = failure["reason"]  # type: ignore[index]
    assert "cannot read 'out.txt': the stage dir" in reason, reason
    assert "is no longer the directory assay made" in reason, reason
    assert SECRET not in _everything(result, case)  # (a pattern's miss quotes no text,
    # but a read of the canary is what was refused: see the next test's stdout)


def test_stdout_is_not_read_through_a_stage_dir_the_job_replaced(assay_cli, tmp_path):
    # ``out.stdout`` shown in the failure: read through the link, it was the canary.
    result, case = _run(assay_cli, tmp_path, "assert False, out.stdout")
    assert result.code == 1, result  # type: ignore[attr-defined]
    reason = case["failure"]["reason"]  # type: ignore[index]
    assert "is no longer the directory assay made" in reason, reason
    assert SECRET not in _everything(result, case)


def test_the_comparison_reads_nothing_through_a_stage_dir_the_job_replaced(assay_cli, tmp_path):
    # Compared through the link, the canary's line was in the diff.
    result, case = _run(assay_cli, tmp_path, 'out.compare("expected/", files=["out.txt"])')
    assert result.code == 1, result  # type: ignore[attr-defined]
    reason = case["failure"]["reason"]  # type: ignore[index]
    assert reason.startswith("comparison: the stage dir"), reason
    assert SECRET not in _everything(result, case)
    assert "Traceback" not in result.stdout + result.stderr  # type: ignore[attr-defined]


def test_the_run_writes_and_removes_nothing_through_a_stage_dir_the_build_replaced(
    assay_cli, tmp_path
):
    """After the build, assay removes what is at the run's output names and writes the run
    script: through a link the build left in place of the stage dir, that removed the
    other directory's ``assay-run.out`` and wrote ``assay-run.sh`` there."""
    outside = _outside(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_b.py").write_text(
        "import assay\n\n"
        "class B(assay.Test):\n"
        f"    build = {SWAP.format(outside=outside)!r}\n"
        "    command = 'true'\n"
    )
    result = assay_cli("run", "test_b.py", "--plain", cwd=project)
    assert result.code == 1, result
    case = result.case("B")
    assert case["failure"]["stage"] == "run", case
    reason = case["failure"]["reason"]
    assert "is no longer the directory setup made" in reason, reason
    assert (outside / "assay-run.out").read_text() == f"{SECRET}\n"  # not removed
    assert sorted(p.name for p in outside.iterdir()) == ["assay-run.out", "out.txt"]
    assert "Traceback" not in result.stdout + result.stderr
