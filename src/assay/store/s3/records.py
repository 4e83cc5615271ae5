"""Version records in a bucket: ``names/NAME/vN.json``, one object per version."""

from __future__ import annotations

import re
import secrets
import time

import msgspec

from assay.store.names import Version, check_name
from assay.store.objects import StoreError
from assay.store.s3.bucket import _DIGEST, S3Bucket, Taken, _Missing
from assay.store.transfer_types import TransferError

_LEAF = re.compile(r"v([0-9]+)\.json")
MAX_TRIES = 50  # numbers tried when other pushes of the same name keep taking them
# Seconds a push waits before it reads its record back a second time, on a server that does
# not honour If-None-Match: longer than another push takes from finding the key free (a HEAD
# just before writing) to writing it, so an overwrite in that window is still seen.
SETTLE = 1.0


def read_versions(bucket: S3Bucket, name: str) -> list[Version]:
    """Every version of ``name`` in the bucket, oldest first (each record checked against
    the key it is stored under)."""
    check_name(name)
    prefix = bucket.target.key("names", name) + "/"
    found = []
    for key in bucket.keys(prefix):
        number = _LEAF.fullmatch(key[len(prefix) :])
        if number is None:
            continue
        try:
            version = msgspec.json.decode(bucket.get(key), type=Version)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise StoreError(f"{bucket.where}: {key} is not a version record") from None
        # a record is believed only for the name and number its key gives it
        if (version.name, version.version) != (
            name,
            int(number.group(1)),
        ) or not _DIGEST.fullmatch(version.tree):
            raise StoreError(
                f"{bucket.where}: {key} records {version.ref} (tree {version.tree[:20]!r}), "
                f"not {name}@{number.group(1)}: not a record this store wrote"
            )
        found.append(version)
    return sorted(found, key=lambda v: v.version)


def add_version(bucket: S3Bucket, record: dict[str, object]) -> dict[str, object]:
    """Record a pushed version under the next number of its name (unless the newest
    version already is that tree)."""
    try:
        version = msgspec.convert(record, Version)
    except msgspec.ValidationError as exc:
        raise TransferError(f"not a version record: {exc}") from None
    check_name(version.name)
    if not bucket.exists(bucket.target.object_key("trees", version.tree)):
        raise TransferError(
            f"cannot record {version.name}: tree {version.tree[:16]} is not in "
            f"{bucket.where}; push it first"
        )
    # Two pushes of one name can choose the same number: each record is written only if
    # its key is free (If-None-Match: *), and the one refused reads again and takes the next.
    # A server that ignores the condition lets the later write replace the earlier: each
    # push reads its record back, and on such a server it also looks whether the key is
    # free just before writing and reads back again after SETTLE; one whose record was
    # replaced takes the next number too.
    careful = not honours_conditions(bucket, version.name)
    for _ in range(MAX_TRIES):
        existing = read_versions(bucket, version.name)
        if existing and existing[-1].tree == version.tree:
            return {"version": msgspec.to_builtins(existing[-1]), "created": False}
        number = existing[-1].version + 1 if existing else 1
        added = msgspec.structs.replace(version, version=number, source_kind="transfer")
        key = bucket.target.key("names", version.name, f"v{number}.json")
        data = msgspec.json.encode(added)
        if careful and bucket.exists(key):
            continue  # taken since the listing
        try:
            bucket.put(key, data, if_absent=True)
        except Taken:
            continue
        if not _still_ours(bucket, key, data):
            continue
        if careful:
            time.sleep(SETTLE)
            if not _still_ours(bucket, key, data):
                continue
        return {"version": msgspec.to_builtins(added), "created": True}
    raise TransferError(
        f"{bucket.where}: could not record {version.name}: {MAX_TRIES} other pushes of that "
        "name took each number first; push again"
    )


def _still_ours(bucket: S3Bucket, key: str, data: bytes) -> bool:
    """Whether ``key`` holds exactly the record this push wrote (records carry their
    creation time and source: two pushes' records differ)."""
    try:
        return bucket.get(key) == data
    except _Missing:
        return False


def honours_conditions(bucket: S3Bucket, name: str) -> bool:
    """Whether the server refuses a conditional write (If-None-Match: *) on a taken key, as
    S3 does; asked once per bucket, with a probe key of its own that is removed again."""
    if bucket.honours_if_none_match is None:
        probe = bucket.target.key("probes", f"{name}-{secrets.token_hex(8)}")
        bucket.put(probe, b"probe")
        try:
            bucket.put(probe, b"probe", if_absent=True)
            bucket.honours_if_none_match = False
        except Taken:
            bucket.honours_if_none_match = True
        finally:
            bucket.delete(probe)
    return bucket.honours_if_none_match
