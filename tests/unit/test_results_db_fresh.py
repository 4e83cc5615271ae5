"""A new SQLite results database: made whole under a private name, then linked into place
(assay.results.db.fresh), against real SQLite files."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from assay.results.db import ResultsDB, SessionRecord
from assay.results.db import schema as schema_module
from assay.results.db.schema import SCHEMA_VERSION, Migration


def _schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    conn.close()
    return rows


def _others(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != name)


def test_a_new_database_has_its_whole_schema_in_its_file_and_an_empty_log(tmp_path):
    # Made in place, the schema went through the log and a checkpoint (two syncs) that
    # left a log of its 27 pages behind; made elsewhere, the file holds it from the start.
    path = tmp_path / "results.sqlite"
    db = ResultsDB.open(path)
    try:
        assert db.version == SCHEMA_VERSION
        wal = Path(f"{path}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        db.close()
    # Nothing of the making is left beside it.
    assert _others(tmp_path, "results.sqlite") == []


def test_no_database_is_under_its_name_while_its_schema_is_written(tmp_path, monkeypatch):
    # A crash while the schema is written must not leave a half-made database under its
    # name (the next run would find it damaged, or without tables): the name appears
    # once the database is whole.
    path = tmp_path / "results.sqlite"
    seen: list[bool] = []

    def look(writer: object) -> None:
        seen.append(os.path.lexists(path))

    *before, last = schema_module.MIGRATIONS
    monkeypatch.setattr(
        schema_module,
        "MIGRATIONS",
        [*before, Migration(last.version, last.statements, _then(last.backfill, look))],
    )
    ResultsDB.open(path).close()
    assert seen == [False]
    assert {"meta", "sessions", "cases", "series"} <= {r[1] for r in _schema(path)}


def _then(first, then):  # type: ignore[no-untyped-def]
    def both(writer):  # type: ignore[no-untyped-def]
        if first is not None:
            first(writer)
        then(writer)

    return both


def test_the_same_schema_as_a_database_made_in_place(tmp_path, monkeypatch):
    made = tmp_path / "a" / "results.sqlite"
    ResultsDB.open(made).close()
    monkeypatch.setattr("assay.results.db.fresh.make", lambda path: False)
    in_place = tmp_path / "b" / "results.sqlite"
    ResultsDB.open(in_place).close()
    assert _schema(made) == _schema(in_place)


def test_without_hard_links_the_database_is_made_in_place(tmp_path, monkeypatch):
    def fault_injecting_link(src: object, dst: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", fault_injecting_link)
    path = tmp_path / "results.sqlite"
    with ResultsDB.open(path) as db:
        db.begin_session(SessionRecord(id="s1", started=1.0))
        assert db.version == SCHEMA_VERSION
    with ResultsDB.open(path) as db:
        assert db.session("s1") is not None
    assert [n for n in _others(tmp_path, "results.sqlite") if ".new" in n] == []


def test_a_database_another_process_made_meanwhile_is_kept(tmp_path, monkeypatch):
    path = tmp_path / "results.sqlite"
    real_link = os.link

    def fault_injecting_race(src: object, dst: object) -> None:
        # Another process makes the database (and writes a session) just before ours
        # is linked into place.
        monkeypatch.setattr(os, "link", real_link)
        with ResultsDB.open(path) as theirs:
            theirs.begin_session(SessionRecord(id="theirs", started=1.0))
        real_link(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", fault_injecting_race)
    with ResultsDB.open(path) as db:
        assert db.session("theirs") is not None
    assert [n for n in _others(tmp_path, "results.sqlite") if ".new" in n] == []


@pytest.mark.parametrize("existing", ["empty file", "database"])
def test_an_existing_file_is_opened_where_it_is(tmp_path, existing):
    path = tmp_path / "results.sqlite"
    if existing == "empty file":
        path.write_bytes(b"")
    else:
        with ResultsDB.open(path) as db:
            db.begin_session(SessionRecord(id="s1", started=1.0))
    inode = path.stat().st_ino
    with ResultsDB.open(path) as db:
        assert db.version == SCHEMA_VERSION
    assert path.stat().st_ino == inode


def test_what_a_crashed_make_left_is_removed_by_the_next_make_once_it_is_old(tmp_path):
    # A process killed while it made the database leaves its private file (and maybe its
    # log): the next make removes those an hour old, and keeps young ones (another
    # process, maybe on another host of a shared file system, is making its own) and
    # anything else in the prefix.
    from assay.results.db.fresh import STRAY_AFTER

    old = time.time() - STRAY_AFTER - 60
    stray = tmp_path / ".results.sqlite.4242-deadbeef.new"
    stray_wal = tmp_path / ".results.sqlite.4242-deadbeef.new-wal"
    young = tmp_path / ".results.sqlite.4343-cafef00d.new"
    other = tmp_path / ".results.sqlite.notes"
    victim = tmp_path / "victim.txt"
    link = tmp_path / ".results.sqlite.4444-0badf00d.new"
    for made in (stray, stray_wal, young, other, victim):
        made.write_bytes(b"x")
    link.symlink_to(victim)
    for aged in (stray, stray_wal, other):
        os.utime(aged, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    db = ResultsDB.open(tmp_path / "results.sqlite")
    db.close()
    left = {p.name for p in tmp_path.iterdir()}
    assert stray.name not in left and stray_wal.name not in left
    assert link.name not in left and victim.read_bytes() == b"x"  # the link, not its target
    assert {young.name, other.name, victim.name} <= left


def test_an_old_stray_beside_an_existing_database_is_removed_when_it_is_opened(tmp_path):
    # (the usual way one stays: a make crashed, and a later process made the database
    # before the stray was an hour old, so no later make looks for strays)
    from assay.results.db.fresh import STRAY_AFTER

    path = tmp_path / "results.sqlite"
    ResultsDB.open(path).close()
    stray = tmp_path / ".results.sqlite.4242-deadbeef.new"
    stray.write_bytes(b"x")
    young = tmp_path / ".results.sqlite.4343-cafef00d.new"
    young.write_bytes(b"x")
    old = time.time() - STRAY_AFTER - 60
    os.utime(stray, (old, old))
    ResultsDB.open(path).close()
    assert not stray.exists() and young.exists()
