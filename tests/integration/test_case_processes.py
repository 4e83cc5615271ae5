"""What a local case costs in processes and files: the command runs in the one process the
runner starts (capabilities dropped by an exec wrapper, not by the script starting itself
again), and the stage dir becomes the output dir (no copy, no tree removal)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assay.schedulers.local_exec import CAPS_VARIABLE, ROOT_GUARD
from tests.conftest import CliResult, _assay_env, run_assay

LINKED = """
import assay

class Linked(assay.Test):
    sources = "data/"
    command = {command!r}
"""


def _linked_case(tmp_path: Path, command: str) -> dict[str, object]:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    (tmp_path / "test_linked.py").write_text(LINKED.format(command=command))
    result = run_assay("run", "test_linked.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    case: dict[str, object] = result.case("Linked")
    return case


def _stdout(case: dict[str, object]) -> bytes:
    return (Path(str(case["output_dir"])) / "assay-run.out").read_bytes()


def test_a_store_linked_case_runs_its_command_in_the_one_process_started(tmp_path):
    """No bash re-executing itself, no bash between the runner and the command: the last
    command of the script replaces the shell, so ``$$`` is the command's own process."""
    case = _linked_case(tmp_path, "cat input.txt /proc/$$/cmdline")
    out = _stdout(case)
    assert out.startswith(b"42\n"), out
    argv = out[3:].split(b"\0")
    assert argv[0] == b"cat", argv
    assert case["job_id"] is not None


@pytest.mark.skipif(os.geteuid() != 0, reason="capabilities are dropped for root only")
def test_a_store_linked_case_still_runs_without_the_mode_overriding_capabilities(tmp_path):
    """CapBnd of the command itself: dac_override (bit 1) and fowner (bit 3) are gone."""
    # Anchored: a line of the status with "42" in it (a pid, a counter) must not match.
    case = _linked_case(tmp_path, "grep -h -e '^42$' -e '^CapBnd' input.txt /proc/$$/status")
    first, line = _stdout(case).decode().splitlines()
    assert first == "42"
    bounding = int(line.split()[1], 16)
    assert bounding & (1 << 1) == 0 and bounding & (1 << 3) == 0, line
    assert bounding & (1 << 0), line  # chown: the other capabilities stay


def test_a_case_without_links_also_runs_its_command_in_the_one_process(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import assay\nclass Plain(assay.Test):\n    command = 'cat /proc/$$/cmdline'\n"
    )
    result = run_assay("run", "test_plain.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    out = _stdout(result.case("Plain"))
    assert out.split(b"\0")[0] == b"cat", out


def test_the_stage_dir_becomes_the_output_dir_without_the_staged_inputs(tmp_path):
    """The case's directory is renamed into place once its staged inputs are removed: the
    inode the command saw as ``.`` is the output dir's."""
    case = _linked_case(tmp_path, "stat -c %i . input.txt")
    output = Path(str(case["output_dir"]))
    inode = int(_stdout(case).decode().split()[0])
    assert output.stat().st_ino == inode
    assert sorted(os.listdir(output)) == ["assay-run.err", "assay-run.out", "assay-run.sh"]
    script = (output / "assay-run.sh").read_text()
    assert "setpriv" in script  # run by hand as root, it still drops the capabilities


def _effective(status_line: str) -> int:
    return int(status_line.split()[1], 16)


INHERITING = ["setpriv", "--inh-caps=+dac_override,+fowner"]
"""Root whose inheritable set holds the two capabilities (older Docker gave every container
that, pam_cap can give it to a login): an exec as root takes them back from it, whatever
the bounding set says."""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="root only")
def test_a_store_linked_case_drops_them_even_from_a_runner_that_can_inherit_them(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    command = "grep -h '^CapEff' /proc/$$/status; echo sneaky >> input.txt"
    (tmp_path / "test_linked.py").write_text(LINKED.format(command=command))
    env = _assay_env(tmp_path, {"COLUMNS": "200"})
    proc = subprocess.run(
        [*INHERITING, sys.executable, "-m", "assay", "run", "test_linked.py", "--plain"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    result = CliResult(("run",), proc.returncode, proc.stdout, proc.stderr, tmp_path)
    case = result.case("Linked")
    caps = _effective(_stdout(case).decode())
    assert caps & (1 << 1) == 0 and caps & (1 << 3) == 0, hex(caps)
    assert (
        "input.txt: Permission denied"
        in (Path(str(case["output_dir"])) / "assay-run.err").read_text()
    )
    assert (tmp_path / "data/input.txt").read_text() == "42\n"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="root only")
def test_a_script_run_by_hand_drops_them_even_where_root_can_inherit_them(tmp_path):
    """The guard of a job script (the path on SSH hosts and Slurm nodes)."""
    script = tmp_path / "job.sh"
    script.write_text("\n".join(["#!/bin/bash", *ROOT_GUARD, "grep '^CapEff' /proc/$$/status"]))
    env = {k: v for k, v in os.environ.items() if k != CAPS_VARIABLE}
    out = subprocess.run(
        [*INHERITING, "/bin/bash", str(script)], capture_output=True, text=True, env=env
    ).stdout
    caps = _effective(out)
    assert caps & (1 << 1) == 0 and caps & (1 << 3) == 0, hex(caps)
    assert caps & 1, hex(caps)  # chown: the others stay
