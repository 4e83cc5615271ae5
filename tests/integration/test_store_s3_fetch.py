"""Jobs fetching a version straight from the bucket (real S3 server, the real stdlib
fetcher run as a job runs it: ``python3 -I bucket_fetch.py MANIFEST``)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import stat
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import pytest

from assay.errors import AssayError
from assay.run import bucket_fetch
from assay.run.bucket_inputs import BucketInputs
from assay.store import Store
from assay.store.s3 import S3Remote
from assay.store.s3.presign import fetch_manifest
from tests.conftest import write_tree
from tests.integration import test_store_s3

s3 = test_store_s3.s3  # the server's settings and a fresh prefix (a fixture)


def _pushed(s3: dict[str, str], tmp_path: Path) -> tuple[S3Remote, dict[str, bytes]]:
    rng = random.Random(5)
    files = {f"d{i}/f{j}.bin": rng.randbytes(3000) for i in range(3) for j in range(5)}
    files["big.bin"] = rng.randbytes(9 * 2**20)  # stored as chunks
    files["bin/run"] = b"#!/bin/sh\necho run\n"
    tree = write_tree(tmp_path / "build", files)
    (tree / "bin/run").chmod(0o755)
    os.symlink("bin/run", tree / "run")
    store = Store(tmp_path / "pusher")
    store.put("solver", tree)
    remote = S3Remote.open(s3["url"])
    asyncio.run(remote.push(store, "solver"))
    return remote, files


def _run_fetcher(manifest: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    job = tmp_path / "job"
    job.mkdir(exist_ok=True)
    script = job / "bucket_fetch.py"
    script.write_text(Path(bucket_fetch.__file__).read_text())
    listing = job / "fetch.json"
    listing.write_text(json.dumps(manifest))
    listing.chmod(0o600)
    # a job's environment: no credentials, no assay on the path
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-I", str(script), str(listing)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_job_fetches_a_version_held_only_in_the_bucket(s3, tmp_path):
    remote, files = _pushed(s3, tmp_path)
    version = remote.resolve("solver")
    target = tmp_path / "fetched" / version.tree
    manifest = fetch_manifest(remote.bucket, version, str(target), 600)
    assert all("X-Amz-Signature=" in o[3] for f in manifest["files"] for o in f["objects"])
    done = _run_fetcher(manifest, tmp_path)
    assert done.returncode == 0, done.stderr
    got = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    got.pop("run")  # the symlink, read through
    assert got == files
    assert os.readlink(target / "run") == "bin/run"
    assert os.access(target / "bin/run", os.X_OK)
    assert not (target / "d0/f0.bin").stat().st_mode & stat.S_IWUSR  # read-only, as checkouts
    assert not (tmp_path / "job/fetch.json").exists()  # its links are gone with it
    assert "solver@1 fetched" in done.stderr
    again = _run_fetcher(manifest, tmp_path)  # another job of the session: it is there
    assert again.returncode == 0 and "present" in again.stderr


def test_an_object_tampered_with_in_the_bucket_fails_the_fetch_naming_it(s3, tmp_path):
    remote, _ = _pushed(s3, tmp_path)
    version = remote.resolve("solver")
    entry = Store(tmp_path / "pusher").tree(version.tree).by_path()["d1/f3.bin"]
    key = remote.bucket.target.object_key("blobs", entry.hash or "")
    remote.bucket.put(key, b"y" * 3000)  # same size, other bytes
    target = tmp_path / "fetched" / version.tree
    done = _run_fetcher(fetch_manifest(remote.bucket, version, str(target), 600), tmp_path)
    assert done.returncode == bucket_fetch.EXIT
    assert f"blobs/{entry.hash}" in done.stderr and "d1/f3.bin" in done.stderr
    assert "does not match its SHA-256" in done.stderr and "Traceback" not in done.stderr
    assert not target.exists() and list(target.parent.iterdir()) == []  # nothing half-made
    assert "Signature=" not in done.stderr and "http" not in done.stderr  # no link shown


def test_an_expired_link_is_named_as_such(s3, tmp_path):
    remote, _ = _pushed(s3, tmp_path)
    version = remote.resolve("solver")
    manifest = fetch_manifest(remote.bucket, version, str(tmp_path / "out"), 1)
    time.sleep(2.5)
    done = _run_fetcher(manifest, tmp_path)
    assert done.returncode == bucket_fetch.EXIT
    assert "download link expired" in done.stderr, done.stderr


_CONFIG = """
[systems.here]
[systems.here.partitions.main]
store_remote = "{url}"
store_remote_expiry = "10m"
"""

_TEST = """
import assay


class Solver(assay.Test):
    artifacts = {"solver": "store:solver@1"}
    command = 'wc -c < "$ASSAY_SOLVER/d2/f4.bin"; "$ASSAY_SOLVER/bin/run"'

    def sanity(self, out):
        out.expect(r"^3000$")
        out.expect(r"^run$")
"""


def test_a_case_on_a_store_remote_partition_fetches_its_build_in_the_job(
    s3, assay_cli, write, tmp_path
):
    """The version is only in the bucket (pushed from another store): the case's job fetches
    it and passes; the run's own store never holds it, no link is left in a file."""
    _pushed(s3, tmp_path)
    write("assay.toml", _CONFIG.format(url=s3["url"]))
    write("test_solver.py", _TEST)
    result = assay_cli("run", "test_solver.py")
    assert result.code == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    [found] = (tmp_path / ".assay/runs").glob("*/report.json")
    report = json.loads(found.read_text())
    [case] = report["cases"]
    assert case["artifacts"][0]["ref"] == f"solver@1 in {s3['url']}"
    run_store = Store(tmp_path / ".store")  # the run's store (ASSAY_STORE of assay_cli)
    assert run_store.refs.names() == []  # nothing came through this machine's store
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"Signature=" in p.read_bytes()]
    assert leaked == []


def test_a_tampered_object_fails_the_case_naming_it(s3, assay_cli, write, tmp_path):
    remote, _ = _pushed(s3, tmp_path)
    version = remote.resolve("solver")
    entry = Store(tmp_path / "pusher").tree(version.tree).by_path()["d2/f4.bin"]
    remote.bucket.put(remote.bucket.target.object_key("blobs", entry.hash or ""), b"z" * 3000)
    write("assay.toml", _CONFIG.format(url=s3["url"]))
    write("test_solver.py", _TEST)
    result = assay_cli("run", "test_solver.py")
    assert result.code != 0
    shown = result.stdout + result.stderr
    shown += "".join(
        p.read_text(errors="replace") for p in (tmp_path / ".assay").rglob("*") if p.is_file()
    )
    assert f"blobs/{entry.hash}" in shown and "d2/f4.bin" in shown, shown[-3000:]
    assert "does not match its SHA-256" in shown


def test_links_of_a_job_that_never_ran_are_not_kept(s3, assay_cli, write, tmp_path):
    """The build fails, so the run job (which would fetch and remove its list) never starts:
    the list of links must not stay in the kept stage dir of the failed case."""
    _pushed(s3, tmp_path)
    write("assay.toml", _CONFIG.format(url=s3["url"]))
    write("test_solver.py", _TEST.replace("    command =", "    build = 'exit 1'\n    command ="))
    result = assay_cli("run", "test_solver.py")
    assert result.code != 0 and "1 failed" in result.stdout, result.stdout
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"Signature=" in p.read_bytes()]
    assert leaked == []


def test_a_source_named_like_the_fetcher_or_its_list_fails_the_case_and_leaks_nothing(
    s3, assay_cli, write, tmp_path
):
    """The list of links and the fetcher have fixed names in the stage dir, which holds the
    test's sources first: a source symlink of such a name (to a file others can read, or
    dangling) once received the links. Such sources are refused; every target is in a
    sandbox under this test's tmp dir."""
    _pushed(s3, tmp_path)
    sandbox = tmp_path / "sandbox" / "deep"
    sandbox.mkdir(parents=True)
    shared = sandbox / "shared.json"
    shared.write_text("{}")
    write("assay.toml", _CONFIG.format(url=s3["url"]))
    src = tmp_path / "src"
    src.mkdir()
    os.symlink(shared, src / ".assay-fetch-solver.json")
    os.symlink(sandbox / "planted.py", src / ".assay-fetch.py")  # dangling
    write(
        "test_solver.py", _TEST.replace("    artifacts =", '    sources = "src/"\n    artifacts =')
    )
    result = assay_cli("run", "test_solver.py", "--plain")
    assert shared.read_text() == "{}" and not (sandbox / "planted.py").exists()
    assert result.code == 1 and "names assay keeps for its own files" in result.stdout
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"Signature=" in p.read_bytes()]
    assert leaked == []


@pytest.mark.parametrize("planted", ["symlink", "dangling", "hard link", "directory"])
def test_the_list_of_links_is_a_new_private_file_whatever_the_stage_dir_held(s3, tmp_path, planted):
    """Below the check of sources: whatever entry the stage dir holds at the list's or the
    fetcher's name, the links go into a new file of mode 0600 there, or nowhere."""
    _pushed(s3, tmp_path)
    sandbox = tmp_path / "sandbox" / "deep"
    sandbox.mkdir(parents=True)
    outside = sandbox / "outside.json"
    outside.write_text("{}")
    outside.chmod(0o644)
    stage = tmp_path / "runs" / "stage" / "case"
    stage.mkdir(parents=True)
    listing, fetcher = stage / ".assay-fetch-build.json", stage / ".assay-fetch.py"
    if planted == "symlink":
        os.symlink(outside, listing)
        os.symlink(outside, fetcher)
    elif planted == "dangling":
        os.symlink(sandbox / "new.json", listing)
        os.symlink(sandbox / "new.py", fetcher)
    elif planted == "hard link":
        os.link(outside, listing)
    else:
        listing.mkdir()
    inputs = BucketInputs()

    async def prepare() -> object:
        return await inputs.prepare(
            s3["url"], "store:solver@1", "build", stage, PurePosixPath(stage), 600
        )

    if planted == "directory":
        with pytest.raises(AssayError, match=r"cannot write \.assay-fetch-build\.json"):
            asyncio.run(prepare())
    else:
        asyncio.run(prepare())
        assert not listing.is_symlink() and listing.stat().st_mode & 0o777 == 0o600
        assert b"Signature=" in listing.read_bytes()
        assert not fetcher.is_symlink() and b"def fetch" in fetcher.read_bytes()
    assert outside.read_text() == "{}" and outside.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in sandbox.iterdir()) == ["outside.json"]
