"""assay's own process never reads through a link a job left among its outputs.

A job may leave ``out.txt -> /somewhere/secret`` in its stage dir. For a local case the
comparison engine runs in the runner's process (for a root run whose job dropped its
capabilities: with privileges the job lacked), and keep_files links or copies what it
keeps into the output dir: neither may read, show or copy the file the link points to.
Each run plants a link to a canary outside the stage dir; its content must appear nowhere.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

SECRET = "precious-canary-4d1f"

COMPARED = """
import assay

class C(assay.Test):
    command = {command!r}

    def sanity(self, out):
        out.compare("expected/", files=["out.txt"]{extra})
"""


def _canary(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "secret.txt"
    canary.write_text(f"{SECRET}\n")
    return canary


def _compared(tmp_path: Path, command: str, extra: str = "") -> Path:
    project = tmp_path / "project"
    (project / "expected").mkdir(parents=True)
    (project / "expected" / "out.txt").write_text("expected line\n")
    (project / "test_c.py").write_text(COMPARED.format(command=command, extra=extra))
    return project


def _everything(result: object, case: dict[str, object]) -> str:
    text = result.stdout + result.stderr  # type: ignore[attr-defined]
    return text + json.dumps(case)


def test_a_compared_output_linking_out_of_the_stage_dir_is_refused_unread(assay_cli, tmp_path):
    canary = _canary(tmp_path)
    project = _compared(tmp_path, f"ln -s {canary} out.txt")
    result = assay_cli("run", "test_c.py", "--plain", cwd=project)
    assert result.code == 1, result
    case = result.case("C")
    reason = case["failure"]["reason"]
    assert "out.txt leads through a symbolic link to" in reason, reason
    assert str(canary) in reason and "not read" in reason, reason
    assert SECRET not in _everything(result, case)  # the diff showed the canary's line
    assert "Traceback" not in result.stdout + result.stderr


def test_a_comparison_command_is_not_run_over_a_link_out_of_the_stage_dir(assay_cli, tmp_path):
    canary = _canary(tmp_path)
    command = f"echo expected line > out.txt; ln -s {canary} leak.txt"
    project = _compared(tmp_path, command, extra=', command="cat {actual}/leak.txt; false"')
    result = assay_cli("run", "test_c.py", "--plain", cwd=project)
    assert result.code == 1, result
    case = result.case("C")
    assert "not run: actual" in json.dumps(case) and "leak.txt" in json.dumps(case), case
    assert SECRET not in _everything(result, case)  # the command printed it


def test_a_compared_output_linking_inside_the_stage_dir_is_compared(assay_cli, tmp_path):
    _canary(tmp_path)
    command = "mkdir -p data && echo expected line > data/real.txt && ln -s data/real.txt out.txt"
    project = _compared(tmp_path, command)
    result = assay_cli("run", "test_c.py", "--plain", cwd=project)
    assert result.code == 0, result


def test_a_kept_link_out_of_the_stage_dir_is_kept_as_the_link(assay_cli, tmp_path):
    canary = _canary(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    # A failing case: its kept files are linked (or copied) into the output dir, not moved.
    (project / "test_k.py").write_text(
        "import assay\n\n"
        "class K(assay.Test):\n"
        f"    command = 'ln -s {canary} leak.txt; false'\n"
        "    keep_files = ['leak.txt']\n"
    )
    result = assay_cli("run", "test_k.py", "--plain", cwd=project)
    assert result.code == 1, result
    kept = Path(result.case("K")["output_dir"]) / "leak.txt"
    info = os.lstat(kept)
    # Followed, it would be a hard link to the canary itself (os.link follows nothing on
    # Linux: this guards that path); the copy made where a hard link cannot be (another
    # file system) is checked in tests/unit/test_planted_reads.py with an injected EXDEV.
    assert stat.S_ISLNK(info.st_mode), info
    assert (info.st_dev, info.st_ino) != (os.stat(canary).st_dev, os.stat(canary).st_ino)
    assert os.readlink(kept) == str(canary)
    assert canary.read_text() == f"{SECRET}\n"


SANITY_READS = """
import assay

class S(assay.Test):
    command = {command!r}

    def sanity(self, out):
        out.expect("precious", where={where!r})
"""


def _sanity(tmp_path: Path, command: str, where: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_s.py").write_text(SANITY_READS.format(command=command, where=where))
    return project


def test_sanity_never_reads_a_file_through_a_link_out_of_the_stage_dir(assay_cli, tmp_path):
    canary = _canary(tmp_path)
    project = _sanity(tmp_path, f"ln -s {canary} result.txt", "result.txt")
    result = assay_cli("run", "test_s.py", "--plain", cwd=project)
    assert result.code == 1, result
    case = result.case("S")
    reason = case["failure"]["reason"]
    assert "result.txt" in reason and "leads through a symbolic link to" in reason, reason
    assert str(canary) in reason and "not read" in reason, reason
    assert SECRET not in _everything(result, case)


def test_sanity_never_reads_stdout_a_job_replaced_with_a_link(assay_cli, tmp_path):
    canary = _canary(tmp_path)
    # The job removes its own stdout file and leaves a link to the canary in its place.
    command = f"rm -f assay-run.out; ln -s {canary} assay-run.out"
    project = _sanity(tmp_path, command, "stdout")
    result = assay_cli("run", "test_s.py", "--plain", cwd=project)
    assert result.code == 1, result
    case = result.case("S")
    reason = case["failure"]["reason"]
    assert "leads through a symbolic link to" in reason and str(canary) in reason, reason
    assert SECRET not in _everything(result, case)


def test_sanity_reads_a_link_that_stays_in_the_stage_dir(assay_cli, tmp_path):
    project = _sanity(tmp_path, "echo precious > real.txt; ln -s real.txt result.txt", "result.txt")
    result = assay_cli("run", "test_s.py", "--plain", cwd=project)
    assert result.code == 0, result
