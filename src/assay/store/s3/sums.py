"""SHA-256 sums of a bucket store's files, for readers with only the standard library.

Objects are named by BLAKE3, which Python's standard library lacks; a job that fetches
objects from the bucket with plain HTTP (:mod:`assay.run.bucket_fetch`) checks each against
the SHA-256 of its bytes instead. A push writes, for every directory's tree object it sends,
``sums/XX/REST`` (the tree's name): a JSON object ``{"KIND/DIGEST": SHA256}`` of the objects
its files are stored as (a file's blob, or its chunks). The pusher computes them from its
own verified store (those it sends as they go up, the others by reading them), and writes a
directory's sums after its objects and before the version record.

Trust: a sums object is as trustworthy as the version records next to it (whoever may
rewrite ``names/`` can already point a name at any tree); what it adds is that an object
damaged or replaced in the bucket on its own no longer matches, and a job refuses it.
"""

from __future__ import annotations

import hashlib

import msgspec

from assay.store.objects import StoreError
from assay.store.s3.bucket import S3Bucket, _Missing
from assay.store.store import Store
from assay.store.transfer import ObjectId, tree_level
from assay.store.trees import file_objects, read_tree_object, stored_trees

_SUMS = msgspec.json.Decoder(dict[str, str])


def sums_key(bucket: S3Bucket, tree: str) -> str:
    return bucket.target.key("sums", tree[:2], tree[2:])


async def write_sums(bucket: S3Bucket, store: Store, tree: str, known: dict[ObjectId, str]) -> int:
    """Write the sums of every directory of the stored ``tree`` the bucket has none for;
    ``known``: SHA-256s already computed (of the objects just sent). How many it wrote."""
    dirs = stored_trees(store.objects, tree)
    keys = {sums_key(bucket, d): d for d in dirs}
    lacking = await bucket.lacking(list(keys))
    for key in sorted(lacking):
        digest = keys[key]
        sums: dict[str, str] = {}
        for entry, _ in tree_level(read_tree_object(store.objects, digest), digest, ""):
            for kind, name, _size in file_objects(entry):
                sha = known.get((kind, name)) or _sha256(store, kind, name)
                sums[f"{kind}/{name}"] = sha
        await bucket.run(bucket.put, key, msgspec.json.encode(sums))
    return len(lacking)


def _sha256(store: Store, kind: str, digest: str) -> str:
    hasher = hashlib.sha256()
    with open(store.objects.path(kind, digest), "rb") as fh:
        while block := fh.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


def read_sums(bucket: S3Bucket, tree: str) -> dict[str, str]:
    """The sums of one directory's tree object (an error naming it if there are none)."""
    key = sums_key(bucket, tree)
    try:
        data = bucket.get(key)
        return _SUMS.decode(data)
    except _Missing:
        raise StoreError(
            f"{bucket.where} has no SHA-256 sums for tree {tree[:16]} (a push of an older "
            "assay); push the version again to write them"
        ) from None
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise StoreError(f"{bucket.where}: {key} is not a list of sums") from None
