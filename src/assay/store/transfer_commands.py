"""What ``assay store push`` and ``assay store pull`` do and print."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import click
import msgspec

from assay.store.commands import size
from assay.store.objects import StoreError
from assay.store.remote.opening import StartedSsh, start_ssh
from assay.store.remote.pipes import agent_command
from assay.store.remote.store import RemoteStore, open_remote_store
from assay.store.remote.targets import SshTarget
from assay.store.store import Store
from assay.store.transfer_types import ProgressCallback, TransferError, TransferReport
from assay.terminal import echo


@asynccontextmanager
async def connect(
    target: SshTarget, *, create: bool, started: StartedSsh | None = None
) -> AsyncIterator[RemoteStore]:
    """The store ``target`` names: a partition's through assay's SSH transport (its
    settings, one exec channel), any other through ``ssh`` (the user's ssh configuration
    applies); ``started``: the ssh of :func:`start_ssh` for it, with the same ``create``."""
    if target.ssh is None:
        started = started or await start_ssh(target, create=create)
        try:
            remote = await open_remote_store(
                started.pipe,
                root=target.root,
                where=target.describe(),
                create=create,
                opened=started.opening,
            )
        except BaseException:
            await started.pipe.close()
            raise
        try:
            yield remote
        finally:
            await remote.close()
        return
    from assay.transports.base import TransportError
    from assay.transports.ssh import SshTransport  # lazy: start-up time (asyncssh)

    ssh = target.ssh
    if target.config is not None:  # --ssh-config
        ssh = msgspec.structs.replace(ssh, config=target.config)
    transport = SshTransport(ssh, session=f"store-{secrets.token_hex(6)}")
    try:
        try:
            await transport.connect()
        except TransportError as exc:
            raise TransferError(f"{target.describe()}: {exc}") from None
        root = str(transport.path(target.root)) if target.root else None
        channel = await transport.open_pipe(["sh", "-c", agent_command(ssh.python)])
        remote = await open_remote_store(channel, root=root, where=target.describe(), create=create)
        try:
            yield remote
        finally:
            await remote.close()
    finally:
        await transport.close()


async def push(
    store: Store,
    target: SshTarget,
    ref: str,
    progress: ProgressCallback | None = None,
    started_ssh: StartedSsh | None = None,
) -> int:
    try:
        version = store.resolve(ref)
    except BaseException:
        if started_ssh is not None:  # started before the store was loaded: end it now
            await started_ssh.stop()
        raise
    started = time.perf_counter()
    async with connect(target, create=True, started=started_ssh) as remote:
        report = await remote.push(store, version.ref, progress=progress)
        wire = remote.bytes_sent + remote.bytes_received
    seconds = time.perf_counter() - started
    _print("pushed", version.ref, remote.where, report, seconds, wire)
    return 0


async def pull(
    store: Store,
    target: SshTarget,
    ref: str,
    progress: ProgressCallback | None = None,
    started_ssh: StartedSsh | None = None,
) -> int:
    started = time.perf_counter()
    async with connect(target, create=False, started=started_ssh) as remote:
        report = await remote.pull(store, ref, progress=progress)
        wire = remote.bytes_sent + remote.bytes_received
        source = (await remote.resolve(ref)).ref
    seconds = time.perf_counter() - started
    _print("pulled", source, f"the store at {store.root}", report, seconds, wire)
    return 0


async def push_s3(
    store: Store, url: str, ref: str, progress: ProgressCallback | None = None
) -> int:
    from assay.store.s3 import S3Remote  # lazy: boto3 takes ~0.3 s to import

    version = store.resolve(ref)  # before connecting: a wrong name costs no request
    remote = S3Remote.open(url)
    started = time.perf_counter()
    report = await remote.push(store, version.ref, progress=progress)
    _print("pushed", version.ref, remote.where, report, time.perf_counter() - started, None)
    return 0


async def pull_s3(
    store: Store, url: str, ref: str, progress: ProgressCallback | None = None
) -> int:
    from assay.store.s3 import S3Remote

    remote = S3Remote.open(url)
    started = time.perf_counter()
    report = await remote.pull(store, ref, progress=progress)
    where = f"the store at {store.root}"
    source = f"{ref} from {remote.where}"
    _print("pulled", source, where, report, time.perf_counter() - started, None)
    return 0


def ls_s3(url: str, names: tuple[str, ...]) -> int:
    """The versions in a bucket, one line each (newest last)."""
    from assay.store.s3 import S3Remote

    remote = S3Remote.open(url)
    for name in names or tuple(remote.names()):
        try:
            versions = remote.versions(name)
        except StoreError as exc:
            if names:  # asked for by name: that is the error
                raise
            # a key of the shared bucket that this store did not write: the rest still lists
            echo(f"assay: warning: {url}: {exc}", err=True)
            continue
        for version in versions:
            echo(
                f"{version.ref:<24} {version.tree[:16]}  {version.files:>8,} files  "
                f"{size(version.bytes):>9}"
            )
    return 0


def _print(
    verb: str, ref: str, where: str, report: TransferReport, seconds: float, wire: int | None
) -> None:
    state = "new version" if report.version_created else "already there: the same tree"
    echo(f"{verb} {ref} to {where} as {report.version} ({state})")
    details = [f"{report.objects_sent:,} of {report.objects_needed:,} objects"]
    if report.bytes_skipped:
        details.append(f"{size(report.bytes_skipped)} already there")
    if report.bytes_resumed:
        details.append(f"{size(report.bytes_resumed)} resumed")
    on_wire = f"; {size(wire)} on the wire" if wire is not None else ""
    click.echo(
        f"  sent {size(report.bytes_sent)} ({', '.join(details)}) in {seconds:.1f} s{on_wire}"
    )
