"""What a job needs to fetch a version from a bucket itself: a manifest of presigned links.

Made at submit time on the machine that runs assay (which has boto3 and the credentials):
the version's tree objects are read from the bucket and checked against their BLAKE3 names
here, and every file is listed with the objects its content is stored as, each with its
size, the SHA-256 the push recorded (:mod:`.sums`) and a presigned GET URL valid for
``expires`` seconds. The job (:mod:`assay.run.bucket_fetch`) needs nothing but the standard
library and never sees a credential; the links themselves are secrets until they expire,
so the manifest goes only into a file of mode 0600 that the fetcher removes after reading.
"""

from __future__ import annotations

import time
from typing import Any

from assay.store.names import Version
from assay.store.objects import Corrupt, StoreError
from assay.store.s3.bucket import S3Bucket
from assay.store.s3.sums import read_sums
from assay.store.transfer import tree_level
from assay.store.trees import file_objects


def fetch_manifest(bucket: S3Bucket, version: Version, target: str, expires: int) -> dict[str, Any]:
    """The manifest for fetching ``version``'s tree into ``target`` (see the module's
    docstring)."""
    dirs: list[str] = []
    links: list[list[str]] = []
    files: list[dict[str, Any]] = []
    levels: dict[str, tuple[list[Any], dict[str, str]]] = {}
    pending = [(version.tree, "")]
    while pending:
        digest, path = pending.pop()
        if digest not in levels:
            levels[digest] = (_level(bucket, digest), read_sums(bucket, digest))
        entries, sums = levels[digest]
        for entry, subtree in entries:
            full = f"{path}/{entry.path}" if path else entry.path
            if entry.type == "dir":
                dirs.append(full)
                if subtree is not None:
                    pending.append((subtree, full))
            elif entry.type == "symlink":
                links.append([full, entry.target or ""])
            else:
                objects = []
                for kind, name, size in file_objects(entry):
                    sha = sums.get(f"{kind}/{name}")
                    if sha is None:
                        raise StoreError(
                            f"{bucket.where}: the sums of tree {digest[:16]} lack {kind}/{name} "
                            f"(file {full}); push {version.name} again"
                        )
                    url = _presign(bucket, bucket.target.object_key(kind, name), expires)
                    objects.append([f"{kind}/{name}", size, sha, url])
                files.append({"path": full, "exec": entry.executable, "objects": objects})
    dirs.sort(key=lambda d: d.count("/"))  # parents first
    return {
        "name": version.ref,
        "where": bucket.where,
        "target": target,
        "expires": time.time() + expires,
        "dirs": dirs,
        "links": links,
        "files": files,
    }


def _level(bucket: S3Bucket, digest: str) -> list[Any]:
    """The entries of one tree object read from the bucket (its BLAKE3 checked here)."""
    try:
        data = bucket.tree(digest)
    except Corrupt:
        raise Corrupt(
            f"{bucket.where}: tree {digest[:16]} does not hash to its name: it was damaged or "
            "replaced in the bucket; push the version again"
        ) from None
    return tree_level(data, digest, "")


def _presign(bucket: S3Bucket, key: str, expires: int) -> str:
    url: str = bucket.client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket.target.bucket, "Key": key}, ExpiresIn=expires
    )
    return url
