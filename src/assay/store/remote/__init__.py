"""Stores on other hosts, through the store agent (:mod:`assay.store.agent`).

``open_remote_store(pipe, root=...)`` over a :class:`BytePipe` (a local process, the OpenSSH
client, an SSH channel) gives a :class:`RemoteStore`: push versions to it, pull them from
it, stage trees there by hard links, keep them pinned while remote runs use them, verify it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.lazy import exports

if TYPE_CHECKING:
    from assay.store.remote.client import AgentBug, ConnectionLost, RemoteEndpoint
    from assay.store.remote.pipes import (
        BytePipe,
        OpenSSHPipe,
        ProcessPipe,
        agent_command,
        ssh_argv,
    )
    from assay.store.remote.store import RemoteStore, RemoteVerifyReport, open_remote_store

# Loaded on first use: ``assay store push`` starts ssh (pipes) before it imports the store.
__getattr__ = exports(
    __name__,
    {
        "AgentBug": "assay.store.remote.client",
        "ConnectionLost": "assay.store.remote.client",
        "RemoteEndpoint": "assay.store.remote.client",
        "BytePipe": "assay.store.remote.pipes",
        "OpenSSHPipe": "assay.store.remote.pipes",
        "ProcessPipe": "assay.store.remote.pipes",
        "agent_command": "assay.store.remote.pipes",
        "ssh_argv": "assay.store.remote.pipes",
        "RemoteStore": "assay.store.remote.store",
        "RemoteVerifyReport": "assay.store.remote.store",
        "open_remote_store": "assay.store.remote.store",
    },
)

__all__ = [
    "AgentBug",
    "BytePipe",
    "ConnectionLost",
    "OpenSSHPipe",
    "ProcessPipe",
    "RemoteEndpoint",
    "RemoteStore",
    "RemoteVerifyReport",
    "agent_command",
    "open_remote_store",
    "ssh_argv",
]
