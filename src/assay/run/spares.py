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
its name moves nothing out of wherever it leads; and what arrives is checked again, through
a descriptor of its own, to be the file checked before the move, still of one link.

Only files that are regular, empty and of one link are offered: no name elsewhere (a hard
link the job made) can see what a later case writes to them. Nor may any process still have
one open for writing: most of a job's processes are gone by then (every process a case
started is killed when its run ends), but one that cleared its environment and left the
job's session (``setsid env -i ...``) lives on until the session ends (see
:mod:`assay.transports.contain`), still holding the job's stdout and stderr, and what it
wrote there later went into the later case's output, over its own lines. The kernel tells:
a read lease (``F_SETLEASE``) is refused while anyone has the file open for writing (or
mapped so). Where leases are not to be had (another system, a file system without them,
``fs.leases-enable = 0``) no file is used again; the jobs make their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
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
    return _checked(fd, name, empty) is not None


def _checked(fd: int, name: str, empty: bool = False) -> tuple[int, int] | None:
    """The identity of ``name`` in the directory ``fd`` when it is a regular file of one
    link (and ``empty``), else None."""
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and not (empty and info.st_size):
        checked = (info.st_dev, info.st_ino)
        # (Opened only once it is a regular file: opening a device can do things.)
        return checked if _arrived(fd, name, checked) else None
    return None


_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# The signal a lease break sends its holder: SIGIO's default action ends the process, and
# a process opening the file for writing in the moment the lease is held breaks it; SIGURG's
# default is to ignore it.
_LEASE_SIGNAL = signal.SIGURG


def _no_writer(fd: int) -> bool:
    """Whether no process has the file open at ``fd`` (opened read-only) for writing: the
    kernel refuses a read lease then (EAGAIN). The lease is given up as ``fd`` closes."""
    setlease = getattr(fcntl, "F_SETLEASE", None)
    if setlease is None:  # not Linux: nothing tells
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, _LEASE_SIGNAL)
        fcntl.fcntl(fd, setlease, fcntl.F_RDLCK)
    except OSError:  # EAGAIN: a writer; EINVAL: no leases here; EACCES: not the user's file
        return False
    return True


def _arrived(into: int, name: str, checked: tuple[int, int]) -> bool:
    """Whether what is at ``name`` in ``into`` is the file ``checked`` (where a rename put it,
    or where it was looked at), still of one link, and open for writing nowhere: looked at
    through a descriptor of its own, not by name."""
    try:
        fd = os.open(name, _OPEN, dir_fd=into)
    except OSError:  # a link (ELOOP), or gone
        return False
    try:
        info = os.fstat(fd)
        return (
            stat.S_ISREG(info.st_mode)
            and info.st_nlink == 1
            and (info.st_dev, info.st_ino) == checked
            and _no_writer(fd)
        )
    finally:
        os.close(fd)


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
                    checked = _checked(fd, name)
                    if checked is None:  # (linked or replaced since: not used)
                        continue
                    target = wanted.pop()
                    try:
                        os.rename(name, target, src_dir_fd=fd, dst_dir_fd=into)
                    except OSError:
                        wanted.append(target)
                        continue
                    # Checked again where it arrived: a process that swapped a hard link to
                    # a file of the user's in at the name between the check and the rename
                    # would have had the job truncate that file and write into it.
                    if not _arrived(into, target, checked):
                        with contextlib.suppress(OSError):
                            os.unlink(target, dir_fd=into)  # (the entry: the job makes its own)
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
