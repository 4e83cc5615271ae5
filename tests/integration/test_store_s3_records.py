"""Version records in a bucket written by pushes at the same time (real S3 server)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec

from assay.store import Store
from assay.store.names import Version
from assay.store.s3 import S3Bucket, S3Remote, S3Sink, parse_s3_url
from assay.store.sync import push_tree_async, version_record
from tests.conftest import write_tree
from tests.integration import test_store_s3

s3 = test_store_s3.s3  # the server's settings and a fresh prefix (a fixture)


class RaceForcingBucket(S3Bucket):
    """Fault injected (two pushes do not meet on demand): each thread's first write of a
    version record waits until the other has read the versions too, so both choose the
    same number, as two pushes of one name a moment apart do."""

    def __init__(self, url: str, meeting: threading.Barrier) -> None:
        super().__init__(parse_s3_url(url))
        self.meeting = meeting
        self.waited: set[int] = set()

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        if "/names/" in key and threading.get_ident() not in self.waited:
            self.waited.add(threading.get_ident())
            self.meeting.wait(timeout=30)
        super().put(key, data, **kwargs)


def _store_with(tmp_path: Path, name: str, content: bytes) -> Store:
    store = Store(tmp_path / name)
    store.put("build", write_tree(tmp_path / f"{name}-tree", {"f.txt": content}))
    return store


def test_two_pushes_recording_one_name_at_once_both_get_a_version(s3, tmp_path):
    stores = [_store_with(tmp_path, f"s{i}", f"{i}\n".encode()) for i in range(2)]
    for store in stores:  # the objects first (no version): the race is in recording
        sink = S3Sink(S3Bucket(parse_s3_url(s3["url"])))
        asyncio.run(push_tree_async(store, store.resolve("build").tree, sink))
    meeting = threading.Barrier(2)
    results: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def record(store: Store) -> None:
        bucket = RaceForcingBucket(s3["url"], meeting)
        version = store.resolve("build")
        try:
            results.append(asyncio.run(S3Remote(bucket).record(version_record(store, version))))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    numbers = sorted(msgspec.convert(r["version"], Version).version for r in results)
    assert numbers == [1, 2]
    recorded = S3Remote.open(s3["url"]).versions("build")
    assert {v.tree for v in recorded} == {s.resolve("build").tree for s in stores}
    assert [v.version for v in recorded] == [1, 2]


def test_two_push_processes_at_once_both_land(s3, tmp_path):
    """Two real `assay store push` processes of different builds to one name."""
    procs = []
    for i in range(2):
        store = _store_with(tmp_path, f"s{i}", f"{i}\n".encode())
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "assay", "store", "push", "-q", s3["url"], "build"],
                env={**os.environ, "ASSAY_STORE": str(store.root)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    recorded = S3Remote.open(s3["url"]).versions("build")
    assert [v.version for v in recorded] == [1, 2]
    assert len({v.tree for v in recorded}) == 2
