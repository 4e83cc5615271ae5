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

A passed case's inputs copied into its stage dir (a suite case's ``in.txt``: files of one
link, its own) are not kept either: rather than removed (an unlink costs about half as
much as a new file), each is emptied and offered too (:func:`emptied_inputs`), and a
later case's run script is written into one (:data:`SPARE_SCRIPT`, see
:func:`assay.run.scripts.write`): per tiny suite case, one new file and one removal
fewer. An input is emptied through a descriptor of the file itself (opened with
``O_PATH`` and without following a link, then opened again through ``/proc/self/fd``):
what a link swapped in at its name leads to is never truncated, nor its mode changed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from assay import procstate
from assay.compare import beneath
from assay.run import scripts

OUTPUTS = (scripts.RUN_OUT, scripts.RUN_ERR)
"""The files a local job opens for its stdout and stderr (created if missing)."""
WITH_SCRIPT = (scripts.SPARE_SCRIPT, *OUTPUTS)
"""The names a local case's stage dir takes spares at: its stdout and stderr first, then
the file its run script is written into."""
LIMIT = 256
"""The most files waiting at once (the rest are removed at once: a session whose cases
all run elsewhere takes none)."""


def empty_outputs(fd: int, entries: Iterable[str]) -> list[str]:
    """Which of the stage dir ``fd``'s stdout and stderr files (``entries``: its names)
    are regular, empty files of one link."""
    return [name for name in OUTPUTS if name in entries and _one_file(fd, name, empty=True)]


def _one_file(fd: int, name: str, empty: bool = False) -> os.stat_result | None:
    """``name`` in the directory ``fd``, looked at, if it is a regular file of one link (and
    ``empty``)."""
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and not (empty and info.st_size):
        return info
    return None


def emptied_inputs(fd: int, names: Iterable[str], mode: int) -> list[str]:
    """Which of the files ``names`` (top-level inputs of the stage dir ``fd``, which is
    about to become an output dir without them) are now empty files of mode ``mode``,
    ready to be offered: each a regular file of one link, owned by this process's user
    (a file of another user, given to it by the job, is not written to)."""
    ready = []
    euid = os.geteuid()
    for name in names:
        try:
            held = os.open(name, _PATH, dir_fd=fd)  # (a link at the name: ELOOP, untouched)
        except OSError:
            continue
        try:
            info = os.fstat(held)
            if not (stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_uid == euid):
                continue
            # The file held, by its descriptor's /proc name: that inode, whatever is at the
            # name now. The mode first: a read-only copy cannot be opened for writing.
            proc = f"/proc/self/fd/{held}"
            os.chmod(proc, mode)
            os.close(os.open(proc, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC))
        except OSError:
            continue
        finally:
            os.close(held)
        ready.append(name)
    return ready


_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class SpareFiles:
    """The empty files waiting to be a later case's stdout and stderr, by directory."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._waiting: deque[tuple[str, tuple[int, int], list[str]]] = deque()
        self._count = 0
        self._umask: int | None = None

    def mode(self) -> int:
        """The mode of a file the session creates (0666 less the umask, read once): the
        mode an input offered gets, and a run script written into one."""
        if self._umask is None:
            self._umask = procstate.read_umask()
        return 0o666 & ~self._umask

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
                    info = _one_file(fd, name)
                    if info is None:  # (linked or replaced since: not used)
                        continue
                    target = wanted.pop()
                    try:
                        os.rename(name, target, src_dir_fd=fd, dst_dir_fd=into)
                    except OSError:
                        wanted.append(target)
                        continue
                    if target == scripts.SPARE_SCRIPT:
                        scripts.placed(info, self.mode())
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
