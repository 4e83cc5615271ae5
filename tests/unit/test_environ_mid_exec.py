"""Finding a job's leftovers by the token in their environment, while they exec.

In the middle of an exec a process shows an empty ``/proc/PID/environ`` for a moment (its
new memory has no environment yet); a search that read it then missed the leftover, which
ran on (a CI run saw a ``setsid sleep`` escape the host agent this way). The searches
(the host agent's, the pack runner's, assay's own) read again until it shows.
Real processes here: a chain of ``env`` programs, each exec'ing the next in one pid."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.schedulers import packrun
from assay.transports import hostagent, procfs


def _by_procfs(entry: str) -> bytes:
    value = procfs.environ_value(int(entry), "MARK")
    return b"" if value is None else f"MARK={value}".encode()


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"X"


@pytest.mark.parametrize(
    "read",
    [hostagent.environ_of, packrun._environ_of, _by_procfs],
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
                elif _state(proc.pid) not in (b"Z", b"X"):
                    missed += 1  # alive, not a zombie, and its token not seen
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
        assert hostagent.environ_of(str(proc.pid)) == b""
        assert len(naps) == 1  # seen empty twice, a moment apart: not read for long
        proc.kill()
        while _state(proc.pid) != b"Z":
            pass
        naps.clear()
        with pytest.raises(OSError):
            hostagent.environ_of(str(proc.pid))  # a zombie's cannot be read
    assert naps == []
