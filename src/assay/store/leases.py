"""Leases: what live processes use, so that garbage collection leaves it alone.

A process that uses trees beyond one hold of the store lock (a run stages a source tree into
case after case; a checkout is used by every case; a transfer publishes objects one by one
before it records a version) holds a lease: ``leases/HOST.PID.START.TOKEN.lease``, a header
line naming its owner, then one line per pinned tree or object. A pin is written under the
store's shared lock in the same critical section that created or found what it pins, and
gc reads the leases under the exclusive lock: there is no moment at which gc can see a tree
that is in use but not yet pinned.

gc honours the lease while its owner lives. The owner is a process (pid and start time from
``/proc/PID/stat``, so a reused pid is not mistaken for it) on a host (hostname, boot id and
pid namespace: a lease written on another machine sharing the store, or in another container,
is not judged by this machine's pids). Such a lease, whose owner cannot be seen from here,
expires when it has not been refreshed for ``FOREIGN_EXPIRY``; holders refresh their lease
every ``REFRESH`` seconds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from assay.store.agent.leases import (  # noqa: F401 - LOCAL_FILESYSTEMS: for readers
    LOCAL_FILESYSTEMS,
    fs_type,
    is_local,
    read_text,
    start_time,
)
from assay.store.locking import store_lock
from assay.store.objects import StoreError

LEASE_DIR = "leases"
SUFFIX = ".lease"
REFRESH = 600.0  # seconds between a holder's refreshes of its lease file
FOREIGN_EXPIRY = 24 * 3600.0  # a lease whose owner cannot be checked from here, unrefreshed


class Owner(msgspec.Struct, frozen=True):
    """Who holds a lease: enough to tell whether that process still runs."""

    host: str
    boot: str
    pidns: int
    pid: int
    start: int  # clock ticks after boot (field 22 of /proc/PID/stat); 0 if unknown
    created: float
    purpose: str = ""


def _pidns() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


@functools.lru_cache(maxsize=1)
def _machine() -> tuple[str, str, int]:
    """(hostname, boot id, pid namespace) of this process: where its pids mean something."""
    return socket.gethostname(), read_text("/proc/sys/kernel/random/boot_id"), _pidns()


def _mountinfo() -> str:
    return read_text("/proc/self/mountinfo")


@functools.lru_cache(maxsize=8)
def needs_sync(folder: Path) -> bool:
    """Whether lease writes in ``folder`` must be flushed (``fdatasync``) to be seen by gc in
    another process: on a network or cluster filesystem (or one this cannot tell), another
    host's gc reads the server's copy, which the client updates when it flushes.

    On a local filesystem it need not: every process of the machine reads the same page
    cache, so a pin is visible to gc as soon as ``write`` returns; and a lease need not
    survive a power cut, because the run that holds it dies with the machine (a lease whose
    owner is gone pins nothing). The journal's ``fdatasync`` is for ``--resume`` and stays.
    """
    try:
        dev = os.stat(folder).st_dev
    except OSError:
        return True
    return not is_local(fs_type(dev, _mountinfo()))


def this_process(purpose: str) -> Owner:
    pid = os.getpid()
    host, boot, pidns = _machine()
    return Owner(
        host=host,
        boot=boot,
        pidns=pidns,
        pid=pid,
        start=start_time(pid) or 0,
        created=time.time(),
        purpose=purpose,
    )


def is_alive(owner: Owner, refreshed: float, now: float) -> bool:
    """Whether a lease's owner may still be using what it pinned."""
    host, boot, pidns = _machine()
    if owner.host != host or owner.pidns != pidns or not owner.boot:
        return now - refreshed < FOREIGN_EXPIRY  # its pids mean nothing here
    if owner.boot != boot:
        return False  # this machine rebooted since: the process is gone
    started = start_time(owner.pid)
    if started is None:
        return False
    return started == owner.start or not (started and owner.start)


class Lease:
    """A lease this process holds on a store (see the module's docstring)."""

    def __init__(self, root: Path, purpose: str) -> None:
        self.owner = this_process(purpose)
        folder = root / LEASE_DIR
        name = f"{self.owner.host}.{self.owner.pid}.{self.owner.start}.{secrets.token_hex(4)}"
        self.path = folder / (name + SUFFIX)
        self.pinned: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot take a lease on the store: {self.path}: {exc.strerror}; the store "
                "must be writable to be used by a run"
            ) from None
        self._sync = needs_sync(folder)
        self._write(msgspec.json.encode(self.owner) + b"\n")
        self._refresher = threading.Thread(target=self._refresh, daemon=True, name="lease")
        self._refresher.start()

    @property
    def held(self) -> bool:
        return self._fd >= 0 and self.owner.pid == os.getpid()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if self._sync:  # a shared filesystem: gc on another host must see it
            os.fdatasync(self._fd)

    def missing(self, items: Iterable[str]) -> list[str]:
        """The pin lines among ``items`` not yet written (no lock needed to ask)."""
        with self._lock:
            return [i for i in dict.fromkeys(items) if i not in self.pinned]

    def pin(self, items: Iterable[str]) -> None:
        """Record pins (``tree HEX`` or ``object KIND HEX``). The caller holds the store's
        shared lock, in the critical section that made or found what it pins."""
        with self._lock:
            new = [i for i in dict.fromkeys(items) if i not in self.pinned]
            if not new:
                return
            self._write("".join(f"{i}\n" for i in new).encode())
            self.pinned.update(new)

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH):
            self.refresh()

    def refresh(self) -> None:
        """Show gc the holder still lives; write the lease again if it was removed (taken
        for expired, or deleted by hand) so that later gcs honour it again."""
        lost = False
        with contextlib.suppress(OSError), self._lock:
            if self._fd < 0 or not os.fstat(self._fd).st_nlink:
                lost = self._fd >= 0
            else:
                os.utime(self.path)
                return
        if not lost:
            return
        # The store lock first, then the lease's own, as pin() takes them.
        with (
            contextlib.suppress(OSError, StoreError),
            store_lock(self.path.parent.parent),
            self._lock,
        ):
            if self._fd >= 0 and not os.fstat(self._fd).st_nlink:
                os.close(self._fd)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                pins = "".join(f"{i}\n" for i in sorted(self.pinned)).encode()
                self._write(msgspec.json.encode(self.owner) + b"\n" + pins)

    def release(self) -> None:
        """End the lease: what it pinned is garbage again unless something else keeps it."""
        self._stop.set()
        with self._lock:
            if self._fd < 0:
                return
            os.close(self._fd)
            self._fd = -1
            if self.owner.pid == os.getpid():  # a forked child must not end its parent's
                self.path.unlink(missing_ok=True)


def tree_pin(digest: str) -> str:
    return f"tree {digest}"


def object_pin(kind: str, digest: str) -> str:
    return f"object {kind} {digest}"


@dataclass
class Pins:
    """What the live leases of a store pin, and which leases gc found expired."""

    trees: set[str] = field(default_factory=set)
    objects: set[tuple[str, str]] = field(default_factory=set)
    live: int = 0
    expired: list[Path] = field(default_factory=list)


def read_pins(root: Path, now: float | None = None) -> Pins:
    """Every pin of a live lease (call under the exclusive lock: no pin is half-written)."""
    pins = Pins()
    folder = root / LEASE_DIR
    if not folder.is_dir():
        return pins
    now = time.time() if now is None else now
    for path in sorted(folder.iterdir()):
        if path.suffix != SUFFIX:
            continue
        try:
            refreshed = path.stat().st_mtime
            lines = path.read_bytes().split(b"\n")
        except FileNotFoundError:  # released meanwhile
            continue
        except OSError as exc:
            raise StoreError(
                f"cannot read the lease {path}: {exc.strerror}; gc removes nothing while it "
                "cannot tell what is in use"
            ) from None
        try:
            owner: Owner | None = msgspec.json.decode(lines[0], type=Owner)
        except msgspec.DecodeError:
            owner = None  # cut short as it was written: it pins nothing yet
        alive = (
            now - refreshed < FOREIGN_EXPIRY if owner is None else is_alive(owner, refreshed, now)
        )
        if not alive:
            pins.expired.append(path)
            continue
        pins.live += 1
        for line in lines[1:]:
            parts = line.decode(errors="replace").split()
            if len(parts) == 2 and parts[0] == "tree":
                pins.trees.add(parts[1])
            elif len(parts) == 3 and parts[0] == "object":
                pins.objects.add((parts[1], parts[2]))
    return pins
