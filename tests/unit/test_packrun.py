"""The pack runner run as a job runs it (``python3 -I packrun.py MANIFEST``), here without
Slurm: what a case leaves behind, even outside its process group, ends with the case.
(Its srun steps are cancelled on the real cluster: tests/slurm.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from assay.schedulers import packrun


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _run_pack(tmp_path: Path, commands: dict[str, str], limit: float = 30.0) -> dict[str, dict]:
    cases = []
    for name, command in commands.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "run.sh").write_text(f"#!/bin/bash\n{command}\n")
        cases.append(
            {
                "id": name,
                "script": str(folder / "run.sh"),
                "workdir": str(folder),
                "stdout": str(folder / "out"),
                "stderr": str(folder / "err"),
                "status": str(folder / "status"),
                "time_limit": limit,
            }
        )
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"slots": len(cases), "grace": 0.5, "cases": cases}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    subprocess.run(
        [sys.executable, "-I", packrun.__file__, str(manifest)], env=env, check=True, timeout=60
    )
    return {c["id"]: json.loads(Path(c["status"]).read_text()) for c in cases}


def test_processes_a_case_left_outside_its_group_end_with_it(tmp_path: Path) -> None:
    statuses = _run_pack(
        tmp_path,
        {
            # setsid: its own session; the double fork: reparented away from the case
            "escapes": "setsid sleep 300 & echo $! > pid1; (sleep 301 & echo $! > pid2) ; true",
            "plain": "echo fine",
        },
    )
    assert statuses["escapes"]["state"] == "COMPLETED"
    assert statuses["plain"]["state"] == "COMPLETED"
    pids = [int((tmp_path / "escapes" / f).read_text()) for f in ("pid1", "pid2")]
    deadline = time.monotonic() + 10
    while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL is sent; the kernel takes a moment to reap
    assert not any(_pid_alive(p) for p in pids)


def test_a_case_killed_at_its_time_limit_takes_its_escaped_processes_along(
    tmp_path: Path,
) -> None:
    statuses = _run_pack(
        tmp_path, {"slow": "setsid sleep 300 & echo $! > pid; sleep 300"}, limit=1.0
    )
    assert statuses["slow"]["state"] == "TIMEOUT"
    pid = int((tmp_path / "slow" / "pid").read_text())
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(pid)


def test_a_process_of_another_case_or_of_nobody_is_left_alone(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "300"], env={**os.environ, "ASSAY_PACK_CASE": "x"})
    try:
        _run_pack(tmp_path, {"quick": "true"})
        assert bystander.poll() is None  # another token: not this pack's case
    finally:
        bystander.kill()
        bystander.wait()


def _carrying(token: str) -> list[int]:
    """The live processes whose environment carries the case token ``token``."""
    mark = f"{packrun.CASE_VARIABLE}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _pid_alive(int(entry)):
            try:
                if mark in packrun._environ_of(entry).split(b"\0"):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def test_what_a_leftover_forks_while_it_is_looked_for_ends_too(tmp_path: Path) -> None:
    # A leftover that keeps starting processes: those it starts after /proc was listed
    # were not in the list, and ran on (one look, one kill). Each round kills what it
    # found, and a process sent SIGKILL starts no more: a fresh look ends it.
    loop = "for i in $(seq 400); do sleep 120 & done; wait"
    token = ""
    try:
        _run_pack(
            tmp_path,
            {"forks": f"echo $ASSAY_PACK_CASE > token; setsid bash -c '{loop}' & sleep 0.3"},
        )
        token = (tmp_path / "forks" / "token").read_text().strip()
        assert token
        deadline = time.monotonic() + 10
        while _carrying(token) and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGKILL is sent; the kernel takes a moment to reap
        assert _carrying(token) == []
    finally:
        for pid in _carrying(token) if token else []:  # this test's own token only
            try:
                os.kill(pid, 9)
            except OSError:
                pass
