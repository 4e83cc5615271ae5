"""The host agent's folded requests, run here in-process: a spawn that writes its case's
files first, and one removal request for many stage dirs."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

from assay.transports import hostagent


def _daemon(tmp_path: Path) -> hostagent.Daemon:
    daemon = hostagent.Daemon(str(tmp_path / "a.sock"), linger=3600.0)
    daemon.roots = [os.path.realpath(tmp_path / "work")]
    return daemon


def _file(rel: str, data: bytes) -> dict[str, object]:
    return {"path": rel, "data": base64.b64encode(data).decode(), "mode": None}


def test_a_spawn_with_files_writes_them_first_and_lists_the_dir(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    (case / "stale").write_text("from an earlier attempt")
    answer = daemon.op_spawn(
        {
            "job": "j1",
            "argv": ["/bin/sh", "job.sh"],
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
            "prepare": {
                "dir": str(case),
                "files": [_file("job.sh", b"echo hi\n"), _file("in/x.txt", b"x")],
                "fresh": True,
            },
        }
    )
    daemon.jobs["j1"].ended.wait(30)
    assert sorted(answer["files"]) == ["in/x.txt", "job.sh"]  # the stale file went first
    assert (case / "o").read_text() == "hi\n"
    daemon.stop()


def test_a_spawn_whose_files_cannot_be_written_starts_nothing_and_says_which_step(
    tmp_path: Path,
) -> None:
    daemon = _daemon(tmp_path)
    case = tmp_path / "work" / "case"
    with pytest.raises(OSError) as caught:
        daemon.op_spawn(
            {
                "job": "j1",
                "argv": ["/bin/sh", "-c", "touch ran"],
                "cwd": str(case),
                "stdout": str(case / "o"),
                "stderr": str(case / "e"),
                "prepare": {"dir": str(case), "files": [_file("../out", b"x")], "fresh": True},
            }
        )
    assert caught.value.filename == "../out"
    assert getattr(caught.value, "assay_step", None) == "prepare"
    assert daemon.jobs == {} and not (case / "ran").exists()
    assert not (tmp_path / "work" / "out").exists()
    daemon.stop()


def test_one_removal_request_for_many_dirs_says_which_it_could_not_remove(
    tmp_path: Path,
) -> None:
    daemon = _daemon(tmp_path)
    work = tmp_path / "work"
    for name in ("a", "b"):
        (work / name / "sub").mkdir(parents=True)
        (work / name / "sub" / "f").write_text(name)
    (tmp_path / "home").mkdir()
    answer = daemon.op_remove(
        {"paths": [str(work / "a"), str(tmp_path / "home"), str(work / "b"), str(work / "gone")]}
    )
    assert not (work / "a").exists() and not (work / "b").exists()
    assert (tmp_path / "home").is_dir()  # outside the session's roots: never removed
    assert answer["failed"] == [
        [str(tmp_path / "home"), "not below the work directory, not removed"]
    ]
    daemon.stop()


def test_the_daemon_counts_the_requests_it_served(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path)
    for rid in ("1", "2", "3"):
        daemon.handle({"rid": rid, "op": "mkdir", "path": str(tmp_path / "work" / rid)})
    daemon.handle({"rid": "4", "op": "nonsense"})
    stats = daemon.stats()
    assert stats["requests"] == {"mkdir": 3, "nonsense": 1}
    assert stats["cpu"] >= 0
    daemon.stop()


def test_a_job_started_with_its_files_brings_back_what_it_made_with_its_end(
    tmp_path: Path,
) -> None:
    daemon = _daemon(tmp_path)
    sent: list[dict[str, object]] = []
    daemon.send = sent.append  # type: ignore[method-assign]  # what would go to assay
    case = tmp_path / "work" / "case"
    daemon.op_spawn(
        {
            "job": "j1",
            "argv": ["/bin/sh", "job.sh"],
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
            "prepare": {"dir": str(case), "files": [_file("job.sh", b"echo hi > new\n")]},
            "collect": {"names": ["o"], "patterns": [], "max_file": 100, "max_total": 1000},
        }
    )
    for _ in range(1200):  # the event comes when the job has ended
        if sent:
            break
        time.sleep(0.05)
    (event,) = sent
    assert event["event"] == "exit" and event["status"] == 0
    collected = event["collected"]
    assert isinstance(collected, dict)
    assert sorted(f["path"] for f in collected["files"]) == ["e", "new", "o"]  # not job.sh
    daemon.stop()
