"""``assay run --resume`` trusts what the session directory says: the journal names process
groups to SIGKILL and batch jobs to follow (and cancel), ``command.json`` the arguments to
run again. A session another user could have written (a shared prefix, a group-writable
checkout) is refused, naming the file and the fix; a forged journal entry for a process
that is not the runner's must not get it killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_assay

NOBODY = 65534


def _session(tmp_path: Path) -> Path:
    (tmp_path / "test_t.py").write_text(
        "import assay\n\n\nclass T(assay.Test):\n    command = 'true'\n"
    )
    first = run_assay("run", "test_t.py", "--plain", cwd=tmp_path)
    assert first.code == 0, first
    return (tmp_path / ".assay" / "latest").resolve()


def _start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22


@pytest.fixture
def victim():
    """A process group leader that is not the runner's: a forged journal points at it."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _forge(session: Path, victim: subprocess.Popen[bytes]) -> Path:
    journal = session / "journal.jsonl"
    line = {"t": "proc", "pid": victim.pid, "start": _start_ticks(victim.pid), "token": "x"}
    with journal.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    return journal


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_journal_another_user_owns_is_refused_and_kills_nothing(tmp_path, victim):
    session = _session(tmp_path)
    journal = _forge(session, victim)
    os.chown(journal, NOBODY, NOBODY)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert victim.poll() is None, "the forged journal entry killed a foreign process"
    assert resumed.code == 2, resumed
    assert str(journal) in resumed.stderr and "owned by uid 65534" in resumed.stderr
    assert "Traceback" not in resumed.stderr


def test_a_journal_others_may_write_is_refused_and_kills_nothing(tmp_path, victim):
    session = _session(tmp_path)
    journal = _forge(session, victim)
    journal.chmod(0o666)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert victim.poll() is None, "the forged journal entry killed a foreign process"
    assert resumed.code == 2, resumed
    assert str(journal) in resumed.stderr and "writable by others" in resumed.stderr
    assert "chmod go-w" in resumed.stderr


def test_a_session_directory_others_may_write_is_refused(tmp_path):
    session = _session(tmp_path)
    session.chmod(0o777)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 2, resumed
    assert str(session) in resumed.stderr and "writable by others" in resumed.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_recorded_arguments_another_user_owns_are_not_run_again(tmp_path):
    session = _session(tmp_path)
    (tmp_path / "test_evil.py").write_text(
        "import assay\n\n\nclass Evil(assay.Test):\n    command = 'touch pwned'\n"
    )
    command = session / "command.json"
    command.write_text(json.dumps(["test_evil.py", "--plain"]))
    os.chown(command, NOBODY, NOBODY)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 2, resumed
    assert str(command) in resumed.stderr and "owned by uid 65534" in resumed.stderr
    assert not list(tmp_path.rglob("pwned"))


def test_a_session_of_ones_own_still_resumes(tmp_path, victim):
    _session(tmp_path)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 0, resumed
    assert victim.poll() is None
    os.kill(victim.pid, signal.SIGCONT)  # still there to be signalled


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another group")
def test_group_write_counts_only_for_a_group_others_are_in(tmp_path):
    session = _session(tmp_path)
    journal = session / "journal.jsonl"
    # umask 002 with a user private group (root's group is root's alone): still resumable.
    os.chown(journal, 0, 0)
    journal.chmod(0o664)
    session.chmod(0o775)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 0, resumed
    # A group others are in: refused.
    os.chown(journal, 0, NOBODY)
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert resumed.code == 2, resumed
    assert str(journal) in resumed.stderr and "writable by others" in resumed.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_a_session_directory_swapped_after_its_check_is_refused_where_it_is_read(tmp_path, victim):
    """The chain: ``--resume`` checks the newest session directory, then (before reading its
    journal) that directory is renamed away and another user's directory takes its place,
    holding a journal this user owns (an old one of theirs, moved in: every file check
    passes). Each read checks the directory it opens the file in, on that descriptor."""
    from assay.errors import UsageError
    from assay.owned import read_owned
    from assay.session.directory import resumable_session

    session = _session(tmp_path)
    checked = resumable_session(tmp_path / ".assay")
    assert checked == session
    journal = _forge(session, victim)
    mine = journal.read_bytes()
    session.rename(session.with_name("moved-away"))
    session.mkdir()
    os.chown(session, NOBODY, NOBODY)
    (session / "journal.jsonl").write_bytes(mine)  # owned by this user, mode 644
    with pytest.raises(UsageError, match="owned by uid 65534"):
        read_owned(checked / "journal.jsonl", "--resume")
    resumed = run_assay("run", "--resume", cwd=tmp_path)
    assert victim.poll() is None
    assert resumed.code == 2, resumed
