"""assay never writes through what a job planted at the names it writes in the stage dir.

A job (or the build before it) may leave a symbolic link, a hard link or a FIFO at
``assay-python.out``, ``assay-run.sh``, ``assay-run.out``... Assay's own process opens
those names after the job ran (for a root run whose job dropped its capabilities: with
privileges the job lacked). Each run here plants one pointing at a canary file outside the
stage dir, then gives assay a reason to write there; the canary must stay as it was.

Where the test's Python code prints (``assay-python.out``), the planted entry is removed
(never followed) and the file made anew, and the case fails naming the file: a job must
not make files named ``assay-*``. The build's plants at the run's names are removed
silently (the run stage writes its script and outputs anew).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

PRINTS = """
import assay

class P(assay.Test):
    command = {command!r}

    def sanity(self, out):
        print("printed by sanity")
"""


def _canary(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary.txt"
    canary.write_text("precious\n")
    return canary


def _printed(case: dict[str, object]) -> Path:
    where = case.get("stage_dir") or case["output_dir"]
    return Path(str(where)) / "assay-python.out"


@pytest.mark.parametrize(
    ("plant", "what"),
    [("ln -s", "a symbolic link"), ("ln", "a hard link to another file (2 names)")],
    ids=["symlink", "hardlink"],
)
def test_a_link_planted_at_assay_python_out_is_never_written_through(
    assay_cli, tmp_path, plant, what
):
    canary = _canary(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    command = f"{plant} {canary} assay-python.out"
    (project / "test_p.py").write_text(PRINTS.format(command=command))
    result = assay_cli("run", "test_p.py", "--plain", cwd=project)
    assert canary.read_text() == "precious\n"  # what sanity printed went there
    assert result.code == 1, result
    case = result.case("P")
    assert case["failure"]["stage"] == "cleanup", case
    reason = case["failure"]["reason"]
    assert f"the job left {what} at " in reason, reason
    assert "assay-python.out" in reason and "never wrote through it" in reason, reason
    printed = _printed(case)
    # (A regular file: kept in the failed case's output dir as a second name of it.)
    assert stat.S_ISREG(os.lstat(printed).st_mode)
    assert printed.read_text() == "printed by sanity\n"
    assert "Traceback" not in result.stdout + result.stderr


def test_a_fifo_planted_at_assay_python_out_neither_blocks_nor_is_written(assay_cli, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_p.py").write_text(PRINTS.format(command="mkfifo assay-python.out"))
    result = assay_cli("run", "test_p.py", "--plain", cwd=project, timeout=60)
    assert result.code == 1, result
    case = result.case("P")
    assert "the job left a FIFO at " in case["failure"]["reason"], case
    assert _printed(case).read_text() == "printed by sanity\n"


def test_a_regular_file_the_job_made_at_assay_python_out_is_appended_to(assay_cli, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    command = "echo from the job > assay-python.out"
    (project / "test_p.py").write_text(PRINTS.format(command=command))
    result = assay_cli("run", "test_p.py", "--plain", "--keep-stage", cwd=project)
    assert result.code == 0, result
    case = result.case("P")
    assert _printed(case).read_text() == "from the job\nprinted by sanity\n"


def test_a_stage_dir_the_job_replaced_with_a_link_is_not_printed_into(assay_cli, tmp_path):
    """The chain: the job moves its stage dir away and leaves a link to a directory
    outside in its place; what the test prints must not land in that directory."""
    canary = _canary(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    command = f'd="$PWD"; cd /; mv "$d" "$d.moved" && ln -s {canary.parent} "$d"'
    (project / "test_p.py").write_text(PRINTS.format(command=command))
    result = assay_cli("run", "test_p.py", "--plain", cwd=project)
    assert not (canary.parent / "assay-python.out").exists()
    assert result.code == 1, result
    reason = result.case("P")["failure"]["reason"]
    assert "cannot write what the test's Python code printed to " in reason, reason
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["assay-run.sh", "assay-run.out", "assay-run.err"])
@pytest.mark.parametrize("plant", ["ln -s", "ln"], ids=["symlink", "hardlink"])
def test_a_link_the_build_planted_at_a_run_file_is_never_written_through(
    assay_cli, tmp_path, name, plant
):
    canary = _canary(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_b.py").write_text(
        "import assay\n\n"
        "class B(assay.Test):\n"
        f"    build = {f'{plant} {canary} {name}'!r}\n"
        "    command = 'echo ran; echo oops >&2'\n"
    )
    result = assay_cli("run", "test_b.py", "--plain", "--keep-stage", cwd=project)
    assert canary.read_text() == "precious\n"  # the run's script or output went there
    assert result.code == 0, result
    stage = Path(result.case("B")["stage_dir"])
    assert (stage / "assay-run.out").read_text() == "ran\n"
    assert (stage / "assay-run.err").read_text() == "oops\n"


def test_cleanup_touches_nothing_through_a_stage_dir_the_job_replaced_with_a_link(
    assay_cli, tmp_path
):
    """Cleanup removes what is not kept from a passed case's stage dir: through a link the
    job left in its place, that removed the files of the directory it pointed to."""
    canary = _canary(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_q.py").write_text(
        "import assay\n\n"
        "class Q(assay.Test):\n"
        f"    command = {f'd=$PWD; cd /; mv $d $d.moved && ln -s {canary.parent} $d'!r}\n"
    )
    result = assay_cli("run", "test_q.py", "--plain", cwd=project)
    assert canary.read_text() == "precious\n"  # removed through the link
    assert result.code == 1, result
    case = result.case("Q")
    assert case["failure"]["stage"] == "cleanup", case
    reason = case["failure"]["reason"]
    assert "the job replaced its stage dir " in reason and "a symbolic link" in reason, reason
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("plant", ["ln -s {canary}", "mkfifo"], ids=["symlink", "fifo"])
def test_the_summary_never_reads_through_what_the_job_left_at_its_output(
    assay_cli, tmp_path, plant
):
    """The failure summary shows the end of the run's stderr: read through a link the job
    left there, it showed a file the job may not read (with the runner's privileges); a
    FIFO there kept the runner waiting for a writer."""
    canary = _canary(tmp_path)
    canary.write_text("secret of the canary\n")
    project = tmp_path / "project"
    project.mkdir()
    command = f"rm assay-run.err; {plant.format(canary=canary)} assay-run.err; false"
    (project / "test_e.py").write_text(
        f"import assay\n\nclass E(assay.Test):\n    command = {command!r}\n"
    )
    result = assay_cli("run", "test_e.py", "--plain", cwd=project, timeout=60)
    assert result.code == 1, result
    assert "secret of the canary" not in result.stdout + result.stderr
    assert "exit code 1" in result.case("E")["failure"]["reason"]
