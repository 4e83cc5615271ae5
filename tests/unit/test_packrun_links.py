"""The pack runner writes a case's stdout, stderr and status where the manifest says, and
never through a link there: a case's build (test code, run as the user before the case)
or a process it left running can plant one, at the file's name or at the stage dir's, to
a file of the user's (``~/.bashrc``), which the runner would truncate or write. Real
files, real links, the pack runner run as a job runs it (``python3 -I packrun.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from assay.schedulers import packrun

USERS = b"export PATH=$HOME/bin:$PATH\n"


def _run(tmp_path: Path, cases: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"slots": 1, "grace": 0.5, "cases": cases}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run(
        [sys.executable, "-I", packrun.__file__, str(manifest)],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )


def _case(stage: Path, command: str, script_dir: Path | None = None) -> dict[str, Any]:
    script = (script_dir or stage) / "run.sh"
    script.write_text(f"#!/bin/bash\n{command}\n")
    return {
        "id": "c",
        "script": str(script),
        "workdir": str(script_dir or stage),
        "stdout": str(stage / "assay-run.out"),
        "stderr": str(stage / "assay-run.err"),
        "status": str(stage / "assay-run.out.status"),
        "time_limit": 30.0,
    }


def _users_file(tmp_path: Path, name: str) -> Path:
    victim = tmp_path / "home" / name
    victim.parent.mkdir(exist_ok=True)
    victim.write_bytes(USERS)
    return victim


def test_links_planted_at_the_output_and_status_names_are_replaced_not_written(
    tmp_path: Path,
) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    case = _case(stage, "echo out; echo err >&2")
    victims = {}
    for key in ("stdout", "stderr", "status"):  # what a build left there
        victims[key] = _users_file(tmp_path, f"rc-{key}")
        os.symlink(victims[key], case[key])
    _run(tmp_path, [case])
    for victim in victims.values():
        assert victim.read_bytes() == USERS  # neither truncated nor written
    for key in ("stdout", "stderr", "status"):
        assert not os.path.islink(case[key])
    assert (stage / "assay-run.out").read_text() == "out\n"
    assert (stage / "assay-run.err").read_text() == "err\n"
    assert json.loads((stage / "assay-run.out.status").read_text())["state"] == "COMPLETED"


def test_a_link_the_case_plants_at_the_status_files_temporary_name_is_not_followed(
    tmp_path: Path,
) -> None:
    # The case's script is the pack runner's child: $PPID is the pid the runner's
    # temporary name for the status was made of (PATH.PID.tmp).
    stage = tmp_path / "stage"
    stage.mkdir()
    victim = _users_file(tmp_path, ".bashrc")
    status = stage / "assay-run.out.status"
    case = _case(stage, f'ln -s {victim} "{status}.$PPID.tmp"; exit 3')
    _run(tmp_path, [case])
    assert victim.read_bytes() == USERS
    assert not status.is_symlink()
    assert json.loads(status.read_text())["exit_code"] == 3


def test_a_stage_dir_swapped_for_a_link_gets_nothing_written_through_it(
    tmp_path: Path,
) -> None:
    # The build replaced its stage dir by a link to a directory of the user's.
    elsewhere = tmp_path / "home"
    victim = _users_file(tmp_path, "assay-run.out")
    stage = tmp_path / "stage"
    os.symlink(elsewhere, stage)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    case = _case(stage, "echo ran > ran", script_dir=scripts)
    done = _run(tmp_path, [case])
    assert victim.read_bytes() == USERS
    assert sorted(os.listdir(elsewhere)) == ["assay-run.out"]  # no err, no status made
    assert not (scripts / "ran").exists()  # not run: its output had nowhere to go
    assert f"the directory {str(stage)!r} of 'assay-run.out' is a symbolic link" in done.stderr
    assert "no status written" in done.stderr


def test_a_case_whose_output_cannot_be_made_is_not_run_and_its_status_says_why(
    tmp_path: Path,
) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "assay-run.err").mkdir()  # a directory where the stderr goes
    case = _case(stage, "echo ran > ran")
    _run(tmp_path, [case])
    status = json.loads((stage / "assay-run.out.status").read_text())
    assert status["state"] == "CANCELLED"
    assert "assay-run.err' is a directory" in status["reason"]
    assert not (stage / "ran").exists()
