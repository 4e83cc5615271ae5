"""The agent writes what it received back to disk while more arrives (a thread asks for it
every so many bytes), so that recording the version does not wait for a whole push to
reach the disk; recording it still flushes everything first."""

from __future__ import annotations

import hashlib
import threading
import time

from assay.store.agent import flush, layout, uploads
from assay.store.agent.state import AgentStore
from assay.store.objects import hash_bytes


def _listed(blobs: list[bytes]) -> list[list[object]]:
    return [["blobs", hash_bytes(b), len(b), hashlib.sha256(b).hexdigest()] for b in blobs]


def test_what_arrived_is_written_back_while_more_arrives(tmp_path, monkeypatch):
    calls: list[tuple[str, str]] = []
    real = layout.sync_filesystem

    def recording_sync(folder: str) -> None:  # a spy: the real write-back, noted
        calls.append((threading.current_thread().name, folder))
        real(folder)

    monkeypatch.setattr(flush, "sync_filesystem", recording_sync)
    monkeypatch.setattr(flush, "EVERY", 64 * 1024)
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    blobs = [bytes([i]) * 20_000 for i in range(8)]  # 160,000 bytes: two write-backs due
    assert calls == [] and store.flusher.flushes == 0
    uploads.receive_many(store, _listed(blobs[:4]), bytearray(b"".join(blobs[:4])))
    uploads.receive_many(store, _listed(blobs[4:]), bytearray(b"".join(blobs[4:])))
    deadline = time.monotonic() + 30
    while store.flusher.flushes < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.flusher.flushes >= 1
    assert calls and all(name == "flush" for name, _ in calls)  # never the agent's thread
    assert {folder for _, folder in calls} == {str(tmp_path / "store")}
    assert store.flusher.pending < 64 * 1024
    store.close()


def test_small_pushes_ask_for_no_write_back(tmp_path, monkeypatch):
    store = AgentStore(str(tmp_path / "store"), "transfer", True)
    blobs = [bytes([i]) * 1000 for i in range(5)]
    uploads.receive_many(store, _listed(blobs), bytearray(b"".join(blobs)))
    assert store.flusher.pending == 5000 and store.flusher.flushes == 0
    assert store.flusher._thread is None  # no thread started
    store.close()


def test_a_python_without_ctypes_flushes_with_sync(tmp_path, monkeypatch):
    import os
    import sys

    synced: list[bool] = []
    monkeypatch.setitem(sys.modules, "ctypes", None)  # `import ctypes` raises ImportError
    real = os.sync

    def recording_sync() -> None:  # a spy: the real sync, noted
        synced.append(True)
        real()

    monkeypatch.setattr(os, "sync", recording_sync)
    layout.sync_filesystem(str(tmp_path))
    assert synced == [True]
