"""The in-job fetcher: a job brings a tree from object storage itself (standard library only).

    python3 -I bucket_fetch.py MANIFEST

assay writes this file and a MANIFEST (JSON, mode 0600) into the case's stage dir when the
case's partition has ``store_remote``: the directories, links and files of a stored tree,
each file with the objects its content is stored as, and for each object its size, the
SHA-256 of its bytes and a presigned GET URL (made at submit time, valid for a while; no
credentials reach the job). The job downloads the objects straight from the bucket, checks
each one's size and SHA-256 as it arrives, and builds the tree under a temporary name next
to its target, renamed into place at the end: jobs of one session that need the same tree
share it, and a job that finds it there uses it. The manifest is removed when the fetch
ends, whatever the outcome (its links are secrets until they expire).

Runs on any Python >= 3.7 on a compute node; no part of assay is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

Object = tuple[str, int, str, str]  # KIND/DIGEST, size, SHA-256, URL (typing: Python 3.7)

WORKERS = 8  # downloads at once
BLOCK = 1 << 20
EXIT = 3  # the job's exit status when the fetch fails


class FetchError(Exception):
    """A fetch that cannot go on (the message names the object and the file)."""


def _safe(rel: str) -> str:
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in parts):
        raise FetchError(f"the manifest names a path outside its tree: {rel!r}")
    return rel


def _download(obj: Object, where: str, path: str, expires: float, out: IO[bytes]) -> None:
    """Stream one object into ``out``; its SHA-256 and size checked."""
    name, size, sha256, url = obj
    hasher = hashlib.sha256()
    got = 0
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"{where}: object {name} (file {path}): not an http(s) link")
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (checked above)
            while True:
                block = answer.read(BLOCK)
                if not block:
                    break
                got += len(block)
                if got > size:
                    break
                hasher.update(block)
                out.write(block)
    except urllib.error.HTTPError as exc:
        late = time.time() > expires
        why = (
            "its download link expired (links are made when the job is submitted and last "
            "the partition's store_remote_expiry)"
            if late
            else f"the server answered HTTP {exc.code}"
        )
        raise FetchError(f"{where}: object {name} (file {path}): {why}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise FetchError(
            f"{where}: object {name} (file {path}): download failed: {reason}"
        ) from None
    if got != size or hasher.hexdigest() != sha256:
        raise FetchError(
            f"{where}: object {name} (file {path}) does not match its SHA-256 on arrival "
            f"({got} bytes, {size} expected): it was damaged or replaced in the bucket; push "
            "the version again"
        )


def _file(spec: dict[str, Any], root: str, where: str, expires: float) -> None:
    rel = _safe(spec["path"])
    target = os.path.join(root, rel)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        for obj in spec["objects"]:
            _download(obj, where, rel, expires, out)
    os.chmod(target, 0o555 if spec.get("exec") else 0o444)


def fetch(manifest: dict[str, Any]) -> str:
    target = manifest["target"]
    if os.path.isdir(target):
        return "present"
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    partial = f"{target}.partial-{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(partial)
    try:
        for rel in manifest["dirs"]:
            os.mkdir(os.path.join(partial, _safe(rel)))
        where, expires = manifest["where"], manifest["expires"]
        with ThreadPoolExecutor(WORKERS) as pool:
            jobs = [pool.submit(_file, f, partial, where, expires) for f in manifest["files"]]
            for job in jobs:
                job.result()
        for rel, link in manifest["links"]:  # last: no file is ever written through one
            os.symlink(link, os.path.join(partial, _safe(rel)))
        try:
            os.rename(partial, target)
        except OSError:
            if not os.path.isdir(target):
                raise
            shutil.rmtree(partial, ignore_errors=True)  # another job got there first
            return "present"
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return "fetched"


def main(argv: list[str]) -> int:
    path = argv[1]
    try:
        with open(path, "rb") as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        print(f"assay: cannot read the fetch list {path}: {exc}", file=sys.stderr)
        return EXIT
    finally:
        try:
            os.unlink(path)  # its links are secrets: gone as soon as they are read
        except OSError:
            pass
    try:
        done = fetch(manifest)
    except FetchError as exc:
        print(f"assay: fetching {manifest.get('name')} failed: {exc}", file=sys.stderr)
        return EXIT
    except OSError as exc:
        print(
            f"assay: fetching {manifest.get('name')} failed: {exc.filename}: {exc.strerror}",
            file=sys.stderr,
        )
        return EXIT
    print(f"assay: {manifest.get('name')} {done}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
