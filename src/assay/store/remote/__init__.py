"""Stores on other hosts, through the store agent (:mod:`assay.store.agent`).

``open_remote_store(pipe, root=...)`` over a :class:`BytePipe` (a local process, the OpenSSH
client, an SSH channel) gives a :class:`RemoteStore`: push versions to it, pull them from
it, stage trees there by hard links, keep them pinned while remote runs use them, verify it.
"""

from __future__ import annotations

from assay.store.remote.client import AgentBug, ConnectionLost, RemoteEndpoint
from assay.store.remote.pipes import BytePipe, OpenSSHPipe, ProcessPipe, agent_command, ssh_argv
from assay.store.remote.store import RemoteStore, RemoteVerifyReport, open_remote_store

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
