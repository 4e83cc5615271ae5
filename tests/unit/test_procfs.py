"""What /proc says about processes: the fields containment and --resume rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from assay.transports import procfs

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")


def test_stat_reads_group_session_and_a_start_time_that_names_the_process():
    proc = subprocess.Popen(
        ["sleep", "30"], start_new_session=True, env={**os.environ, "PROBE_VAR": "x=1"}
    )
    try:
        # Popen returns once the exec began; its environment shows once the exec is done.
        deadline = time.monotonic() + 10
        while procfs.environ_value(proc.pid, "PROBE_VAR") is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        found = procfs.stat(proc.pid)
        assert found is not None
        assert (found.pid, found.ppid, found.pgrp, found.sid) == (
            proc.pid,
            os.getpid(),
            proc.pid,
            proc.pid,
        )
        assert not found.zombie
        assert found.start == procfs.start_time(proc.pid) > 0
        assert procfs.environ_value(proc.pid, "PROBE_VAR") == "x=1"
        assert procfs.environ_value(proc.pid, "PROBE") is None  # a name, not a prefix
        assert proc.pid in procfs.pids() and proc.pid in procfs.pids(proc.pid - 1)
        assert proc.pid not in procfs.pids(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert procfs.stat(proc.pid) is None


def test_a_command_name_with_parentheses_and_spaces_does_not_shift_the_fields(tmp_path):
    odd = tmp_path / "a) b ("
    odd.symlink_to("/bin/sleep")
    proc = subprocess.Popen([str(odd), "30"])
    try:
        found = procfs.stat(proc.pid)
        assert found is not None and found.ppid == os.getpid()
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_unreaped_child_is_a_zombie():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped
    found = procfs.stat(proc.pid)
    assert found is not None and found.zombie
    proc.wait()


def test_without_proc_there_are_no_processes(monkeypatch, tmp_path):
    monkeypatch.setattr(procfs, "PROC", str(tmp_path / "no-proc"))
    assert procfs.pids() == []
    assert procfs.stat(1) is None and procfs.last_pid() is None


def test_children_lists_the_processes_a_process_started():
    from assay.transports import procfs

    child = subprocess.Popen(["sleep", "30"])
    try:
        found = procfs.children(os.getpid())
        assert found is not None and child.pid in found
        assert procfs.children(child.pid) == set()
    finally:
        child.kill()
        child.wait()
    assert child.pid not in (procfs.children(os.getpid()) or set())


ADOPTS = """
import json, os, subprocess, sys, threading, time
from assay.transports import contain, procfs

assert contain.set_subreaper(True)
stop = threading.Event()
for _ in range(3):  # threads besides the main one, as a run has (journal, recorder...)
    threading.Thread(target=stop.wait, daemon=True).start()
got = {}

def orphan():  # a job process started from a thread that is not the main one
    out = subprocess.run(["sh", "-c", "sleep 30 & echo $!"], capture_output=True, text=True)
    got["pid"] = int(out.stdout)

worker = threading.Thread(target=orphan)
worker.start()
worker.join()
time.sleep(0.05)
main = procfs.main_thread_children(os.getpid()) or set()
every = procfs.children(os.getpid()) or set()
os.kill(got["pid"], 9)
print(json.dumps([got["pid"] in main, got["pid"] in every, sorted(every - main)]))
stop.set()
"""


def test_an_adopted_orphan_is_a_child_of_the_main_thread_whatever_thread_started_it():
    # Containment reads only the main thread's list of children at each job's end: the
    # kernel gives an orphan to the subreaper's first live thread, its main one.
    out = subprocess.run(
        [sys.executable, "-c", ADOPTS], capture_output=True, text=True, check=True, timeout=60
    )
    in_main, in_every, only_elsewhere = json.loads(out.stdout.strip().splitlines()[-1])
    assert in_main and in_every and only_elsewhere == []
