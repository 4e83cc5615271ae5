"""The first bytes a client writes to a new agent: the agent's code (unless it was started
from a shipped file) and the ``hello`` request (id 1) naming the store.

They depend on nothing the transfer computes, so ``assay store push`` writes them into the
ssh pipe as soon as ssh starts, before it loads the store: the agent starts (and says hello)
while the client is still importing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.store.agent import wire
from assay.store.remote.pipes import OpenSSHPipe, agent_command, ssh_program

if TYPE_CHECKING:
    from assay.store.remote.targets import SshTarget

HELLO_ID = 1  # the first request of every connection


def opening_bytes(
    root: str | None, *, purpose: str = "transfer", create: bool = True, ship: bool = True
) -> bytes:
    """The agent's code (``ship``) followed by the ``hello`` request."""
    hello = {
        "id": HELLO_ID,
        "op": "hello",
        "root": root,
        "purpose": purpose,
        "create": create,
        "client": os.uname().nodename,  # socket.gethostname(), without importing socket
    }
    code = b""
    if ship:
        from assay.store.agent.bundle import shipped_bytes

        code = shipped_bytes()
    return code + wire.encode(hello)


@dataclass
class StartedSsh:
    """An ssh started by :func:`start_ssh`, and the opening bytes written into it."""

    pipe: OpenSSHPipe
    opening: bytes

    async def stop(self) -> None:
        await self.pipe.stop()


async def start_ssh(target: SshTarget, *, create: bool) -> StartedSsh:
    """Start ``ssh`` to the agent of ``target`` (not a partition's) and write the agent's
    code and the hello request into it at once: the connection is made, and the agent
    starts, while the caller goes on (``assay store push`` loads the store meanwhile)."""
    pipe = await OpenSSHPipe.connect(
        target.host,
        agent_command(),
        user=target.user,
        port=target.port,
        config=target.config,
        ssh=ssh_program(),
    )
    opening = opening_bytes(target.root, create=create)
    pipe.write(opening)
    return StartedSsh(pipe, opening)
