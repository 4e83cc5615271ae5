"""How a push to the real S3 server spends its requests: uploads at once, questions answered
by listing folders instead of one HEAD per object (bench/s3.py measures the time)."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path
from typing import Any

from assay.store import Store
from assay.store.s3 import S3Bucket, S3Remote, parse_s3_url
from assay.store.transfer import tree_level
from tests.conftest import write_tree
from tests.integration import test_store_s3

s3 = test_store_s3.s3  # the server's settings and a fresh prefix (a fixture)


class RequestCountingBucket(S3Bucket):
    """The real bucket, with its requests counted (nothing changed): HEADs, listings, and
    the most PUTs in flight at one moment."""

    def __init__(self, url: str) -> None:
        super().__init__(parse_s3_url(url))
        self.heads = self.lists = self.puts = self.most = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def exists(self, key: str) -> bool:
        with self._lock:
            self.heads += 1
        return super().exists(key)

    def _listed(self, folder: str, budget: int) -> Any:
        with self._lock:
            self.lists += 1
        return super()._listed(folder, budget)

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        with self._lock:
            self.puts += 1
            self._in_flight += 1
            self.most = max(self.most, self._in_flight)
        try:
            super().put(key, data, **kwargs)
        finally:
            with self._lock:
                self._in_flight -= 1


def _files(count: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"d{i % 4}/f{i:04d}.bin": rng.randbytes(2000) for i in range(count)}


def _pulled(url: str, ref: str, tmp_path: Path, name: str) -> dict[str, bytes]:
    dest = Store(tmp_path / f"{name}-store")
    asyncio.run(S3Remote.open(url).pull(dest, ref))
    out = tmp_path / f"{name}-out"
    dest.get(ref.split("@")[0], out)  # its only version
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_a_first_push_sends_at_once_and_lists_instead_of_asking_per_object(s3, tmp_path):
    files = _files(300, 1)
    store = Store(tmp_path / "store")
    store.put("build", write_tree(tmp_path / "build", files))
    bucket = RequestCountingBucket(s3["url"])
    report = asyncio.run(S3Remote(bucket).push(store, "build"))
    assert report.version == "build@1" and report.objects_sent == 300 + 5
    # objects, trees, their sums, the version record, and the probe of conditional writes
    assert bucket.puts == 300 + 5 + 5 + 1 + 2
    assert bucket.most > 1  # uploads overlap
    # 300 objects in at most 256 folders of objects/blobs/: a listing per folder asked about
    # by the handful, a HEAD for the rest; far fewer than a HEAD per object
    assert bucket.heads + bucket.lists < 300
    assert _pulled(s3["url"], "build@1", tmp_path, "back") == files


def test_listing_pages_cut_short_still_answer_every_object(s3, tmp_path, monkeypatch):
    """Pages of two keys: a folder with more keys than its listing may read is answered up
    to its last listed key, and by HEADs past it; a second version sends only what changed."""
    files = _files(600, 2)
    store = Store(tmp_path / "store")
    store.put("build", write_tree(tmp_path / "build", files))
    monkeypatch.setattr(S3Bucket, "list_page", 2)
    asyncio.run(S3Remote.open(s3["url"]).push(store, "build"))
    changed = dict(files)
    for path in list(files)[::50]:  # 12 new files among 600
        changed[path] = random.Random(path).randbytes(2000)
    store.put("build", write_tree(tmp_path / "build2", changed))
    bucket = RequestCountingBucket(s3["url"])
    report = asyncio.run(S3Remote(bucket).push(store, "build"))
    assert report.version == "build@2"
    # the 12 files, the directories they are in (d0, d2) and the root: nothing else
    assert report.objects_sent == 12 + 2 + 1, report
    assert bucket.heads > 0 and bucket.lists > 0  # both ways of asking were used
    assert _pulled(s3["url"], "build@2", tmp_path, "v2") == changed
    assert _pulled(s3["url"], "build@1", tmp_path, "v1") == files


class OrderCheckingBucket(S3Bucket):
    """The real bucket, watched (nothing changed): when a tree object's PUT starts, every
    tree object it names must already be stored, or a push cut at that moment would leave
    a tree in the bucket that claims more than is there."""

    def __init__(self, url: str) -> None:
        super().__init__(parse_s3_url(url))
        self.stored: set[str] = set()
        self.early: list[str] = []
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, **kwargs: Any) -> None:
        if "/objects/trees/" in key:
            digest = key.split("/objects/trees/")[1].replace("/", "")
            names = [sub for _, sub in tree_level(data, digest, "") if sub is not None]
            with self._lock:
                lacking = [
                    n for n in names if self.target.object_key("trees", n) not in self.stored
                ]
                self.early += [f"{digest[:8]} before {n[:8]}" for n in lacking]
        super().put(key, data, **kwargs)
        with self._lock:
            self.stored.add(key)


def test_a_tree_object_goes_up_only_after_every_tree_it_names(s3, tmp_path):
    """Many directories (uploads at once), and one directory's content twice, at depths 1
    and 2 (one tree object named by the root and by b/): each tree object is sent only once
    all it names is stored."""
    files = {f"d{i:02d}/f.txt": f"{i}\n".encode() for i in range(40)}
    files |= {"x/f.txt": b"same\n", "b/x/f.txt": b"same\n", "b/g.txt": b"g\n"}
    store = Store(tmp_path / "store")
    store.put("build", write_tree(tmp_path / "build", files))
    bucket = OrderCheckingBucket(s3["url"])
    asyncio.run(S3Remote(bucket).push(store, "build"))
    assert bucket.early == []
    assert len([k for k in bucket.stored if "/objects/trees/" in k]) == 40 + 3  # x once


class PageCountingBucket(S3Bucket):
    """The real bucket, with the keys each listing page returned counted (nothing changed)."""

    def __init__(self, url: str) -> None:
        super().__init__(parse_s3_url(url))
        self.listed = 0

    def call(self, what: str, op: Any, **kwargs: Any) -> Any:
        answer = super().call(what, op, **kwargs)
        if what.startswith("listing "):
            self.listed += len(answer.get("Contents", []))
        return answer


def test_a_few_keys_asked_in_a_full_folder_cost_a_short_listing(s3):
    """40 objects in one folder, 4 asked about: the listing reads at most 2 keys per key
    asked (8), not the whole folder; the answers are right either way."""
    bucket = PageCountingBucket(s3["url"])
    rng = random.Random(9)
    keys = [bucket.target.key("objects", "blobs", "ab", rng.randbytes(31).hex()) for _ in range(40)]
    for key in keys:
        bucket.put(key, b"x")
    absent = [
        bucket.target.key("objects", "blobs", "ab", rng.randbytes(31).hex()) for _ in range(2)
    ]
    asked = sorted(keys)[:2] + absent
    assert asyncio.run(bucket.lacking(asked)) == set(absent)
    assert bucket.listed <= 8
