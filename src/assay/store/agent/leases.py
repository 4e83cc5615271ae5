"""The agent's lease: what it uses, pinned against garbage collection while it lives.

Its reading of a process's start time and of the boot id is the one assay's gc judges leases
with (:mod:`assay.store.leases` imports it), so writer and judge cannot drift. The same file
as :mod:`assay.store.leases` writes (``leases/HOST.PID.START.TOKEN.lease``: a
JSON header naming the owner, then one line per pinned ``tree HEX`` or ``object KIND HEX``),
so gc, by the agent or by an assay installed on that host, keeps what a live agent pins and
expires the lease once the agent's process is gone (a dropped connection ends it).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .layout import StoreLock

REFRESH = 600.0  # seconds between refreshes (as assay.store.leases)


def read_text(path: str) -> str:
    """A small file's text, stripped ("" if it cannot be read)."""
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


# Filesystems whose writes every process of the machine sees at once, through the one page
# cache: a lease on one of them needs no flush to be seen by gc (see ``needs_sync``).
LOCAL_FILESYSTEMS = frozenset(
    {
        "bcachefs",
        "btrfs",
        "ext2",
        "ext3",
        "ext4",
        "f2fs",
        "jfs",
        "overlay",
        "ramfs",
        "reiserfs",
        "tmpfs",
        "xfs",
        "zfs",
    }
)


def fs_type(dev: int, mountinfo: str) -> str | None:
    """The type of the filesystem mounted from device ``dev`` in a ``/proc/PID/mountinfo``
    text (its third field is MAJOR:MINOR, the type follows the `` - `` separator)."""
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 2 and fields[2] == wanted and " - " in line:
            return line.split(" - ", 1)[1].split(" ", 1)[0]
    return None


def is_local(fstype: str | None) -> bool:
    return fstype in LOCAL_FILESYSTEMS


def _mountinfo() -> str:
    return read_text("/proc/self/mountinfo")


def needs_sync(folder: str) -> bool:
    """Whether lease writes in ``folder`` must be flushed to be seen by gc in another process
    (as :func:`assay.store.leases.needs_sync` says): on a network or cluster filesystem, or
    one this cannot tell; not on a local one, whose page cache every process reads."""
    try:
        dev = os.stat(folder).st_dev
    except OSError:
        return True
    return not is_local(fs_type(dev, _mountinfo()))


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (ticks after boot), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError:  # /proc unreadable: alive, start unknown
        return 0
    # The command name (field 2) may hold spaces and parentheses: fields follow the last ')'.
    return int(data[data.rindex(b")") + 2 :].split()[19])


def owner(purpose: str) -> dict[str, Any]:
    """This process, as a lease names its owner."""
    try:
        pidns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pidns = 0
    pid = os.getpid()
    return {
        "host": os.uname().nodename,  # gethostname(), without importing socket at start
        "boot": read_text("/proc/sys/kernel/random/boot_id"),
        "pidns": pidns,
        "pid": pid,
        "start": start_time(pid) or 0,
        "created": time.time(),
        "purpose": purpose,
    }


class Lease:
    """A lease this process holds on the store at ``folder``'s parent."""

    def __init__(self, folder: str, purpose: str, store_lock: StoreLock) -> None:
        self.owner = owner(purpose)
        name = "{}.{}.{}.{}.lease".format(
            self.owner["host"], self.owner["pid"], self.owner["start"], os.urandom(4).hex()
        )
        self.path = os.path.join(folder, name)
        self.pinned: set[str] = set()
        self._store_lock = store_lock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        os.makedirs(folder, exist_ok=True)
        self._sync = needs_sync(folder)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            self._write(self._header())
        except BaseException:
            self.release()
            raise
        self._thread = threading.Thread(target=self._refresh, daemon=True, name="lease")
        self._thread.start()

    def _header(self) -> bytes:
        return json.dumps(self.owner, separators=(",", ":")).encode() + b"\n"

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if self._sync:  # a shared filesystem: gc on another host must see it
            os.fdatasync(self._fd)

    def pin(self, items: Iterable[str]) -> None:
        """Record pins (``tree HEX``, ``object KIND HEX``); the caller holds the store lock
        shared, in the critical section that found or made what it pins."""
        with self._lock:
            new = [i for i in dict.fromkeys(items) if i not in self.pinned]
            if not new or self._fd < 0:
                return
            self._write("".join(i + "\n" for i in new).encode())
            self.pinned.update(new)

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH):
            self.refresh()

    def refresh(self) -> None:
        """Show gc the holder lives; write the lease again if it was removed meanwhile."""
        with contextlib.suppress(OSError), self._store_lock.shared(), self._lock:
            if self._fd < 0:
                return
            if os.fstat(self._fd).st_nlink:
                os.utime(self.path)
                return
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._write(self._header() + "".join(i + "\n" for i in sorted(self.pinned)).encode())

    def release(self) -> None:
        self._stop.set()
        with self._lock:
            if self._fd < 0:
                return
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def tree_pin(digest: str) -> str:
    return "tree " + digest


def object_pin(kind: str, digest: str) -> str:
    return f"object {kind} {digest}"
