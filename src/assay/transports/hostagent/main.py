"""The agent's command line: ``connect NAME|- LINGER [SHA256]``."""

from __future__ import annotations

import os
import sys

from .connector import connect


def holds(digest: str) -> bool:
    """Whether the agent's file (``sys.argv[0]``: the zip as shipped, however it was
    started) is the one whose SHA-256 starts with ``digest`` (the one assay sent: a
    damaged or stale copy is sent again, not run)."""
    import hashlib

    try:
        with open(sys.argv[0], "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest().startswith(digest) and bool(digest)
    except OSError:
        return False


def name_from_stdin() -> str | None:
    """The daemon's name as the first line of the channel (``connect -``: the connector is
    started while assay still loads, before it knows the session); None if assay went away
    first (then nothing is started). Read a byte at a time: what follows is the daemon's."""
    data = b""
    while not data.endswith(b"\n"):
        if len(data) > 80:
            raise SystemExit("assay agent: no name on the first line")
        chunk = os.read(0, 1)
        if not chunk:
            return None
        data += chunk
    return data[:-1].decode("ascii", "replace")


def main(argv: list[str]) -> int:
    if len(argv) in (3, 4) and argv[0] == "connect":
        if len(argv) == 4 and not holds(argv[3]):
            sys.stderr.write("assay agent: this copy is not the one assay sent\n")
            return 3
        name = argv[1]
        if name == "-":
            os.write(1, b"ASSAY-AGENT-WAITING\n")  # started: the name may come
            named = name_from_stdin()
            if named is None:
                return 0
            name = named
        connect(name, float(argv[2]))
        return 0
    sys.stderr.write("usage: python3 -I hostagent.pyz connect NAME|- LINGER_SECONDS [SHA256]\n")
    return 2
