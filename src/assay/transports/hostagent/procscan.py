"""Finding a job's leftovers: the processes of this user whose environment carries the
job's token, however they left its process group, and killing them."""

from __future__ import annotations

import os
import signal
import time

TYPE_CHECKING = False  # typing stays out of the agent's start (its import costs CPU)
if TYPE_CHECKING:
    from .jobs import Job

TOKEN = "ASSAY_CASE_TOKEN"  # noqa: S105 - marks every process a job starts (also in assay's own runner)

_SHORT = 1.0  # seconds: a job that ran longer may have seen the pids wrap around
_FEW = 256  # this few pids handed out since a job started: look each up, list nothing


def last_pid() -> int | None:
    """The last process id the kernel handed out in this pid namespace, if it says."""
    try:
        with open("/proc/sys/kernel/ns_last_pid") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


def floor_of(job: Job) -> int:
    """The pid above which a job that just ended has its leftovers: its own, when pids
    cannot have wrapped around since it started (a short job, the counter still above
    its pid); else 0, every process (as assay does for a job on its own machine)."""
    if time.monotonic() - job.started > _SHORT:
        return 0
    last = last_pid()
    pid = job.proc.pid
    return pid - 1 if last is not None and last >= pid else 0


_KERNEL_THREAD = 0x00200000  # PF_KTHREAD among the flags of /proc/PID/stat
_EXEC_WAIT = 10.0  # seconds an exec may take before its process is given up on


def environ_of(entry: str) -> bytes:
    """The environment process ``entry`` (a pid) was started with. Raises OSError when it
    is gone or not this user's.

    In the middle of an exec a process shows none for a moment (its new memory has no
    environment yet, or one still being written), and a job's leftover missed then would
    run on: an empty answer is read again until ``/proc/PID/stat`` shows it for good (a
    zombie, a kernel thread, or the same empty environment for 50 ms)."""
    path = f"/proc/{entry}/environ"
    seen = None
    since = 0.0
    deadline = None
    while True:
        with open(path, "rb") as fh:
            data = fh.read()
        if data:
            return data
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            # dead, a kernel thread, or exiting (its memory let go: a size of 0)
            if fields[0] in (b"Z", b"X") or int(fields[6]) & _KERNEL_THREAD or fields[20] == b"0":
                return data
            where = (fields[47], fields[48])  # where its environment starts and ends
        except (IndexError, ValueError):  # a kernel before 3.5: no way to tell
            return data
        # Mid-exec, however long that takes under load (a count of reads bounds no time).
        if deadline is None:
            deadline = time.monotonic() + _EXEC_WAIT
        elif time.monotonic() > deadline:
            return data  # stuck this long: given up on, so that a search ends
        if where[0] != b"0" and where[0] == where[1]:
            # Started with none, once that has held for 50 ms: mid-exec under load the
            # pointers can sit equal for more than the millisecond once thought enough.
            if where != seen:
                seen, since = where, time.monotonic()
            elif time.monotonic() - since > 0.05:
                return data
            time.sleep(0.001)
        else:
            seen = None
            time.sleep(0.0005)


def leftovers(tokens: set[str], above: int = 0) -> list[int]:
    """The processes of this user whose environment carries one of ``tokens`` (among
    those with a pid over ``above``)."""
    marks = {(f"{TOKEN}={t}").encode() for t in tokens}
    found: list[int] = []
    if not marks:
        return found
    last = last_pid() if above else None
    entries: list[str]
    if last is not None and 0 <= last - above <= _FEW:
        # The pids handed out since the job started: each looked up, nothing listed
        # (listing /proc, every process of the host, was a third of a job's cost here).
        entries = [str(pid) for pid in range(above + 1, last + 1)]
    else:
        try:
            entries = os.listdir("/proc")
        except OSError:
            return found
    uid, me = os.getuid(), os.getpid()  # (a system call each: not once per entry)
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid <= above or pid == me:
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue  # not this user's: it cannot carry a job's token
            variables = set(environ_of(entry).split(b"\0"))
        except OSError:  # gone, or not ours
            continue
        if variables & marks:
            found.append(int(entry))
    return found


def kill_leftovers(tokens: set[str], above: int = 0) -> None:
    for _ in range(20):  # a process that forks while being killed gets a few rounds
        pids = leftovers(tokens, above)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


def killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
