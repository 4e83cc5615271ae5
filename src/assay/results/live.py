"""Whether a session directory's runner still lives: the runner holds a shared ``flock`` on
its session directory while it runs (the kernel lets it go when the process dies, however
it dies); the importer asks for an exclusive one without waiting, which fails exactly while
a runner holds its lock. A session that is not live and has no report was killed."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

KILLED = "killed"  # what a killed session is recorded as interrupted by


class Mark:
    """A live session's mark: closed by :meth:`release`, else when dropped or at exit."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:  # a session that ended by an exception
        self.release()


def hold(directory: Path) -> Mark:
    """Mark ``directory``'s session as live until the mark is released (or the process
    ends). Where locks cannot be taken, the mark holds nothing: the session counts as
    killed once it stops writing, and an import meanwhile writes what the runner writes
    too (both replace, never duplicate; the runner's end marks the session complete)."""
    from assay.compare.beneath import open_dir  # (not for the commands that only read)

    try:
        fd = open_dir(str(directory))
    except OSError:
        return Mark(None)
    try:
        # Shared, and waited for: a resumed session may overlap its killed runner's last
        # instant, and an importer's probe holds the exclusive lock only for a moment.
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        return Mark(None)
    return Mark(fd)


def is_live(directory: Path) -> bool:
    """Whether a runner of this session directory holds its mark now."""
    from assay.compare.beneath import open_dir  # (not for the commands that only read)

    try:
        fd = open_dir(str(directory))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no locks here (some network file systems): cannot tell
        return False
    finally:
        os.close(fd)  # the probe's lock, if it got one, goes with it
    return False
