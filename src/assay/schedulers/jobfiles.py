"""The files a job runs besides its own script, shipped with it.

* the pack runner (:mod:`assay.schedulers.packrun`): ``python3 -I PACKRUN MANIFEST.json``;
* the comparison engine as one zip (:mod:`assay.compare.bundle`):
  ``python3 -I COMPARE SPEC.json -o VERDICT.json``;
* the store agent as one file (:mod:`assay.store.agent.bundle`):
  ``python3 -I AGENT [--root DIR]``, the far end of a transfer, for a job that stages from a
  store itself (over a connection, assay sends the agent down the pipe instead).

All use only the standard library and run on Python >= 3.7, on machines where assay is not
installed. Each is written once per session into the session's job directory on the host
the jobs run on (through its transport), under a name that holds a hash of its content
(``packrun-<hash>.py``, ``compare-<hash>.pyz``): a copy another version of assay wrote there
(a session resumed after an upgrade) has another name and is never run by mistake, and a
file found under the right name is used only if it holds exactly the right bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from assay.transports.base import Transport

PACKRUN_SOURCE = Path(__file__).with_name("packrun.py")


def _packrun_bytes() -> bytes:
    return PACKRUN_SOURCE.read_bytes()


# The bundles are built (and their modules imported) only when a job needs them: a local
# run never does, and the comparison engine's command line is not part of its start-up.
def _compare_bytes() -> bytes:
    from assay.compare.bundle import bundle_bytes

    return bundle_bytes()


def _agent_bytes() -> bytes:
    from assay.store.agent.bundle import agent_bytes

    return agent_bytes()


_CONTENT: dict[str, tuple[str, Callable[[], bytes]]] = {
    "packrun": (".py", _packrun_bytes),
    "compare": (".pyz", _compare_bytes),
    "agent": (".py", _agent_bytes),
}


class JobFiles:
    """The shipped files of one session, in ``directory`` on ``transport``'s host (made
    when the first is shipped). The paths are known at once (job scripts name them); the
    files are written by :meth:`ship`, before the first job that runs them."""

    def __init__(self, directory: PurePosixPath, transport: Transport) -> None:
        self.directory = PurePosixPath(directory)
        self.transport = transport
        self._data: dict[str, bytes] = {}
        self._paths: dict[str, PurePosixPath] = {}
        self._shipping: dict[str, asyncio.Task[None]] = {}

    def packrun(self) -> PurePosixPath:
        """Where the pack runner is (once shipped)."""
        return self._path("packrun")

    def compare(self) -> PurePosixPath:
        """Where the comparison engine is (once shipped)."""
        return self._path("compare")

    def agent(self) -> PurePosixPath:
        """Where the store agent is (once shipped)."""
        return self._path("agent")

    def _path(self, stem: str) -> PurePosixPath:
        path = self._paths.get(stem)
        if path is None:
            suffix, content = _CONTENT[stem]
            data = self._data[stem] = content()
            import hashlib  # (OpenSSL: a file of 100s of kB; off a local run's path)

            digest = hashlib.sha256(data).hexdigest()[:16]
            path = self._paths[stem] = self.directory / f"{stem}-{digest}{suffix}"
        return path

    async def ship(self, stem: str) -> PurePosixPath:
        """Write ``stem``'s file onto the host unless it holds it already; once per session
        (concurrent callers wait for the one write)."""
        path = self._path(stem)
        task = self._shipping.get(stem)
        if task is None or (task.done() and task.exception() is not None):
            task = self._shipping[stem] = asyncio.ensure_future(self._write(path, stem))
        await asyncio.shield(task)
        return path

    async def _write(self, path: PurePosixPath, stem: str) -> None:
        data = self._data[stem]
        try:
            if await self.transport.read_bytes(path) == data:
                return
        except OSError:
            pass
        await self.transport.mkdir(path.parent)
        # Written under a temporary name first: a job never starts a half-written file.
        partial = path.with_name(f".{path.name}.partial")
        await self.transport.write_bytes(partial, data)
        await self.transport.rename(partial, path)
