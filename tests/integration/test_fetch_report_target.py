"""`assay fetch` writes what it brings from the host into the case's output dir, which it
reads from the newest report: a report edited to name another directory (~/.ssh) had the
host's files written there. Only an output dir of the newest session's own is used, and
only a report no other user could have written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

CONFIG = """\
[systems.s]
hostnames = ["*"]
[systems.s.partitions.r]
transport = "ssh"
ssh = { host = "host.invalid", workdir = "w", connect_timeout = "1s" }
"""


def _session(root: Path, output_dir: str) -> Path:
    session = root / ".assay" / "runs" / "S1"
    (session / "output").mkdir(parents=True)
    case = {
        "id": "abcd1234",
        "name": "A @s:r+builtin",
        "system": "s",
        "partition": "r",
        "remote_dir": "host.invalid:/w/runs/S1/stage/A-abcd1234",
        "output_dir": output_dir,
    }
    report = {"session": {"id": "S1"}, "cases": [case]}
    (session / "report.json").write_text(json.dumps(report))
    (root / ".assay" / "latest").symlink_to("runs/S1")
    (root / "assay.toml").write_text(CONFIG)
    return session


@pytest.mark.parametrize("where", ["outside", "dotdot", "session"])
def test_an_output_dir_the_session_does_not_own_is_refused_before_connecting(
    tmp_path, assay_cli, where
):
    victim = tmp_path / "sandbox" / "dot-ssh"
    victim.mkdir(parents=True)
    session = tmp_path / ".assay" / "runs" / "S1"
    output = {
        "outside": str(victim),
        "dotdot": str(session / "output" / ".." / ".." / ".." / ".." / "sandbox" / "dot-ssh"),
        "session": str(session),
    }[where]
    _session(tmp_path, output)
    result = assay_cli("fetch", "abcd1234")
    assert result.code == 2, result
    assert "is not in" in result.stderr and "nothing is fetched" in result.stderr, result.stderr
    assert "host.invalid" not in result.stderr  # refused before any connection
    assert list(victim.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's file")
def test_a_report_another_user_owns_is_not_acted_on(tmp_path, assay_cli):
    session = _session(tmp_path, str(tmp_path / ".assay" / "runs" / "S1" / "output" / "A"))
    os.chown(session / "report.json", 65534, 65534)
    result = assay_cli("fetch", "abcd1234")
    assert result.code == 2, result
    assert "owned by uid 65534" in result.stderr, result.stderr


def test_the_sessions_own_output_dir_gets_as_far_as_connecting(tmp_path, assay_cli):
    _session(tmp_path, str(tmp_path / ".assay" / "runs" / "S1" / "output" / "A-abcd1234"))
    result = assay_cli("fetch", "abcd1234")
    assert result.code != 0, result
    assert "is not in" not in result.stderr and "host.invalid" in result.stderr, result.stderr
