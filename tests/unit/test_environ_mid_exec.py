"""Finding a job's leftovers by the token in their environment, while they exec.

In the middle of an exec a process shows an empty ``/proc/PID/environ`` for a moment (its
new memory has no environment yet); a search that read it then missed the leftover, which
ran on (a CI run saw a ``setsid sleep`` escape the host agent this way). The searches
(the host agent's, the pack runner's, assay's own) read again until it shows.
Real processes here: a chain of ``env`` programs, each exec'ing the next in one pid."""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.schedulers import packrun
from assay.transports import procfs
from assay.transports.hostagent import procscan


def _by_procfs(entry: str) -> bytes:
    value = procfs.environ_value(int(entry), "MARK")
    return b"" if value is None else f"MARK={value}".encode()


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"X"


def _running_on(pid: int) -> bool:
    """Alive, not a zombie, and still holding its memory: in its exit (after its memory is
    let go, before it is a zombie: state R or D, a size of 0) /proc/PID/environ fails with
    ESRCH, and there is nothing left to miss. Under load a CI run saw that window last
    136 reads, which counted as misses."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in (b"Z", b"X") and fields[20] != b"0"


@pytest.mark.parametrize(
    "read",
    [procscan.environ_of, packrun._environ_of, _by_procfs],
    ids=["hostagent", "packrun", "procfs"],
)
def test_a_process_caught_mid_exec_still_shows_its_environment(
    read: Callable[[str], bytes],
) -> None:
    env = {"PATH": os.defpath + ":/usr/bin:/bin", "MARK": "here"}
    reads = missed = 0
    for _ in range(2):
        with subprocess.Popen(["env"] * 1500 + ["true"], env=env) as proc:
            while proc.poll() is None:
                try:
                    data = read(str(proc.pid))
                except OSError:
                    continue
                if b"MARK=here" in data.split(b"\0"):
                    reads += 1
                elif _running_on(proc.pid):
                    missed += 1  # alive, not exiting, and its token not seen
    assert reads > 100  # the chain was caught often enough to see execs
    assert missed == 0


def test_a_process_started_with_no_environment_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    naps: list[float] = []
    sleep = time.sleep

    def counted(seconds: float) -> None:
        naps.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", counted)
    with subprocess.Popen(["env", "-i", "sleep", "30"]) as proc:
        while Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep":
            pass
        naps.clear()
        assert procscan.environ_of(str(proc.pid)) == b""
        # seen empty for 50 ms (real time passes at least as fast as the naps): not long
        assert naps and sum(naps) <= 0.0515
        proc.kill()
        while _state(proc.pid) != b"Z":
            pass
        naps.clear()
        with pytest.raises(OSError):
            procscan.environ_of(str(proc.pid))  # a zombie's cannot be read
    assert naps == []


class _FaultInjectingProcfs:
    """A ``/proc/PID`` whose process stays in the middle of an exec (its new memory there,
    no environment in it yet) for ``stalled`` reads, then shows ``MARK=here``; and a clock
    that moves only when the reader sleeps. A real exec cannot be held there on demand (it
    stalls so only under load, on a slow disk, in memory pressure)."""

    def __init__(self, stalled: int, vsize: int = 1 << 24) -> None:
        self.stalled = stalled
        self.vsize = vsize
        self.now = 0.0

    def open(self, path: str, mode: str = "r") -> io.BytesIO:
        assert mode == "rb"
        if path.endswith("/environ"):
            self.stalled -= 1
            return io.BytesIO(b"" if self.stalled >= 0 else b"MARK=here\0")
        fields = ["R"] + ["0"] * 49
        fields[20] = str(self.vsize)  # field 23: the size of its memory (0: it has none)
        return io.BytesIO(("1234 (env) " + " ".join(fields)).encode())

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


READERS = pytest.mark.parametrize("module", [procscan, packrun], ids=["hostagent", "packrun"])


def _install(monkeypatch: pytest.MonkeyPatch, module: object, proc: _FaultInjectingProcfs) -> None:
    monkeypatch.setattr(module, "open", proc.open, raising=False)
    monkeypatch.setattr(time, "sleep", proc.sleep)
    monkeypatch.setattr(time, "monotonic", proc.monotonic)


@READERS
def test_an_exec_that_stalls_for_seconds_is_still_waited_for(
    monkeypatch: pytest.MonkeyPatch, module: object
) -> None:
    # A count of reads is no bound on time: under load an exec can take longer than a
    # thousand short sleeps, and the leftover it becomes was missed.
    proc = _FaultInjectingProcfs(stalled=8000)
    _install(monkeypatch, module, proc)
    read = procscan.environ_of if module is procscan else packrun._environ_of
    assert read("1234") == b"MARK=here\0"
    assert proc.now >= 2.0


@READERS
def test_an_exec_that_never_ends_is_not_waited_for_forever(
    monkeypatch: pytest.MonkeyPatch, module: object
) -> None:
    proc = _FaultInjectingProcfs(stalled=10**9)
    _install(monkeypatch, module, proc)
    read = procscan.environ_of if module is procscan else packrun._environ_of
    assert read("1234") == b""
    assert 5.0 <= proc.now <= 15.0


@READERS
def test_a_process_without_memory_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, module: object
) -> None:
    # An exiting process (its memory already let go, not yet a zombie) shows no
    # environment and never will: nothing to wait for, nothing left to run.
    proc = _FaultInjectingProcfs(stalled=10**9, vsize=0)
    _install(monkeypatch, module, proc)
    read = procscan.environ_of if module is procscan else packrun._environ_of
    assert read("1234") == b""
    assert proc.now == 0.0
