"""Run a pack of short cases inside one batch job, and say how each one ended.

This file uses only the Python standard library, imports nothing from assay and runs on any
Python >= 3.7 (linted for 3.7: ``per-file-target-version`` in pyproject.toml; run under that
Python by tests/integration/test_job_files.py): a job script runs it where the allocation
is (``python3 -I packrun-HASH.py MANIFEST.json``, shipped by :mod:`assay.schedulers.jobfiles`),
with no assay installed there. For every case it runs the case's own job script, in its own
process group, with its stdout and stderr going to the case's files and its time limit
enforced, then writes a status file (JSON: state, exit code or signal, started, ended,
host) next to the case's stdout. (A case's script compares its outputs itself, as it does
in a job of its own.) SIGTERM (scancel, the pack's own time limit) stops every running case
and marks each unfinished case ``CANCELLED``.

Cases run with ``SLURM_OVERLAP=1``: an ``srun`` in a case creates a job step, and Slurm
gives a step every CPU and all memory of the node unless told otherwise, so the steps of
cases running side by side would wait for each other (and a step left behind by a killed
case would hold the rest of the pack). This runner decides how many cases run at once.

When a case ends (or is killed), what it started must end with it, even what left its
process group (``setsid``, a daemon) and the tasks of its ``srun`` steps, which slurmstepd
starts outside the case's process tree. Every case runs with a variable of its own
(``ASSAY_PACK_CASE``), which all those processes inherit: the runner finds them by it on
this node (a pack has one node), cancels the job steps they belong to (``scancel
JOB.STEP``) and kills the rest.

Manifest::

    {"slots": 4, "grace": 2.0, "cases": [{"id": "...", "script": "...", "workdir": "...",
      "stdout": "...", "stderr": "...", "status": "...", "time_limit": 60.0}]}
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

_stop = threading.Event()
CASE_VARIABLE = "ASSAY_PACK_CASE"
"""Set for each case to a value of its own; every process the case starts inherits it."""


def _environ_of(entry: str) -> bytes:
    """The environment process ``entry`` was started with. In the middle of an exec a
    process shows none for a moment, and a leftover missed then would run on: read again
    until /proc/PID/stat shows it has none for good (as the host agent's ``environ_of``,
    which this stdlib-only file cannot import)."""
    seen = None
    since = 0.0
    deadline = None
    while True:
        with open(f"/proc/{entry}/environ", "rb") as fh:
            data = fh.read()
        if data:
            return data
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            # dead, a kernel thread, or exiting (its memory let go: a size of 0)
            if fields[0] in (b"Z", b"X") or int(fields[6]) & 0x00200000 or fields[20] == b"0":
                return data
            where = (fields[47], fields[48])  # where its environment starts and ends
        except (IndexError, ValueError):
            return data
        # Mid-exec, however long that takes under load (a count of reads bounds no time).
        if deadline is None:
            deadline = time.monotonic() + 10.0
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


def _leftovers(token: str) -> tuple[list[int], set[str]]:
    """The processes on this node that carry the case's ``token``, and the job steps of
    this job they run in."""
    mark = f"{CASE_VARIABLE}={token}".encode()
    job = os.environ.get("SLURM_JOB_ID", "").encode()
    pids, steps = [], set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            variables = _environ_of(entry).split(b"\0")
        except OSError:  # gone already, or not ours to read
            continue
        if mark not in variables:
            continue
        pids.append(int(entry))
        values = dict(v.split(b"=", 1) for v in variables if b"=" in v)
        step = values.get(b"SLURM_STEP_ID", b"")
        if job and values.get(b"SLURM_JOB_ID") == job and step.isdigit():
            steps.add(step.decode())
    return pids, steps


def end_leftovers(token: str) -> None:
    """Cancel the job steps a case left running and kill every other process it left.

    In rounds, each a fresh look at /proc: what a leftover starts after the listing is not
    in it (a process sent SIGKILL starts no more, so the rounds end), and the pids found
    before a slow ``scancel`` may be gone and reused by then: never killed from an old look.
    """
    job = os.environ.get("SLURM_JOB_ID")
    cancelled: set[str] = set()
    killed: set[int] = set()
    for _ in range(20):
        pids, steps = _leftovers(token)
        steps -= cancelled
        if steps and job:
            _cancel_steps(job, steps)
            cancelled |= steps
            continue  # look again: what was found may be gone meanwhile
        new = [pid for pid in pids if pid not in killed]
        if not new:
            return
        for pid in new:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        killed.update(new)


def _cancel_steps(job: str, steps: set[str]) -> None:
    try:
        subprocess.run(
            ["scancel", *(f"{job}.{step}" for step in sorted(steps))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        pass  # no scancel here: killing its tasks ends each step too


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
# A file of the case's made new: O_EXCL with O_CREAT refuses whatever is at the name, a
# link (even one to nowhere) included, so nothing a case's build planted there is followed.
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC


class Refused(OSError):
    """A case's file that cannot be made where the manifest says: the reason, for the
    case's status and the pack's stderr."""


def _open_parent(path: str) -> int:
    """The directory ``path`` is in (the case's stage dir), opened: never through a link at
    its name (a case may have swapped it for one); the directories above are the user's."""
    parent = os.path.dirname(path) or "."
    try:
        return os.open(parent, _DIR)
    except OSError as exc:
        kind = "a symbolic link" if os.path.islink(parent) else "not a directory"
        if exc.errno == errno.ENOENT:
            kind = "missing"
        raise Refused(
            exc.errno,
            f"the directory {parent!r} of {os.path.basename(path)!r} is {kind}; nothing "
            "was written there (a case must not move or replace its stage dir)",
        ) from None


def _create(path: str) -> int:
    """``path`` made anew, for writing: what was there (a file of an earlier attempt, or a
    link a case's build left at the name) is removed first, never followed."""
    dir_fd = _open_parent(path)
    name = os.path.basename(path)
    try:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        except OSError as exc:  # a directory at the name (EISDIR, EPERM)
            raise Refused(
                exc.errno,
                f"{path!r} is a directory, not a file the case's output can go to; remove it "
                "(the case, or its build, made it)",
            ) from None
        try:
            return os.open(name, _NEW, 0o666, dir_fd=dir_fd)
        except FileExistsError:  # made again between the two: by what the case left running
            raise Refused(
                errno.EEXIST,
                f"{path!r} was made again while the pack runner made it (by a process the case "
                "left running); nothing was written to it",
            ) from None
    finally:
        os.close(dir_fd)


def _write_json(path: str, data: dict[str, Any]) -> None:
    """``data`` written to ``path`` whole or not at all: under a fresh name in its
    directory (O_EXCL: a link planted at a name guessed is never followed), then renamed
    over ``path`` (which replaces a link there, never writes through it)."""
    dir_fd = _open_parent(path)
    name = os.path.basename(path)
    try:
        for _ in range(100):
            tmp = f".{name}.{os.urandom(6).hex()}.tmp"
            try:
                fd = os.open(tmp, _NEW, 0o666, dir_fd=dir_fd)
                break
            except FileExistsError:
                continue
        else:
            raise Refused(errno.EEXIST, f"no free temporary name next to {path!r}")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
    finally:
        os.close(dir_fd)


def _report(case: dict[str, Any], status: dict[str, Any]) -> None:
    """Write the case's status; when even that is refused, say so on the pack's stderr
    (the case then has no status: the runner reports that its pack did not run it)."""
    try:
        _write_json(case["status"], status)
    except OSError as exc:
        print(
            "assay pack runner: case {}: no status written: {}".format(case["id"], exc),
            file=sys.stderr,
            flush=True,
        )


def _kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_case(case: dict[str, Any], grace: float) -> None:
    start = time.time()
    status: dict[str, Any] = {
        "id": case["id"],
        "job": os.environ.get("SLURM_JOB_ID", ""),  # whose status this is: the pack's
        "started": start,
        "host": socket.gethostname(),
    }
    if _stop.is_set():
        status.update(state="CANCELLED", reason="the pack was stopped before this case ran")
        _report(case, status)
        return
    token = f"{os.getpid()}.{case['id']}"
    try:
        out = _create(case["stdout"])
        try:
            err = _create(case["stderr"])
        except BaseException:
            os.close(out)
            raise
    except OSError as exc:
        why = "not run: %s" % (exc.strerror if isinstance(exc, Refused) else exc)
        print("assay pack runner: case {}: {}".format(case["id"], why), file=sys.stderr, flush=True)
        status.update(state="CANCELLED", reason=why)
        _report(case, status)
        return
    try:
        proc = subprocess.Popen(
            ["/bin/bash", case["script"]],
            cwd=case["workdir"],
            env={**os.environ, "SLURM_OVERLAP": "1", CASE_VARIABLE: token},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    finally:
        os.close(out)
        os.close(err)
    limit = case.get("time_limit")
    deadline = None if limit is None else time.monotonic() + float(limit)
    state = None
    while True:
        try:
            code = proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        if _stop.is_set():
            _kill_group(proc, grace)
            code, state = proc.returncode, "CANCELLED"
            break
        if deadline is not None and time.monotonic() > deadline:
            _kill_group(proc, grace)
            code, state = proc.returncode, "TIMEOUT"
            break
    try:  # whatever the case left behind in its group goes with it
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    end_leftovers(token)  # and what left the group, and its srun steps
    if state is None:
        state = "COMPLETED" if code == 0 else "FAILED"
    status.update(state=state, ended=time.time())
    if code is not None and code < 0:
        status["signal"] = -code
    elif code is not None and code > 128 and state == "FAILED":
        status["signal"] = code - 128  # the script's shell reports a signal as 128+N
    else:
        status["exit_code"] = code
    _report(case, status)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 packrun.py MANIFEST.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        manifest = json.load(fh)
    cases = list(manifest["cases"])
    slots = max(1, int(manifest.get("slots", 1)))
    grace = float(manifest.get("grace", 2.0))
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    signal.signal(signal.SIGINT, lambda *_: _stop.set())
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not cases:
                    return
                case = cases.pop(0)
            run_case(case, grace)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(slots)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
