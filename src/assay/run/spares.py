"""Empty stdout and stderr files of passed cases, used again by the next local cases.

A local case's run writes ``assay-run.out`` and ``assay-run.err``; for most passing cases
both are empty and tell nothing. Keeping them costs two new files per case, and on some
file systems a new file costs far more than moving one: measured on this machine's ext4
(in /tmp, where the benches run), creating a file 250-400 us of CPU (the inode's
allocation: a hard link or a rename, which make no inode, 14-17 us; an ``O_TMPFILE``,
which makes one, as much as a named file), where the case's own command creates one.

So a passed case's empty files are not kept in its output dir: they wait here (still in
that output dir, by its path and identity) and become the stdout and stderr files of a
later local case, moved into its fresh stage dir before its job opens them (which
truncates them: whatever they hold by then is gone). The files the session did not use
again are removed when it ends. Each is moved through its directory's descriptor, opened
without following a link and checked to be that output dir still: a link swapped in at
its name moves nothing out of wherever it leads.

Only files that are regular, empty and of one link are offered: no name elsewhere (a hard
link the job made) can see what a later case writes to them. The job's processes are gone
by then (every process a case started is killed when its run ends); files are only
offered at cleanup, after that.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from assay.compare import beneath
from assay.run import scripts

OUTPUTS = (scripts.RUN_OUT, scripts.RUN_ERR)
"""The files a local job opens for its stdout and stderr (created if missing)."""
LIMIT = 256
"""The most files waiting at once (the rest are removed at once: a session whose cases
all run elsewhere takes none)."""


def empty_outputs(fd: int, entries: Iterable[str]) -> list[str]:
    """Which of the stage dir ``fd``'s stdout and stderr files (``entries``: its names)
    are regular, empty files of one link."""
    return [name for name in OUTPUTS if name in entries and _one_file(fd, name, empty=True)]


def _one_file(fd: int, name: str, empty: bool = False) -> bool:
    """Whether ``name`` in the directory ``fd`` is a regular file of one link (and
    ``empty``)."""
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and not (empty and info.st_size)


class SpareFiles:
    """The empty files waiting to be a later case's stdout and stderr, by directory."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._waiting: deque[tuple[str, tuple[int, int], list[str]]] = deque()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def room(self) -> bool:
        return self._count < self.limit

    def offer(self, directory: Path, ident: tuple[int, int], names: list[str]) -> None:
        """The files ``names`` of the output dir ``directory`` (the directory ``ident``)
        wait for a later case (see :func:`empty_outputs`)."""
        if names:
            self._waiting.append((str(directory), ident, names))
            self._count += len(names)

    def take(
        self,
        stage_dir: Path,
        ident: tuple[int, int] | None = None,
        names: tuple[str, ...] = OUTPUTS,
    ) -> list[str]:
        """Move waiting files into the new stage dir ``stage_dir`` (the directory ``ident``)
        as ``names``; the names that got one. Anything that goes wrong leaves the name to
        the job (which creates its file, as it does without this). The move goes into the
        stage dir's descriptor: another case's job that swapped a link in at its path
        (stage dirs are siblings) moves nothing to where it leads."""
        if not self._waiting:
            return []
        try:
            into = beneath.open_dir(str(stage_dir), ident)
        except OSError:
            return []
        try:
            return self._take(into, list(names))
        finally:
            os.close(into)

    def _take(self, into: int, wanted: list[str]) -> list[str]:
        got: list[str] = []
        while wanted and self._waiting:
            directory, ident, files = self._waiting[0]
            try:
                fd = beneath.open_dir(directory, ident)
            except OSError:  # gone, or not that directory any more: not through it
                self._drop()
                continue
            try:
                while wanted and files:
                    name = files.pop()
                    self._count -= 1
                    if not _one_file(fd, name):  # (linked or replaced since: not used)
                        continue
                    target = wanted.pop()
                    try:
                        os.rename(name, target, src_dir_fd=fd, dst_dir_fd=into)
                    except OSError:
                        wanted.append(target)
                        continue
                    got.append(target)
            finally:
                os.close(fd)
            if not files:
                self._waiting.popleft()
        return got

    def _drop(self) -> None:
        _, _, files = self._waiting.popleft()
        self._count -= len(files)

    def remove(self) -> None:
        """Remove every file still waiting (the session ends): a passed case's empty
        stdout and stderr are not kept."""
        while self._waiting:
            directory, ident, files = self._waiting.popleft()
            self._count -= len(files)
            try:
                fd = beneath.open_dir(directory, ident)
            except OSError:
                continue
            try:
                for name in files:
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=fd)
            finally:
                os.close(fd)
