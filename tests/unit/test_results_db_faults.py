"""The SQLite results database when another process holds its write lock (wait, say so, then
a clear error naming the file and the holder) and when the file is damaged (refused with the
command that moves it aside). Real SQLite files, a real second process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assay.results.db import DatabaseError, ResultsDB, SessionRecord, backends

# A second process that takes the write lock and keeps it until its stdin closes.
HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
"""


def hold(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
    return proc


def session(sid: str) -> SessionRecord:
    return SessionRecord(sid, 1_800_000_000.0, user="me", system="local")


def test_a_writer_waits_for_the_lock_says_so_then_names_file_and_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.sqlite"
    ResultsDB.open(path).close()
    monkeypatch.setattr(backends, "NOTICE", 0.3)
    monkeypatch.setattr(backends, "WAIT", 1.5)
    holder = hold(path)
    try:
        with ResultsDB.open(path) as db:  # reading is not held up (WAL)
            with pytest.raises(DatabaseError) as caught:
                db.begin_session(session("s1"))
            assert db.sessions(5) == []
    finally:
        holder.communicate("")
    message = caught.value.message
    assert message.startswith(f"results database {path} stayed locked for "), message
    assert f"by process {holder.pid} ({sys.executable} -c " in message, message
    assert message.endswith("let it finish (or stop it) and try again"), message
    err = capsys.readouterr().err
    assert f"assay: results database {path} is locked by process {holder.pid}" in err, err
    assert err.count("waiting up to 2 s") == 1, err


def test_a_writer_that_gets_the_lock_in_time_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.sqlite"
    ResultsDB.open(path).close()
    monkeypatch.setattr(backends, "NOTICE", 0.3)
    holder = hold(path)
    with ResultsDB.open(path) as db:
        release = threading.Timer(1.0, lambda: holder.communicate(""))
        release.start()
        db.begin_session(session("s1"))
        release.join()
        assert [s.id for s in db.sessions(5)] == ["s1"]
    assert "is locked by process" in capsys.readouterr().err


def _real_database(path: Path) -> None:
    with ResultsDB.open(path) as db:
        for i in range(50):
            db.begin_session(session(f"s{i}"))
        db.backend.checkpoint()


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "header only"])
def test_a_damaged_file_is_refused_with_the_command_that_moves_it_aside(
    tmp_path: Path, damage: str
) -> None:
    folder = tmp_path / "it's $HOME here"
    folder.mkdir()
    path = folder / "results.sqlite"
    if damage == "random bytes":
        path.write_bytes(os.urandom(8192))
    else:
        _real_database(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:60])
    before = path.read_bytes()
    with pytest.raises(DatabaseError) as caught:
        ResultsDB.open(path)
    message = caught.value.message
    assert message.startswith(f"results database {path} is damaged ("), message
    assert path.read_bytes() == before, "refused untouched"
    command = re.search(r"move it aside: (.*) \(the next run", message)
    assert command is not None, message
    subprocess.run(["bash", "-c", command.group(1)], check=True)
    assert (folder / "results.sqlite.damaged").read_bytes() == before
    with ResultsDB.open(path) as db:  # a new one
        assert db.sessions(5) == []


def test_a_directory_in_place_of_the_database_is_refused_with_the_command(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    path.mkdir()
    with pytest.raises(DatabaseError) as caught:
        ResultsDB.open(path)
    message = caught.value.message
    assert "is a directory, not a file" in message, message
    assert message.endswith(f"move it aside: mv -- {path} {path}.damaged"), message


def test_the_holder_is_named_only_while_it_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    ResultsDB.open(path).close()
    assert backends.locker(path) is None
    holder = hold(path)
    try:
        deadline = time.monotonic() + 5
        while backends.locker(path) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        found = backends.locker(path)
        # one line, what ps would show, cut at 80 characters
        assert found is not None and "\n" not in found, found
        assert found.startswith(
            f"process {holder.pid} ({sys.executable} -c import sqlite3, sys db"
        ), found
        assert found.endswith("...)") and len(found) == len(f"process {holder.pid} ()") + 80, found
    finally:
        holder.communicate("")
