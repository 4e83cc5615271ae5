"""The transports a partition's ``transport`` setting can name, shared per host.

Partitions on this machine share the one :class:`~assay.transports.local.LocalTransport`.
Partitions whose SSH settings name the same host the same way share one
:class:`~assay.transports.ssh.SshTransport`: one connection per host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assay.config import PartitionRef
from assay.transports.base import Transport


def transports_for(
    partitions: Iterable[PartitionRef], local: Transport, session: str
) -> dict[str, Transport]:
    """The transport of each partition (by its full name)."""
    partitions = list(partitions)
    out: dict[str, Transport] = {}
    remote = [p for p in partitions if p.config.transport == "ssh"]
    if remote:
        from assay.transports.ssh import (  # lazy: start-up time (asyncssh: ~100 ms)
            SshTransport,
            connection_key,
        )

        workdirs: dict[tuple[Any, ...], list[str]] = {}
        for part in remote:
            assert part.config.ssh is not None
            listed = workdirs.setdefault(connection_key(part.config.ssh), [])
            if part.config.ssh.workdir not in listed:
                listed.append(part.config.ssh.workdir)
        shared: dict[tuple[Any, ...], Transport] = {}
        for part in remote:
            assert part.config.ssh is not None
            key = connection_key(part.config.ssh)
            if key not in shared:
                shared[key] = SshTransport(part.config.ssh, session=session, workdirs=workdirs[key])
            out[part.full_name] = shared[key]
    for part in partitions:
        out.setdefault(part.full_name, local)
    return out
