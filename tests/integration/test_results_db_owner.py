"""An SQLite results database another user could change under assay is refused, by every
command that opens one: a link planted as ``results.sqlite`` in another user's prefix made
``assay history`` (as root) write a database over the file it pointed to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.results.db import ResultsDB

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's dir")


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    box = tmp_path / "sandbox"
    box.mkdir()
    return box


def _refused(result, *words: str) -> None:
    assert result.code != 0, result
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_database_linked_from_another_users_directory_is_not_written(sandbox, assay_cli):
    victim = sandbox / "victim"  # an empty file of the runner's: SQLite would fill it
    victim.write_bytes(b"")
    theirs = sandbox / "theirs"
    theirs.mkdir()
    (theirs / "results.sqlite").symlink_to(victim)
    os.chown(theirs, NOBODY, NOBODY)
    for command in (["history"], ["compare"], ["history", "--import"]):
        result = assay_cli(*command, "--prefix", str(theirs))
        _refused(result, "results database", str(theirs), "uid 65534", "PostgreSQL")
        assert victim.read_bytes() == b""


def test_a_link_chain_through_a_directory_others_may_write_is_refused(sandbox, assay_cli):
    victim = sandbox / "victim"
    victim.write_bytes(b"")
    open_dir = sandbox / "open"
    open_dir.mkdir()
    open_dir.chmod(0o1777)  # sticky does not help: anyone may add a -wal link beside it
    (open_dir / "hop").symlink_to(victim)
    mine = sandbox / "mine"
    mine.mkdir()
    (mine / "results.sqlite").symlink_to(open_dir / "hop")
    result = assay_cli("history", "--prefix", str(mine))
    _refused(result, str(open_dir), "writable by others (mode 1777)")
    assert victim.read_bytes() == b""


def test_a_database_file_another_user_owns_is_refused_and_ones_own_is_used(sandbox, assay_cli):
    mine = sandbox / "mine"
    mine.mkdir()
    db = mine / "results.sqlite"
    ResultsDB.open(db).close()  # (a reader makes none where nothing was recorded)
    first = assay_cli("history", "--prefix", str(mine))
    assert first.code == 0, first
    assert db.stat().st_size > 0
    os.chown(db, NOBODY, NOBODY)
    result = assay_cli("history", "--prefix", str(mine))
    _refused(result, str(db), "owned by uid 65534")
