"""The S3 remote against a real S3 server (SeaweedFS, started by ``scripts/s3-ci up``; its
settings from ``scripts/s3-ci env``). Skipped when none is configured, unless
ASSAY_REQUIRE_S3=1 (``scripts/test-all`` sets it), which makes that a failure."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.store import Store, StoreError
from assay.store.s3 import S3Bucket, S3Remote, S3Sink, parse_s3_url
from assay.store.s3.direct import DirectPut
from assay.store.sync import LocalSource
from assay.store.transfer import CorruptInTransit, Transfer
from tests.conftest import write_tree

MIB = 2**20


def _settings() -> dict[str, str]:
    keys = ("ENDPOINT", "BUCKET", "ACCESS_KEY", "SECRET_KEY")
    found = {k: os.environ.get(f"ASSAY_TEST_S3_{k}", "") for k in keys}
    if not all(found.values()):
        message = "no S3 server configured (scripts/s3-ci up; eval $(scripts/s3-ci env))"
        if os.environ.get("ASSAY_REQUIRE_S3") == "1":
            pytest.fail(f"ASSAY_REQUIRE_S3=1 but {message}")
        pytest.skip(message)
    return found


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The server's settings, its credentials in this process's environment (as a user sets
    them), a fresh prefix per test, and HOME pointed away from the real ~/.aws."""
    found = _settings()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", found["ACCESS_KEY"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", found["SECRET_KEY"])
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", found["ENDPOINT"])
    found["url"] = f"s3://{found['BUCKET']}/t-{uuid.uuid4().hex[:12]}"
    yield found
    _remove(found["url"])  # the CI server holds 1 GiB: leftovers of every run would fill it


def _remove(url: str) -> None:
    """Every object and unfinished upload under a test's prefix."""
    bucket = S3Bucket(parse_s3_url(url))
    client, name = bucket.client, bucket.target.bucket
    keys = bucket.keys(bucket.target.key() + "/")
    # A key no XML document can hold (a test's hostile name with an escape character) cannot
    # go in a DeleteObjects request: those go one by one.
    plain = [k for k in keys if k.isprintable()]
    for key in set(keys) - set(plain):
        client.delete_object(Bucket=name, Key=key)
    for start in range(0, len(plain), 1000):
        chunk = [{"Key": k} for k in plain[start : start + 1000]]
        client.delete_objects(Bucket=name, Delete={"Objects": chunk, "Quiet": True})
    uploads = client.list_multipart_uploads(Bucket=name, Prefix=bucket.target.key() + "/")
    for upload in uploads.get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])


def _keys(url: str) -> list[str]:
    bucket = S3Bucket(parse_s3_url(url))
    return bucket.keys(bucket.target.key("objects") + "/")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    rng = random.Random(7)
    files = {f"d{i}/f{j}.bin": rng.randbytes(3000) for i in range(5) for j in range(20)}
    files["bin/solver"] = b"#!/bin/sh\necho solver\n"
    root = write_tree(tmp_path / "build", files)
    (root / "bin/solver").chmod(0o755)
    return root


def test_push_pull_and_ls_through_the_cli(s3, assay_cli, build, tmp_path):
    url = s3["url"]
    assert assay_cli("store", "put", "solver", str(build)).code == 0
    pushed = assay_cli("store", "push", "-q", url, "solver")
    assert pushed.code == 0, pushed.stderr
    assert f"pushed solver@1 to {url} as solver@1 (new version)" in pushed.stdout
    assert len(_keys(url)) == 101 + 7  # 101 files, 7 tree objects (root, bin, d0..d4)

    listed = assay_cli("store", "ls", url)
    assert listed.code == 0 and listed.stdout.split()[0] == "solver@1"

    (build / "d3/f7.bin").write_bytes(b"changed\n")
    assert assay_cli("store", "put", "solver", str(build)).code == 0
    again = assay_cli("store", "push", "-q", url, "solver")
    # only what the bucket lacks: the file and the two directories on its path (root, d3/)
    assert "as solver@2 (new version)" in again.stdout
    assert "sent 8 B" not in again.stdout and "3 of " in again.stdout, again.stdout

    other = tmp_path / "other"
    other.mkdir()
    pulled = assay_cli("store", "pull", "-q", url, "solver@1", cwd=other)
    assert pulled.code == 0, pulled.stderr
    got = assay_cli("store", "get", "solver", str(tmp_path / "out"), cwd=other)
    assert got.code == 0
    assert (tmp_path / "out/d3/f7.bin").read_bytes() != b"changed\n"  # version 1
    assert os.access(tmp_path / "out/bin/solver", os.X_OK)


def test_credentials_from_a_profile_and_never_printed(s3, assay_cli, build, tmp_path):
    """The standard places: a profile in ~/.aws/credentials chosen by AWS_PROFILE. A wrong
    secret is refused with a message that names the fix, and no output holds a secret."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws/credentials").write_text(
        f"[ci]\naws_access_key_id = {s3['ACCESS_KEY']}\n"
        f"aws_secret_access_key = {s3['SECRET_KEY']}\n"
        "[wrong]\naws_access_key_id = ci-access-key\naws_secret_access_key = not-the-secret-xyz\n"
    )
    base = {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_ENDPOINT_URL_S3": s3["ENDPOINT"],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    assert assay_cli("store", "put", "solver", str(build)).code == 0
    good = assay_cli(
        "store", "push", "-q", s3["url"], "solver", env={**env, **base, "AWS_PROFILE": "ci"}
    )
    assert good.code == 0, good.stderr
    bad = assay_cli(
        "store", "push", "-q", s3["url"], "solver", env={**env, **base, "AWS_PROFILE": "wrong"}
    )
    assert bad.code != 0
    assert "refused the credentials" in bad.stderr and "AWS_PROFILE" in bad.stderr
    assert "Traceback" not in bad.stderr
    debug = assay_cli(
        "--debug", "store", "ls", s3["url"], env={**env, **base, "AWS_PROFILE": "wrong"}
    )
    none = assay_cli("store", "ls", s3["url"], env={**env, **base, "HOME": str(tmp_path / "no")})
    assert "no S3 credentials found" in none.stderr
    for result in (good, bad, debug, none):
        for secret in (s3["SECRET_KEY"], "not-the-secret-xyz"):
            assert secret not in result.stdout + result.stderr


_KILLED_PUSH = """
import asyncio, os, signal, sys
from pathlib import Path
from assay.store import Store
from assay.store.s3 import S3Remote

acked = 0

def progress(status):
    global acked
    if status.phase == "sending" and status.bytes_done >= {kill_after}:
        os.kill(os.getpid(), signal.SIGKILL)  # a cut: no cleanup, no goodbye

asyncio.run(S3Remote.open(sys.argv[2]).push(Store(Path(sys.argv[1])), "big", progress=progress,
                                            piece={piece}))
"""


def test_a_multipart_upload_killed_midway_resumes_from_its_last_whole_part(s3, tmp_path):
    """Objects past one piece go up in parts. The pushing process is killed (SIGKILL) once
    the first part of an object is acknowledged; the next push finds the unfinished uploads
    in the bucket and sends only what they lack."""
    piece = 5 * MIB  # S3's smallest part; files below 8 MiB are one object each
    rng = random.Random(11)
    files = {f"f{i}.bin": rng.randbytes(7 * MIB) for i in range(3)}
    build = write_tree(tmp_path / "build", files)
    store = Store(tmp_path / "store")
    store.put("big", build)
    store.close()
    script = _KILLED_PUSH.format(kill_after=piece, piece=piece)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(store.root), s3["url"]],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    bucket = S3Bucket(parse_s3_url(s3["url"]))

    def waiting_parts() -> tuple[int, int]:
        uploads = bucket.call("listing", bucket.client.list_multipart_uploads).get("Uploads", [])
        mine = [u for u in uploads if u["Key"].startswith(bucket.target.key())]
        parts = sum(
            len(
                bucket.client.list_parts(
                    Bucket=s3["BUCKET"], Key=u["Key"], UploadId=u["UploadId"]
                ).get("Parts", [])
            )
            for u in mine
        )
        return len(mine), parts

    # A part whose bytes were on their way when the pusher died can still be stored by the
    # server a moment later (seen in CI under load: 3 parts resumed, 2 counted): count once
    # the listing has stayed the same for a second (at most 30 s).
    uploads, held = waiting_parts()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1)
        again = waiting_parts()
        if again == (uploads, held):
            break
        uploads, held = again
    # objects go up at once: each cut in the middle has its whole first parts waiting
    assert 1 <= uploads <= 3
    assert held >= 1
    assert S3Remote(bucket).names() == []  # no version without its objects

    report = asyncio.run(S3Remote.open(s3["url"]).push(Store(store.root), "big", piece=piece))
    assert report.version == "big@1"
    assert report.bytes_resumed == held * piece  # the parts that arrived are not sent again
    total = sum(len(v) for v in files.values())
    assert report.bytes_sent + report.bytes_skipped + report.bytes_resumed == report.bytes_needed
    assert report.bytes_sent < total + 4096 - piece

    back = Store(tmp_path / "back")
    asyncio.run(S3Remote.open(s3["url"]).pull(back, "big"))
    back.get("big", tmp_path / "out")
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data


class BitFlippingDirectPutFake(DirectPut):
    """Fault injected (a real network does not flip bits on demand): the body sent differs
    in one bit from the bytes its MD5 and SHA-256 were taken of."""

    def _send(self, path: str, headers: dict[str, str], data: bytes) -> tuple[int, bytes]:
        return super()._send(path, headers, bytes([data[0] ^ 1]) + data[1:])


class CorruptingBucketFake(S3Bucket):
    """The real bucket, its single PUTs sent by :class:`BitFlippingDirectPutFake`."""

    def _direct_put(self) -> DirectPut | None:
        sender = super()._direct_put()
        assert sender is not None
        if not isinstance(sender, BitFlippingDirectPutFake):
            sender = BitFlippingDirectPutFake(sender.endpoint, sender.region, sender.credentials)
            self._direct = sender
        return sender


def test_bytes_damaged_on_the_way_up_are_refused_by_the_server(s3, build, tmp_path):
    store = Store(tmp_path / "store")
    store.put("solver", build)
    bucket = CorruptingBucketFake(parse_s3_url(s3["url"]))
    transfer = Transfer(LocalSource(store), S3Sink(bucket))
    with pytest.raises(CorruptInTransit, match="did not arrive as sent"):
        asyncio.run(transfer.send_tree(store.resolve("solver").tree))
    assert _keys(s3["url"]) == []  # nothing damaged was stored


def test_an_object_damaged_in_the_bucket_is_caught_on_pull(s3, build, tmp_path):
    store = Store(tmp_path / "store")
    version = store.put("solver", build).version
    remote = S3Remote.open(s3["url"])
    asyncio.run(remote.push(store, "solver"))
    entry = store.tree(version.tree).by_path()["d2/f5.bin"]
    bucket = remote.bucket
    bucket.put(bucket.target.object_key("blobs", entry.hash or ""), b"x" * entry.size)
    dest = Store(tmp_path / "dest")
    with pytest.raises(StoreError, match=r"corrupt in transit|does not hash"):
        asyncio.run(remote.pull(dest, "solver"))
    assert dest.refs.names() == []  # no version recorded from damaged objects


def test_a_bucket_url_that_is_not_one_is_refused_clearly(assay_cli):
    for url in ("s3://UPPER/x", "s3://ok-bucket/../x", "s3://a/x"):
        result = assay_cli("store", "ls", url)
        assert result.code != 0 and "Traceback" not in result.stderr
        assert "s3://" in result.stderr


def test_a_version_record_that_lies_about_itself_is_refused(s3, build, tmp_path):
    """A bucket is shared storage: a record under names/a/v1.json that claims to be another
    version, or names a tree that is no object name, is not believed."""
    store = Store(tmp_path / "store")
    store.put("solver", build)
    remote = S3Remote.open(s3["url"])
    asyncio.run(remote.push(store, "solver"))
    bucket = remote.bucket
    record = bucket.get(bucket.target.key("names", "solver", "v1.json"))
    bucket.put(bucket.target.key("names", "other", "v1.json"), record)
    with pytest.raises(StoreError, match="not a record this store wrote"):
        remote.resolve("other")
    forged = record.replace(b'"name":"solver"', b'"name":"forged"').replace(
        record[record.index(b'"tree":"') + 8 : record.index(b'"tree":"') + 72], b"../" * 21 + b"x"
    )
    bucket.put(bucket.target.key("names", "forged", "v1.json"), forged)
    with pytest.raises(StoreError, match="not a record this store wrote"):
        asyncio.run(remote.pull(Store(tmp_path / "dest"), "forged"))
    assert remote.resolve("solver").version == 1  # the real one still reads


def test_a_hostile_name_in_the_bucket_is_named_escaped_and_the_others_still_list(
    s3, assay_cli, build, tmp_path
):
    """A bucket is shared: a key names/NAME/v1.json whose NAME is no store name (an escape
    sequence that would set the terminal's clipboard) does not stop `ls` from listing the
    real versions, and reaches the terminal escaped."""
    url = s3["url"]
    assert assay_cli("store", "put", "solver", str(build)).code == 0
    assert assay_cli("store", "push", "-q", url, "solver").code == 0
    bucket = S3Bucket(parse_s3_url(url))
    record = bucket.get(bucket.target.key("names", "solver", "v1.json"))
    bucket.put(bucket.target.key("names", "x\x1b]52;c;QQ==\x07", "v1.json"), record)
    listed = assay_cli("store", "ls", url)
    assert listed.code == 0, listed
    assert listed.stdout.split()[0] == "solver@1"
    assert "\x1b" not in listed.stdout + listed.stderr and "\x07" not in listed.stderr
    assert "'x\\x1b]52;c;QQ==\\x07' is not a valid name" in listed.stderr, listed.stderr
