"""The host agent's writes and reads in a case's directory on a remote host, where a job
(the build, a process it left running) may have planted links to the user's files: at the
names the agent writes next (the run script, the job's stdout), in the directory's own
place, or swapped in between the agent's listing of what a run made and its reading.
Run here in-process, on real files, links and processes."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import pytest

from assay.transports.hostagent import files
from assay.transports.hostagent.daemon import Daemon

USERS = b"export PATH=$HOME/bin:$PATH\n"


@pytest.fixture
def daemon(tmp_path: Path):  # type: ignore[no-untyped-def]
    daemon = Daemon(str(tmp_path / "a.sock"), linger=3600.0)
    daemon.roots = [os.path.realpath(tmp_path / "work")]
    yield daemon
    daemon.stop()


def _file(rel: str, data: bytes) -> dict[str, object]:
    return {"path": rel, "data": base64.b64encode(data).decode(), "mode": None}


def _users_file(tmp_path: Path, name: str = ".bashrc") -> Path:
    victim = tmp_path / "home" / name
    victim.parent.mkdir(exist_ok=True)
    victim.write_bytes(USERS)
    return victim


def test_a_link_the_build_left_at_the_run_scripts_name_is_replaced_not_written(
    tmp_path: Path, daemon: Daemon
) -> None:
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    victim = _users_file(tmp_path)
    (case / "assay-run.sh").symlink_to(victim)
    daemon.op_write_files({"dir": str(case), "files": [_file("assay-run.sh", b"echo run\n")]})
    assert victim.read_bytes() == USERS
    assert not (case / "assay-run.sh").is_symlink()
    assert (case / "assay-run.sh").read_bytes() == b"echo run\n"


def test_a_link_at_a_file_of_a_subdirectory_is_replaced_too(tmp_path: Path, daemon: Daemon) -> None:
    case = tmp_path / "work" / "case"
    (case / "in").mkdir(parents=True)
    victim = _users_file(tmp_path)
    (case / "in" / "data.txt").symlink_to(victim)
    daemon.op_write_files({"dir": str(case), "files": [_file("in/data.txt", b"x")]})
    assert victim.read_bytes() == USERS
    assert (case / "in" / "data.txt").read_bytes() == b"x"


def test_a_case_dir_swapped_for_a_link_gets_nothing_written_through_it(
    tmp_path: Path, daemon: Daemon
) -> None:
    victim = _users_file(tmp_path, "assay-run.sh")
    case = tmp_path / "work" / "case"
    case.parent.mkdir()
    case.symlink_to(victim.parent)  # the build's: rm -rf "$PWD"; ln -s ~ "$PWD"
    with pytest.raises(OSError):
        daemon.op_write_files({"dir": str(case), "files": [_file("assay-run.sh", b"run\n")]})
    assert victim.read_bytes() == USERS
    assert sorted(os.listdir(victim.parent)) == ["assay-run.sh"]


def test_a_link_the_build_left_at_the_jobs_stdout_is_not_truncated(
    tmp_path: Path, daemon: Daemon
) -> None:
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    out, err = _users_file(tmp_path, "out"), _users_file(tmp_path, "err")
    (case / "o").symlink_to(out)
    (case / "e").symlink_to(err)
    ended = threading.Event()
    watch = daemon.watcher.add

    def add(job, limit):  # type: ignore[no-untyped-def]
        threading.Thread(target=lambda: (job.ended.wait(30), ended.set()), daemon=True).start()
        return watch(job, limit)

    daemon.watcher.add = add  # type: ignore[method-assign]
    daemon.op_spawn(
        {
            "job": "j",
            "argv": ["/bin/sh", "-c", "echo job; echo oops >&2"],
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
        }
    )
    assert ended.wait(30)
    assert out.read_bytes() == USERS and err.read_bytes() == USERS
    assert (case / "o").read_bytes() == b"job\n"
    assert (case / "e").read_bytes() == b"oops\n"


def test_a_read_refuses_a_link_at_the_name_and_never_waits_on_a_fifo(
    tmp_path: Path, daemon: Daemon
) -> None:
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    secret = _users_file(tmp_path, "id_rsa")
    (case / "assay-run.out.status").symlink_to(secret)
    with pytest.raises(OSError):
        daemon.op_read({"path": str(case / "assay-run.out.status"), "limit": 1 << 16})
    fifo = case / "out.fifo"
    os.mkfifo(fifo)
    answers: list[object] = []

    def read() -> None:
        try:
            answers.append(daemon.op_read({"path": str(fifo), "limit": 100}))
        except OSError as exc:
            answers.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # (the old read: blocked in open; a writer lets it go)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert len(answers) == 1 and isinstance(answers[0], OSError)
    assert "not a regular file" in str(answers[0])


def test_a_file_swapped_for_a_link_after_the_listing_is_left_unread(
    tmp_path: Path, daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process the job left running swaps a directory for a link to the user's between
    # the agent's listing of what the run made and its reading of it: the window is hit on
    # demand by a listing that swaps as it returns (FaultInjecting: the real race needs a
    # leftover that loops on rename).
    case = tmp_path / "work" / "case"
    (case / "res").mkdir(parents=True)
    (case / "res" / "id_rsa").write_bytes(b"made by the run\n")
    secret = _users_file(tmp_path, "id_rsa")
    listing = files.files_below

    def faultinjecting_files_below(base: str) -> dict[str, list[int]]:
        found = listing(base)
        os.rename(case / "res", case / "res.old")
        (case / "res").symlink_to(secret.parent)
        return found

    monkeypatch.setattr(files, "files_below", faultinjecting_files_below)
    answer = daemon.op_collect(
        {"dir": str(case), "names": [], "baseline": {}, "max_file": 1 << 20, "max_total": 1 << 20}
    )
    assert answer["files"] == []
    assert answer["left"] == [["res/id_rsa", len(b"made by the run\n")]]


def test_a_link_at_a_jobs_pid_file_name_is_replaced_not_written(
    tmp_path: Path, daemon: Daemon
) -> None:
    # The pid files sit in the daemon's state directory, which jobs of the same user can
    # write to: a link there at the next job's name had the agent write "PID TOKEN" into
    # the user's file.
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    victim = _users_file(tmp_path)
    os.symlink(victim, daemon.pid_file("j"))
    daemon.op_spawn(
        {
            "job": "j",
            "argv": ["/bin/sh", "-c", "sleep 0.2"],
            "cwd": str(case),
            "stdout": str(case / "o"),
            "stderr": str(case / "e"),
        }
    )
    assert victim.read_bytes() == USERS
    pid_file = Path(daemon.pid_file("j"))
    if pid_file.exists():  # (gone once the job ended)
        assert not pid_file.is_symlink()


def test_a_read_below_the_work_directory_follows_no_link_on_the_way(
    tmp_path: Path, daemon: Daemon
) -> None:
    # A dependent fetches the dependency's ``out/result.dat``; the dependency's job swapped
    # its ``out`` for a link to a directory of the user's holding a file of that name.
    case = tmp_path / "work" / "case"
    case.mkdir(parents=True)
    secret = _users_file(tmp_path, "result.dat")
    (case / "out").symlink_to(secret.parent)
    with pytest.raises(OSError):
        daemon.op_read({"path": str(case / "out" / "result.dat"), "limit": 1 << 16})
    (case / "out").unlink()
    (case / "out").mkdir()
    (case / "out" / "result.dat").write_bytes(b"42\n")
    answer = daemon.op_read({"path": str(case / "out" / "result.dat"), "limit": 1 << 16})
    assert base64.b64decode(answer["data"]) == b"42\n"


def test_a_read_below_a_work_directory_named_through_a_link_of_the_users_is_served(
    tmp_path: Path, daemon: Daemon
) -> None:
    (tmp_path / "work" / "case").mkdir(parents=True)
    (tmp_path / "work" / "case" / "status").write_bytes(b"0\n")
    (tmp_path / "alias").symlink_to(tmp_path / "work")  # the user's: followed
    daemon.op_hello({"runner": "r", "roots": [str(tmp_path / "alias")]})
    answer = daemon.op_read({"path": str(tmp_path / "alias" / "case" / "status")})
    assert base64.b64decode(answer["data"]) == b"0\n"
