"""What ``/proc`` says about processes on this machine (Linux): parent, group, session, state,
start time, one environment variable. Every reader returns ``None`` for a process that is
gone or unreadable: processes come and go while they are looked at."""

from __future__ import annotations

import os
import time

import msgspec

PROC = "/proc"


class ProcStat(msgspec.Struct, frozen=True):
    """The fields of ``/proc/PID/stat`` assay uses."""

    pid: int
    state: str  # R, S, D, Z (zombie: dead, not yet reaped), T, ...
    ppid: int
    pgrp: int
    sid: int
    start: int  # field 22: clock ticks after boot; with the pid, names one process for good

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def _read(path: str, limit: int = 4096) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while limit > 0:
            chunk = os.read(fd, min(limit, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def stat(pid: int) -> ProcStat | None:
    """The process ``pid`` as ``/proc`` shows it now, or ``None`` if there is none."""
    try:  # one read: the kernel hands a stat file out whole
        fd = os.open(f"{PROC}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not data:
        return None
    # The command name (field 2) is in parentheses and may itself contain ") ".
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return ProcStat(
            pid,
            fields[0].decode(),
            int(fields[1]),
            int(fields[2]),
            int(fields[3]),
            int(fields[19]),
        )
    except (IndexError, ValueError):
        return None


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def started_by_now() -> int:
    """An upper bound on the start time (field 22) of a process that exists now: the
    boot-time clock the kernel stamps processes with, in the same clock ticks. Reading a
    fresh child's own stat instead would wait for its exec to finish."""
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return time.clock_gettime_ns(clock) * _TICKS // 1_000_000_000 + 1


def start_time(pid: int) -> int | None:
    """When ``pid`` started (field 22 of its stat), or ``None`` if it is gone."""
    found = stat(pid)
    return None if found is None else found.start


def owner(pid: int) -> int | None:
    """The user id that owns process ``pid`` (cheaper to learn than its stat)."""
    try:
        return os.stat(f"{PROC}/{pid}").st_uid
    except OSError:
        return None


def pids(above: int = 0) -> list[int]:
    """Every process id greater than ``above`` (none without a ``/proc``: not Linux)."""
    try:
        names = os.listdir(PROC)
    except OSError:
        return []
    numbers = (int(name) for name in names if name.isdigit())
    return [pid for pid in numbers if pid > above]


def children(pid: int) -> set[int] | None:
    """The children of process ``pid`` (of every one of its threads), or ``None`` if
    ``/proc`` does not list them (a kernel without ``CONFIG_PROC_CHILDREN``, not Linux)."""
    try:
        tasks = os.listdir(f"{PROC}/{pid}/task")
    except OSError:
        return None
    found: set[int] = set()
    for tid in tasks:
        data = _read(f"{PROC}/{pid}/task/{tid}/children", 1 << 20)
        if data is None:
            if os.path.exists(f"{PROC}/{pid}/task/{tid}"):
                return None  # the thread is there, its list is not: not supported
            continue  # a thread that ended meanwhile
        found.update(int(word) for word in data.split())
    return found


def main_thread_children(pid: int) -> set[int] | None:
    """The children of process ``pid``'s main thread (one read), or ``None`` if ``/proc``
    does not list them. An orphan a subreaper adopts is given to its first live thread,
    the main one: what the other threads started themselves is not listed here."""
    data = _read(f"{PROC}/{pid}/task/{pid}/children", 1 << 20)
    if data is None:
        return None
    return {int(word) for word in data.split()}


def last_pid() -> int | None:
    """The last process id the kernel handed out in this pid namespace, if it says."""
    data = _read(f"{PROC}/sys/kernel/ns_last_pid")
    try:
        return int(data) if data else None
    except ValueError:
        return None


def environ_value(pid: int, name: str) -> str | None:
    """The value of ``name`` in the environment ``pid`` was started with (``None``: not set,
    or not readable: another user's process, a zombie, a process that is gone)."""
    from assay.transports.hostagent.procscan import environ_of  # only when looking for leftovers

    try:  # read again while it is in the middle of an exec
        data: bytes | None = environ_of(str(pid))
    except OSError:
        return None
    if not data:
        return None
    prefix = name.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None
