"""The agent's start on a host: its modules compiled once and cached there (in a folder only
its account may write, each file checked before it is used), its lease flushed only where
another host's gc reads it, its temp files named without tempfile's imports."""

from __future__ import annotations

import asyncio
import marshal
import os
import subprocess
import sys
from hashlib import sha256
from pathlib import Path

import pytest

from assay.store import Store
from assay.store.agent import layout as agent_layout
from assay.store.agent import leases as agent_leases
from assay.store.agent.bundle import BOOTSTRAP
from assay.store.agent.state import AgentStore
from assay.store.remote import ProcessPipe, agent_command, open_remote_store
from assay.store.remote.opening import opening_bytes
from tests.conftest import write_tree


def _start(tmp_path: Path, cache_home: Path, *flags: str) -> subprocess.CompletedProcess[bytes]:
    """One agent process (as ssh runs it) that says hello and ends; its imports on stderr."""
    return subprocess.run(
        [sys.executable, "-I", "-S", *flags, "-c", BOOTSTRAP],
        input=opening_bytes(str(tmp_path / "store")),
        capture_output=True,
        env={"HOME": str(tmp_path), "XDG_CACHE_HOME": str(cache_home), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def _cache_files(cache_home: Path) -> list[Path]:
    folder = cache_home / "assay-agent"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _poison(cache_home: Path, marker: Path) -> Path:
    """The cache file the agent would use, holding code that leaves ``marker`` behind (its
    checksum right: only the folder's ownership and mode may refuse it)."""
    (cached,) = _cache_files(cache_home)
    codes = marshal.loads(cached.read_bytes()[32:])
    evil = compile(f"open({str(marker)!r}, 'w').close()", "<evil>", "exec")
    payload = marshal.dumps(dict.fromkeys(codes, evil))
    cached.write_bytes(sha256(payload).digest() + payload)
    return cached


def test_the_agent_compiles_its_modules_once_and_then_runs_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _start(tmp_path, cache)
    assert first.returncode == 0, first.stderr
    (cached,) = _cache_files(cache)
    assert (cache / "assay-agent").stat().st_mode & 0o777 == 0o700
    assert cached.stat().st_mode & 0o777 == 0o600
    # A second start finds them: a changed cache file is what it runs (then restored).
    marker = tmp_path / "ran-from-cache"
    original = cached.read_bytes()
    _poison(cache, marker)
    _start(tmp_path, cache)
    assert marker.exists()
    cached.write_bytes(original)
    again = _start(tmp_path, cache)
    assert again.returncode == 0 and b'"ok":true' in again.stdout.replace(b" ", b"")


@pytest.mark.parametrize("writable", ["folder", "file"])
def test_a_cache_others_may_write_is_not_used(tmp_path, writable):
    cache = tmp_path / "cache"
    assert _start(tmp_path, cache).returncode == 0
    marker = tmp_path / "ran-foreign-code"
    cached = _poison(cache, marker)
    # anybody could have put that file there, or written into it
    (cache / "assay-agent" if writable == "folder" else cached).chmod(0o777)
    started = _start(tmp_path, cache)
    assert started.returncode == 0, started.stderr
    assert not marker.exists()
    assert b'"ok":true' in started.stdout.replace(b" ", b"")


def test_a_damaged_cache_file_is_compiled_again_and_replaced(tmp_path):
    cache = tmp_path / "cache"
    assert _start(tmp_path, cache).returncode == 0
    (cached,) = _cache_files(cache)
    good = cached.read_bytes()
    cached.write_bytes(good[:32] + b"\x00" * 100)  # torn or damaged: its checksum is wrong
    started = _start(tmp_path, cache)
    assert started.returncode == 0, started.stderr
    assert cached.read_bytes() == good


def test_an_unwritable_cache_costs_nothing_but_time(tmp_path):
    cache = tmp_path / "cache"
    cache.write_text("a file, not a folder")
    started = _start(tmp_path, cache)
    assert started.returncode == 0, started.stderr
    assert b'"ok":true' in started.stdout.replace(b" ", b"")


def test_the_agent_starts_without_the_modules_it_does_not_need(tmp_path):
    started = _start(tmp_path, tmp_path / "cache", "-X", "importtime")
    assert started.returncode == 0, started.stderr
    imported = {
        line.split("|")[-1].strip() for line in started.stderr.decode().splitlines() if "|" in line
    }
    assert "assay_agent.server" in imported
    for heavy in ("tempfile", "socket", "secrets", "getpass", "random", "shutil"):
        assert heavy not in imported, heavy


def _fdatasyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    synced: list[int] = []
    real = os.fdatasync

    def counting_fdatasync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    return synced


def test_the_agent_lease_is_not_flushed_on_a_local_filesystem_count(tmp_path, monkeypatch):
    if agent_leases.needs_sync(str(tmp_path)):
        pytest.skip(f"{tmp_path} is not on a filesystem known to be local")
    synced = _fdatasyncs(monkeypatch)
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    store.pin_trees(["ab" * 32])
    assert synced == []
    assert "tree " + "ab" * 32 in Path(store.lease.path).read_text()  # what gc reads
    store.close()


def test_the_agent_lease_is_flushed_on_a_network_filesystem_count(tmp_path, monkeypatch):
    """A fake mount table (fault injection: no NFS mount here) says the store is on nfs4."""
    dev = os.stat(tmp_path).st_dev
    fake = f"36 25 {os.major(dev)}:{os.minor(dev)} / /x rw - nfs4 server:/x rw\n"
    monkeypatch.setattr(agent_leases, "_mountinfo", lambda: fake)
    synced = _fdatasyncs(monkeypatch)
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    store.pin_trees(["ab" * 32])
    assert len(synced) == 2  # the header and the pin
    store.close()


def test_temp_files_are_new_private_and_never_taken_over(tmp_path):
    taken = tmp_path / f"obj-{agent_layout._TOKEN}-{agent_layout._SEQ[0] + 1}"
    taken.write_text("another process's")  # the next name is taken: it is skipped
    fd, path = agent_layout.new_temp(str(tmp_path), "obj-")
    os.close(fd)
    assert path != str(taken) and taken.read_text() == "another process's"
    assert os.stat(path).st_mode & 0o777 == 0o600 and os.path.getsize(path) == 0
    fd2, path2 = agent_layout.new_temp(str(tmp_path), "obj-")
    os.close(fd2)
    assert path2 != path


def test_a_push_through_the_cached_agent_stores_the_version(tmp_path):
    """End to end: an agent started from its cache takes a push (python3 -I -S, as ssh runs
    it)."""
    src = Store(tmp_path / "src")
    src.put("solver", write_tree(tmp_path / "b", {f"d/f{i}": f"{i}\n" * 100 for i in range(30)}))

    async def push() -> str:
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        pipe = await ProcessPipe.start(["/bin/sh", "-c", agent_command(sys.executable)], env=env)
        remote = await open_remote_store(pipe, root=str(tmp_path / "far"))
        try:
            report = await remote.push(src, "solver")
        finally:
            await remote.close()
        return str(report.version)

    assert asyncio.run(push()) == "solver@1"
    assert len(_cache_files(tmp_path / "cache")) == 1
    assert asyncio.run(push()) == "solver@1"  # the second agent ran from the cache
    assert Store(tmp_path / "far").resolve("solver").tree == src.resolve("solver").tree
