"""Version records in a bucket written by pushes at the same time (real S3 server)."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest

from assay.store import Store
from assay.store.names import Version
from assay.store.s3 import S3Bucket, S3Remote, S3Sink, parse_s3_url
from assay.store.s3.sigv4 import Credentials, sign
from assay.store.sync import push_tree_async, version_record
from tests.conftest import write_tree
from tests.integration import test_store_s3
from tests.integration.s3_proxy import FaultInjectingS3Proxy

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


def _overwrite(s3: dict[str, str]) -> Any:
    """What a server that ignores If-None-Match does with a conditional PUT on a taken key:
    it stores it anyway (the proxy signs and sends that unconditional PUT itself)."""
    upstream = urlsplit(s3["ENDPOINT"])
    creds = Credentials(s3["ACCESS_KEY"], s3["SECRET_KEY"])

    def overwrite(path: str, body: bytes) -> int:
        headers = sign(
            "PUT",
            upstream.netloc,
            path,
            {"content-length": str(len(body))},
            hashlib.sha256(body).hexdigest(),
            creds,
            "us-east-1",
        )
        conn = http.client.HTTPConnection(upstream.hostname or "", upstream.port or 80)
        try:
            conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            answer = conn.getresponse()
            answer.read()
            return answer.status
        finally:
            conn.close()

    return overwrite


class OrderForcingBucket(S3Bucket):
    """Fault injected (two pushes do not interleave on demand): the second push writes its
    record only once the first has written and read back its own, both having chosen the
    same number: the overwrite comes after the first push's read-back."""

    def __init__(self, url: str, chosen: threading.Barrier, first_done: threading.Event) -> None:
        super().__init__(parse_s3_url(url))
        self.chosen, self.first_done = chosen, first_done
        self.first = False
        self.reads = 0

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        if "/names/" in key and not hasattr(self, "_met"):
            self._met = True
            index = self.chosen.wait(timeout=30)  # both read the versions: both chose v1
            self.first = index == 0
            if not self.first:
                self.first_done.wait(timeout=30)
        super().put(key, data, **kwargs)

    def get(self, key: str, start: int | None = None, size: int | None = None) -> bytes:
        data = super().get(key, start, size)
        if self.first and "/names/" in key and key.endswith("v1.json"):
            self.reads += 1
            if self.reads == 1:  # the first read-back, right after writing
                self.first_done.set()
        return data


@pytest.mark.parametrize("order", ["overwritten before the read-back", "after it"])
def test_a_server_that_ignores_if_none_match_still_loses_no_record(s3, tmp_path, order):
    """Two pushes of one name choose v1 at once against a server that stores a conditional
    PUT on a taken key anyway (a proxy in front of the real one): the push whose record was
    replaced finds out by reading it back (at once, or after the settle time) and takes v2."""
    stores = [_store_with(tmp_path, f"s{i}", f"{i}\n".encode()) for i in range(2)]
    for store in stores:
        asyncio.run(
            push_tree_async(
                store, store.resolve("build").tree, S3Sink(S3Bucket(parse_s3_url(s3["url"])))
            )
        )
    with FaultInjectingS3Proxy(s3["ENDPOINT"]) as proxy:
        proxy.faults.ignore_if_none_match = _overwrite(s3)
        os.environ["AWS_ENDPOINT_URL_S3"] = proxy.url
        try:
            results: list[dict[str, object]] = []
            errors: list[BaseException] = []
            meeting = threading.Barrier(2)
            first_done = threading.Event()

            def record(store: Store) -> None:
                if order == "after it":
                    bucket: S3Bucket = OrderForcingBucket(s3["url"], meeting, first_done)
                else:
                    bucket = RaceForcingBucket(s3["url"], meeting)
                version = store.resolve("build")
                try:
                    results.append(
                        asyncio.run(S3Remote(bucket).record(version_record(store, version)))
                    )
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=record, args=(store,)) for store in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            os.environ["AWS_ENDPOINT_URL_S3"] = s3["ENDPOINT"]
    assert errors == []
    assert any(
        seen.status == 200 and "if-none-match" in seen.headers
        for seen in proxy.faults.seen
        if "/names/" in seen.path and seen.path.endswith("v1.json")
    )
    numbers = sorted(msgspec.convert(r["version"], Version).version for r in results)
    assert numbers == [1, 2]
    recorded = S3Remote.open(s3["url"]).versions("build")
    assert {v.tree for v in recorded} == {s.resolve("build").tree for s in stores}
    assert [v.version for v in recorded] == [1, 2]
    assert S3Bucket(parse_s3_url(s3["url"])).keys(f"{parse_s3_url(s3['url']).prefix}/probes/") == []
