"""The runner's thread without root's mode-overriding capabilities: what it starts has
neither dac_override nor fowner, while the rest of the runner keeps them; where the kernel
refuses the drop, jobs go back to the setpriv wrapper (or, without setpriv, keep them)."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from assay.schedulers import local_exec
from assay.schedulers.base import JobSpec, JobState
from assay.schedulers.direct import DirectScheduler
from assay.schedulers.local_exec import CAPS_VARIABLE, Drop, caps_drop, links_safe
from assay.transports import capthread
from assay.transports.local import LocalTransport

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="capabilities are dropped for root only")
DROPPED_BITS = (1 << 1) | (1 << 3)  # dac_override, fowner
_LIBC = ctypes.CDLL(None, use_errno=True)  # (the real one, before a test replaces CDLL)


def _caps(status: str) -> dict[str, int]:
    """The Cap* lines of a /proc/.../status text, as numbers."""
    return {
        line.split(":")[0]: int(line.split()[1], 16)
        for line in status.splitlines()
        if line.startswith("Cap")
    }


@pytest.fixture
def fresh_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's answer forgotten, so that this test decides it again (and the process's
    own thread, if any, stays as it is for the other tests)."""
    monkeypatch.setattr(capthread, "_thread", None)
    monkeypatch.setattr(capthread, "_tried", False)


class PrctlRefusingLibc:
    """A fault-injecting fake of the C library: ``prctl`` fails with EPERM, as it does
    without CAP_SETPCAP or under a seccomp filter (everything else is the real one)."""

    def __init__(self) -> None:
        self._libc = _LIBC

    def prctl(self, *args: Any) -> int:
        ctypes.set_errno(errno.EPERM)
        return -1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._libc, name)


@ROOT
def test_what_the_thread_starts_lacks_them_and_the_calling_thread_keeps_them() -> None:
    dropped = capthread.dropped_thread()
    assert dropped is not None
    run = subprocess.run
    out = dropped.call(run, ["cat", "/proc/self/status"], None, None, None, subprocess.PIPE)
    child = _caps(out.stdout.decode())
    for name in ("CapBnd", "CapInh", "CapEff", "CapPrm", "CapAmb"):
        assert child[name] & DROPPED_BITS == 0, (name, hex(child[name]))
    assert child["CapEff"] & 1, hex(child["CapEff"])  # chown: the others stay
    # This thread, and what it starts, keep them all.
    own = _caps(Path("/proc/thread-self/status").read_text())
    assert own["CapBnd"] & DROPPED_BITS == DROPPED_BITS
    assert own["CapEff"] & DROPPED_BITS == DROPPED_BITS
    plain = _caps(subprocess.run(["cat", "/proc/self/status"], capture_output=True).stdout.decode())
    assert plain["CapEff"] & DROPPED_BITS == DROPPED_BITS


@ROOT
def test_a_job_started_with_drop_caps_is_the_program_itself_without_them(tmp_path: Path) -> None:
    """One process, the program's own: its status names it, not setpriv."""

    async def main() -> int:
        proc = LocalTransport().start(
            ["cat", "/proc/self/status"],
            cwd=PurePosixPath(tmp_path),
            stdout=PurePosixPath(tmp_path / "out"),
            stderr=PurePosixPath(tmp_path / "err"),
            executable=shutil.which("cat"),
            drop_caps=True,
        )
        return await proc.wait()

    assert asyncio.run(main()) == 0
    status = (tmp_path / "out").read_text()
    assert "Name:\tcat" in status
    caps = _caps(status)
    assert all(caps[name] & DROPPED_BITS == 0 for name in ("CapBnd", "CapInh", "CapEff"))


@ROOT
def test_a_start_that_fails_in_the_thread_fails_for_the_caller_and_the_thread_goes_on(
    tmp_path: Path,
) -> None:
    async def start(program: str) -> int:
        transport = LocalTransport()
        proc = transport.start(
            [program],
            cwd=PurePosixPath(tmp_path),
            stdout=PurePosixPath(tmp_path / "out"),
            stderr=PurePosixPath(tmp_path / "err"),
            drop_caps=True,
        )
        return await proc.wait()

    with pytest.raises(FileNotFoundError) as caught:
        asyncio.run(start(str(tmp_path / "no-such-program")))
    assert caught.value.filename == str(tmp_path / "no-such-program")
    assert asyncio.run(start(shutil.which("true") or "/bin/true")) == 0


@ROOT
def test_eight_threads_handing_starts_over_at_once_each_get_their_own_child() -> None:
    dropped = capthread.dropped_thread()
    assert dropped is not None
    results: dict[int, tuple[str, int]] = {}

    def one(n: int) -> None:
        out = dropped.call(
            subprocess.check_output, ["sh", "-c", f"echo {n}; grep ^CapBnd /proc/self/status"]
        )
        first, line = out.decode().splitlines()
        results[n] = (first, int(line.split()[1], 16))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == list(range(8))
    for n, (first, bounding) in results.items():
        assert first == str(n)
        assert bounding & DROPPED_BITS == 0, hex(bounding)


def test_a_refused_prctl_leaves_no_thread_no_setpriv_wrapper_and_no_links(
    fresh_thread: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(OSError) as caught:
        capthread.CapsDroppedThread(PrctlRefusingLibc())
    assert caught.value.errno == errno.EPERM
    monkeypatch.setattr(capthread.ctypes, "CDLL", lambda *a, **k: PrctlRefusingLibc())
    assert capthread.dropped_thread() is None
    assert capthread.dropped_thread() is None  # decided once
    monkeypatch.setattr(local_exec.os, "geteuid", lambda: 0)
    monkeypatch.delenv(CAPS_VARIABLE, raising=False)
    # setpriv is refused the same way (and says nothing): no wrapper, and no links either.
    monkeypatch.setattr(local_exec, "_have_setpriv", lambda: True)
    assert caps_drop(True) is None
    assert caps_drop(False) is None
    assert links_safe() is local_exec._lacks_them()
    if os.geteuid() == 0:  # (this thread has them: a job it starts could write through)
        assert links_safe() is False
    monkeypatch.setenv(CAPS_VARIABLE, "keep")  # the documented opt-out keeps the links
    assert links_safe() is True
    monkeypatch.setenv(CAPS_VARIABLE, "dropped")  # a claim, checked with the kernel
    assert links_safe() is local_exec._lacks_them()


def test_a_thread_whose_drop_is_refused_ends_and_the_caller_keeps_its_capabilities() -> None:
    before = _caps(Path("/proc/thread-self/status").read_text())
    alive = set(threading.enumerate())
    with pytest.raises(OSError):
        capthread.CapsDroppedThread(PrctlRefusingLibc())
    for thread in set(threading.enumerate()) - alive:
        thread.join(10)
        assert not thread.is_alive(), thread
    assert _caps(Path("/proc/thread-self/status").read_text()) == before


@ROOT
@pytest.mark.parametrize("refused", [False, True])
def test_a_store_linked_direct_job_runs_without_them_or_is_not_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_thread: None, refused: bool
) -> None:
    """Through the direct scheduler: from the thread, whose environment says they are
    gone (the script's guard does not exec); where prctl is refused (its inputs are
    copies then), the job keeps them and is not told they are gone, and no setpriv runs
    (its drop would be refused as silently)."""
    if refused:
        monkeypatch.setattr(capthread.ctypes, "CDLL", lambda *a, **k: PrctlRefusingLibc())
    monkeypatch.delenv(CAPS_VARIABLE, raising=False)
    assert caps_drop(True) is (None if refused else Drop.IN_RUNNER)
    script = tmp_path / "assay-run.sh"
    script = tmp_path / "assay-run.sh"
    script.write_text("#!/bin/bash\nexit 9\n")  # (not run: the direct start is)
    status, environ = "/proc/self/status", "/proc/self/environ"
    spec = JobSpec(
        name="j",
        script=PurePosixPath(script),
        workdir=PurePosixPath(tmp_path),
        stdout=PurePosixPath(tmp_path / "out"),
        stderr=PurePosixPath(tmp_path / "err"),
        protect_inputs=True,
        direct=(("grep", "-a", "-h", "-e", "^Cap", "-e", "ASSAY_", status, environ), ()),
    )

    async def main() -> JobState:
        outcome = await DirectScheduler(LocalTransport()).run(spec)
        return outcome.state

    assert asyncio.run(main()) is JobState.COMPLETED, (tmp_path / "err").read_text()
    out = (tmp_path / "out").read_text()
    caps = _caps(out)
    if refused:
        assert CAPS_VARIABLE not in out
        assert caps["CapEff"] & DROPPED_BITS == DROPPED_BITS, hex(caps["CapEff"])
        return
    assert f"{CAPS_VARIABLE}=dropped" in out
    for name in ("CapBnd", "CapInh", "CapEff", "CapPrm", "CapAmb"):
        assert caps[name] & DROPPED_BITS == 0, (name, hex(caps[name]))
    assert caps["CapEff"] & 1


@ROOT
def test_a_forked_child_starts_a_thread_of_its_own() -> None:
    """After fork only the forking thread exists: the child must not hand a start to a
    thread that is not there (it would wait for ever)."""
    assert capthread.dropped_thread() is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            signal.alarm(20)
            dropped = capthread.dropped_thread()
            answer = b"none" if dropped is None else str(dropped.call(os.getpid)).encode()
            os.write(write, answer)
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == str(pid).encode()


class Interrupted(Exception):
    """What the test's signal handler raises in the waiting thread."""


@ROOT
def test_an_exception_in_the_waiting_caller_comes_after_the_start_has_finished() -> None:
    """A signal handler that raises while the caller waits (what Ctrl-C does outside the
    event loop's handlers) must not leave a start running unseen in the thread: the
    caller raises once it is done, as when the start ran in the caller's own thread."""
    dropped = capthread.dropped_thread()
    assert dropped is not None
    finished: list[bool] = []

    def slow_start() -> None:
        time_to_wait = threading.Event()
        time_to_wait.wait(0.5)
        finished.append(True)

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(Interrupted):
            dropped.call(slow_start)
        assert finished == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@ROOT
def test_a_thread_without_them_has_none_to_give_and_one_with_them_has() -> None:
    """links_safe's last word (ASSAY_ROOT_CAPS claims they are gone, or no thread could
    drop them): what this thread's bounding, inheritable and ambient sets say."""
    dropped = capthread.dropped_thread()
    assert dropped is not None
    lacks = local_exec._lacks_them.__wrapped__
    assert dropped.call(lacks) is True
    assert lacks() is False
