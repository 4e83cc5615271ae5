"""Single PUTs sent without boto3 (assay.store.s3.direct) against the real S3 server, through
a proxy that records what arrives and injects the faults a real server does not show on
demand (answers of 503, connections cut before an answer)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.store import Store, StoreError
from assay.store.s3 import S3Bucket, S3Remote, parse_s3_url
from assay.store.transfer import TransferError
from tests.certs import self_signed
from tests.conftest import write_tree
from tests.integration import test_store_s3
from tests.integration.s3_proxy import FaultInjectingS3Proxy, Seen

s3 = test_store_s3.s3  # the server's settings and a fresh prefix (a fixture)


@pytest.fixture
def proxy(s3: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultInjectingS3Proxy]:
    """The proxy in front of the test's server, as the endpoint every bucket made after uses."""
    with FaultInjectingS3Proxy(s3["ENDPOINT"]) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", running.url)
        yield running
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3["ENDPOINT"])  # the prefix's cleanup


def _expected(seen: Seen) -> int:
    """Every PUT is stored, but the probe's second, conditional one (see records.py)."""
    return 412 if "/probes/" in seen.path and "if-none-match" in seen.headers else 200


def _puts(proxy: FaultInjectingS3Proxy, part: str) -> list[Seen]:
    return [s for s in proxy.faults.seen if s.method == "PUT" and part in s.path]


def test_every_object_of_a_push_goes_up_signed_with_the_sha256_of_its_own_bytes(
    s3, proxy, tmp_path
):
    """SeaweedFS does not check the signed payload hash (AWS does): the proxy does. Every
    object, sums and record PUT carries the SHA-256 and MD5 of the bytes that arrived, and
    none of them went through boto3."""
    rng = random.Random(3)
    files = {f"d{i % 3}/f{i}.bin": rng.randbytes(rng.randrange(0, 5000)) for i in range(60)}
    store = Store(tmp_path / "store")
    store.put("build", write_tree(tmp_path / "build", files))
    report = asyncio.run(S3Remote.open(s3["url"]).push(store, "build"))
    assert report.version == "build@1"
    puts = _puts(proxy, "/")
    assert len(puts) >= 60 + 4 + 4 + 1  # files (some may be equal), trees, sums, the record
    for seen in puts:
        assert seen.headers["x-amz-content-sha256"] == seen.body_sha256, seen.path
        assert "content-md5" in seen.headers
        assert seen.status == _expected(seen)
        assert "boto" not in seen.headers.get("user-agent", "").lower()
    back = Store(tmp_path / "back")
    asyncio.run(S3Remote.open(s3["url"]).pull(back, "build"))
    back.get("build", tmp_path / "out")
    for path, data in files.items():
        assert (tmp_path / "out" / path).read_bytes() == data


def test_puts_that_race_the_first_ones_addressing_go_direct_too(s3, proxy, monkeypatch):
    """A push's first PUTs start together in the bucket's threads: the ones that come while
    the first works out the address (slow on a loaded machine) wait for it, and none is
    sent through boto3 meanwhile (CI saw a boto3 user-agent among a push's PUTs)."""
    bucket = S3Bucket(parse_s3_url(s3["url"]))
    real = bucket.client.generate_presigned_url

    def fault_slow_presign(*args: object, **kw: object) -> str:
        time.sleep(0.5)  # the fault: a loaded machine, on demand
        return real(*args, **kw)

    monkeypatch.setattr(bucket.client, "generate_presigned_url", fault_slow_presign)
    threads = [
        threading.Thread(target=bucket.put, args=(bucket.target.key("r", str(i)), b"x"))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    puts = _puts(proxy, "/r/")
    assert len(puts) == 4
    assert all("boto" not in seen.headers.get("user-agent", "").lower() for seen in puts)


def test_answers_of_503_are_tried_again_and_then_told(s3, proxy):
    bucket = S3Bucket(parse_s3_url(s3["url"]))
    key = bucket.target.key("x", "one")
    proxy.faults.answer_503 = 2
    bucket.put(key, b"hello")
    assert len(_puts(proxy, "/x/one")) == 3  # two refused, the third stored
    assert bucket.get(key) == b"hello"

    proxy.faults.answer_503 = 100
    with pytest.raises(TransferError, match=r"writing .*/x/two failed \(ServiceUnavailable\)"):
        bucket.put(bucket.target.key("x", "two"), b"never")
    assert len(_puts(proxy, "/x/two")) == 5  # botocore's standard mode: 5 attempts
    proxy.faults.answer_503 = 0
    assert not bucket.exists(bucket.target.key("x", "two"))


def test_a_connection_cut_before_the_answer_is_tried_again_and_then_told(s3, proxy):
    bucket = S3Bucket(parse_s3_url(s3["url"]))
    proxy.faults.cut = 1
    bucket.put(bucket.target.key("c", "one"), b"data")
    assert bucket.get(bucket.target.key("c", "one")) == b"data"

    proxy.faults.cut = 100
    with pytest.raises(TransferError, match=r"cannot reach the S3 server .*pushing again resumes"):
        bucket.put(bucket.target.key("c", "two"), b"data")
    proxy.faults.cut = 0


def test_a_wrong_secret_is_refused_with_the_fix_and_never_shown(s3, monkeypatch):
    with monkeypatch.context() as env, pytest.raises(StoreError) as refused:
        env.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-xyz")
        bucket = S3Bucket(parse_s3_url(s3["url"]))
        bucket.put(bucket.target.key("w", "x"), b"data")
    message = str(refused.value)
    assert "refused the credentials (SignatureDoesNotMatch)" in message
    assert "AWS_SECRET_ACCESS_KEY" in message and "not-the-secret-xyz" not in message


def test_no_credentials_anywhere_is_told_by_name(s3, monkeypatch, tmp_path: Path):
    with monkeypatch.context() as env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.delenv(name)
        env.setenv("HOME", str(tmp_path / "nohome"))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        bucket = S3Bucket(parse_s3_url(s3["url"]))
        with pytest.raises(StoreError, match="no S3 credentials found; set AWS_ACCESS_KEY_ID"):
            bucket.put(bucket.target.key("n", "x"), b"data")


def test_keys_with_characters_to_encode_are_stored_under_their_own_name(s3, proxy):
    bucket = S3Bucket(parse_s3_url(s3["url"]))
    for leaf in ("a+b", "sp ace", "per%cent", "t~i.l-d_e"):
        key = bucket.target.key("names", leaf, "v1.json")
        bucket.put(key, leaf.encode(), sha256=hashlib.sha256(leaf.encode()).hexdigest())
        assert bucket.get(key) == leaf.encode()
        assert key in bucket.keys(bucket.target.key("names") + "/")


def test_with_a_proxy_in_the_environment_every_put_goes_through_it(s3, monkeypatch, tmp_path):
    """boto3 honours HTTP_PROXY; the direct sender steps aside, so the PUTs reach the
    proxy too (the recording proxy, used here as the forward proxy it is asked to be)."""
    with FaultInjectingS3Proxy(s3["ENDPOINT"]) as forward:
        monkeypatch.setenv("HTTP_PROXY", forward.url)
        monkeypatch.setenv("NO_PROXY", "")
        store = Store(tmp_path / "store")
        store.put("build", write_tree(tmp_path / "build", {"a.txt": b"a\n", "d/b.txt": b"b\n"}))
        report = asyncio.run(S3Remote.open(s3["url"]).push(store, "build"))
        assert report.version == "build@1"
        monkeypatch.delenv("HTTP_PROXY")
    puts = [s for s in forward.faults.seen if s.method == "PUT"]
    assert len(puts) >= 2 + 2 + 2 + 1  # files, trees, sums, the record: all by the proxy
    assert [s.status for s in puts] == [_expected(s) for s in puts]


def test_an_https_endpoint_trusts_the_ca_bundle_boto3_is_given(s3, monkeypatch, tmp_path):
    bundle = self_signed(tmp_path / "ca", "assay test CA").cert
    with monkeypatch.context() as env:
        env.setenv("AWS_CA_BUNDLE", str(bundle))
        env.setenv("AWS_ENDPOINT_URL_S3", "https://127.0.0.1:9")
        sender = S3Bucket(parse_s3_url(s3["url"]))._direct_put()
    assert sender is not None and sender.endpoint.scheme == "https"
    assert sender.context is not None
    subjects = [c["subject"] for c in sender.context.get_ca_certs()]
    assert subjects == [((("commonName", "assay test CA"),),)]


_CUT_PUSH = """
import asyncio, os, signal, sys
from pathlib import Path
from assay.store import Store
from assay.store.s3 import S3Remote

def progress(status):
    if status.phase == "sending" and status.bytes_done >= int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)  # a cut: no cleanup, no goodbye

asyncio.run(S3Remote.open(sys.argv[2]).push(Store(Path(sys.argv[1])), "build", progress=progress))
"""


def test_a_push_of_single_puts_killed_midway_sends_only_the_rest_the_next_time(s3, tmp_path: Path):
    rng = random.Random(5)
    files = {f"d{i % 5}/f{i}.bin": rng.randbytes(20_000) for i in range(200)}
    store = Store(tmp_path / "store")
    store.put("build", write_tree(tmp_path / "build", files))
    store.close()
    total = sum(len(v) for v in files.values())
    cut = subprocess.run(
        [sys.executable, "-c", _CUT_PUSH, str(store.root), s3["url"], str(total // 2)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cut.returncode == -signal.SIGKILL, cut.stderr
    bucket = S3Bucket(parse_s3_url(s3["url"]))
    landed = bucket.keys(bucket.target.key("objects", "blobs") + "/")
    assert 0 < len(landed) < 200
    assert S3Remote(bucket).names() == []  # no version without its objects

    report = asyncio.run(S3Remote.open(s3["url"]).push(Store(store.root), "build"))
    assert report.version == "build@1"
    assert report.objects_sent == 200 - len(landed) + 6  # the rest, and the 6 trees
    assert report.bytes_skipped == 20_000 * len(landed)
    back = Store(tmp_path / "back")
    asyncio.run(S3Remote.open(s3["url"]).pull(back, "build"))
    back.get("build", tmp_path / "out")
    for path, data in files.items():
        assert (tmp_path / "out" / path).read_bytes() == data


def test_a_line_break_in_the_credentials_is_named_not_a_traceback(s3, monkeypatch):
    """No HTTP header may hold a line break (header injection): a session token with one is
    a user's error, named with the variable to check; the token is not printed."""
    with monkeypatch.context() as env, pytest.raises(StoreError) as refused:
        env.setenv("AWS_SESSION_TOKEN", "tok\r\nX-Injected: yes")
        bucket = S3Bucket(parse_s3_url(s3["url"]))
        bucket.put(bucket.target.key("t", "x"), b"data")
    message = str(refused.value)
    assert "line break" in message and "AWS_SESSION_TOKEN" in message
    assert "X-Injected" not in message
