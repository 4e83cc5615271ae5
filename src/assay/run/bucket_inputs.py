"""Artifacts a partition's jobs fetch from object storage themselves (``store_remote``).

A partition with ``store_remote = "s3://BUCKET/PREFIX"`` takes every artifact that is one
``store:NAME[@V]`` layer from that bucket, not from this machine's store: the version is
resolved in the bucket (its own numbering), its tree objects are read and checked here, and
the case's run job starts by fetching the files straight from the bucket with the stdlib
fetcher (:mod:`assay.run.bucket_fetch`) and presigned links (:mod:`assay.store.s3.presign`).
Nothing of the artifact passes through this machine or the login node, and no credential
reaches the job. Each tree is fetched once per session where the jobs run
(``STAGE_ROOT/.fetched/TREE``); the links are made once per session and written only into a
file of mode 0600 in the case's stage dir, which the fetcher removes as it reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

from assay.define.artifact_refs import STORE_PREFIX
from assay.errors import AssayError
from assay.results.model import ArtifactUse

FETCHER = ".assay-fetch.py"  # the fetcher's file in a stage dir
# Its source, copied into stage dirs (read, not imported: urllib.request is slow to import,
# and the run does not need it).
FETCHER_SOURCE = Path(__file__).with_name("bucket_fetch.py")


def from_bucket(layers: list[str]) -> bool:
    """Whether an artifact of these layers comes from the partition's bucket."""
    return len(layers) == 1 and layers[0].startswith(STORE_PREFIX)


class BucketInputs:
    """The bucket versions a session uses, each manifest made once (links presigned once)."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str, str], asyncio.Future[tuple[Any, dict[str, Any]]]] = {}

    async def prepare(
        self,
        remote: str,
        layer: str,
        name: str,
        stage_dir: Path,
        job_dir: PurePosixPath,
        expires: float,
    ) -> tuple[PurePosixPath, ArtifactUse, str]:
        """Write the fetcher and the manifest of ``layer`` into ``stage_dir``; where the job
        finds the tree, what the report records, and the job's line that fetches it."""
        ref = layer[len(STORE_PREFIX) :]
        if "#" in ref:
            raise AssayError(
                f"artifact {name!r}: {layer!r} names a tag; a partition with store_remote "
                f"({remote}) takes versions from the bucket, which has no tags: use NAME@V"
            )
        root = job_dir.parent / ".fetched"
        key = (remote, ref, str(root))
        task = self._made.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(asyncio.to_thread(_manifest, remote, ref, root, expires))
            self._made[key] = task
        version, manifest = await asyncio.shield(task)
        listing = stage_dir / f".assay-fetch-{name}.json"
        import json  # (here: no run needs it before its first case)

        _write_new(listing, json.dumps(manifest).encode(), 0o600)
        fetcher = stage_dir / FETCHER
        _write_new(fetcher, FETCHER_SOURCE.read_bytes(), 0o644)
        line = (
            f"python3 -I {shlex.quote(str(job_dir / FETCHER))} "
            f"{shlex.quote(str(job_dir / listing.name))} || exit $?"
        )
        use = ArtifactUse(name, 0, f"{version.ref} in {remote}", version.tree)
        return PurePosixPath(manifest["target"]), use, line


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """``data`` in a new file at ``path``, whatever the staged sources put there first: a
    symlink is not followed (it could lead the links out of the stage dir, into a file
    others can read) and a file hard-linked from the sources is not written into."""
    try:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as exc:
        raise AssayError(
            f"cannot write {path.name} in the stage dir ({exc.strerror}): the test's sources "
            "hold an entry of that name, which assay needs; rename it"
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def drop_lists(stage_fd: int) -> None:
    """Remove the lists of links a case's jobs did not read (a job that never started):
    they must not stay in a kept stage dir while their links are valid. ``stage_fd``: the
    stage dir, opened (each name removed in it, not through a link put at its name)."""
    for name in os.listdir(stage_fd):
        if name.startswith(".assay-fetch-") and name.endswith(".json"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=stage_fd)


def _manifest(remote: str, ref: str, root: PurePosixPath, expires: float) -> tuple[Any, Any]:
    from assay.store.s3 import S3Remote  # lazy: boto3 takes a while to import
    from assay.store.s3.presign import fetch_manifest

    bucket = S3Remote.open(remote)
    version = bucket.resolve(ref)
    target = str(root / version.tree)
    return version, fetch_manifest(bucket.bucket, version, target, int(expires))
