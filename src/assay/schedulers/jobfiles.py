"""The files a job runs besides its own script, shipped with it.

* the pack runner (:mod:`assay.schedulers.packrun`): ``python3 -I PACKRUN MANIFEST.json``;
* the comparison engine as one zip (:mod:`assay.compare.bundle`):
  ``python3 -I COMPARE SPEC.json -o VERDICT.json``;
* the store agent as one file (:mod:`assay.store.agent.bundle`):
  ``python3 -I AGENT [--root DIR]``, the far end of a transfer, for a job that stages from a
  store itself (over a connection, assay sends the agent down the pipe instead).

All use only the standard library and run on Python >= 3.7, on machines where assay is not
installed. Each is written once per session into the session's job directory, under a name
that holds a hash of its content (``packrun-<hash>.py``, ``compare-<hash>.pyz``): a copy
another version of assay wrote there (a session resumed after an upgrade) has another name
and is never run by mistake, and a file found under the right name is used only if it holds
exactly the right bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from assay.compare.bundle import bundle_bytes
from assay.files import write_atomic
from assay.store.agent.bundle import agent_bytes

PACKRUN_SOURCE = Path(__file__).with_name("packrun.py")


def _packrun_bytes() -> bytes:
    return PACKRUN_SOURCE.read_bytes()


class JobFiles:
    """The shipped files of one session, in ``directory`` (made when the first is needed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._shipped: dict[str, Path] = {}

    def packrun(self) -> Path:
        """The pack runner."""
        return self._ship("packrun", ".py", _packrun_bytes)

    def compare(self) -> Path:
        """The comparison engine."""
        return self._ship("compare", ".pyz", bundle_bytes)

    def agent(self) -> Path:
        """The store agent."""
        return self._ship("agent", ".py", agent_bytes)

    def _ship(self, stem: str, suffix: str, content: Callable[[], bytes]) -> Path:
        path = self._shipped.get(stem)
        if path is None:
            data = content()
            path = self.directory / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
            if not _holds(path, data):
                write_atomic(path, data)
            self._shipped[stem] = path
        return path


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False
