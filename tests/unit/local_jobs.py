"""Starting a shell command as a local job in a test's directory (real processes)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from assay.transports.local import LocalProcess, LocalTransport


async def spawn_shell(
    transport: LocalTransport, tmp_path: Path, i: int, command: str
) -> LocalProcess:
    """``sh -c command`` in ``tmp_path``, its output in ``out-i`` and ``err-i`` there."""
    return await transport.spawn(
        ["/bin/sh", "-c", command],
        cwd=PurePosixPath(tmp_path),
        stdout=PurePosixPath(tmp_path / f"out-{i}"),
        stderr=PurePosixPath(tmp_path / f"err-{i}"),
    )
