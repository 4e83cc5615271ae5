"""Containment's own rules, on real processes: which processes a sweep reads and kills."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from assay.transports import contain
from assay.transports.contain import Containment

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")


def test_a_snapshot_skips_live_job_processes_and_other_users_processes(monkeypatch):
    watcher = Containment()
    job = subprocess.Popen(["sleep", "30"])
    other = subprocess.Popen(["sleep", "30"])
    try:
        watcher.register(job.pid, watcher.issue())
        seen = watcher._snapshot(min(job.pid, other.pid) - 1)
        assert other.pid in seen and job.pid not in seen
        # Seen by a user that owns neither (as root: as if it were someone else).
        someone = os.geteuid() + 4242
        monkeypatch.setattr(contain.os, "geteuid", lambda: someone)
        assert other.pid not in watcher._snapshot(min(job.pid, other.pid) - 1)
    finally:
        for proc in (job, other):
            proc.kill()
            proc.wait()


def test_a_long_job_or_a_wrapped_counter_means_every_process_is_looked_at(monkeypatch):
    watcher = Containment()
    monkeypatch.setattr(contain.procfs, "last_pid", lambda: 5000)
    assert watcher._floor(4000, 0.1) == 3999  # short, and pids went on upwards since
    assert watcher._floor(4000, 30.0) == 0  # long: they may have wrapped around
    assert watcher._floor(6000, 0.1) == 0  # the counter is below it: they wrapped
    assert watcher._floor(None, 0.0) == 0


def test_resume_ends_a_recorded_group_only_while_its_leader_is_the_recorded_process():
    import asyncio

    from assay.transports import procfs
    from assay.transports.contain import end_left_behind

    before = procfs.started_by_now() - 1  # as recorded for an earlier process of this pid
    time.sleep(0.05)
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    recorded = procfs.started_by_now()
    try:
        # A record made before this process started names another process: untouched.
        assert asyncio.run(end_left_behind([(proc.pid, before, "0" * 32)], timeout=1)) == []
        assert proc.poll() is None
        assert asyncio.run(end_left_behind([(proc.pid, recorded, "0" * 32)])) == [proc.pid]
        assert proc.wait(timeout=5) == -9
    finally:
        proc.kill()
        proc.wait()


def _counting(monkeypatch, name: str) -> list[int]:
    """Record the pids ``procfs.<name>`` is asked about (it still answers)."""
    asked: list[int] = []
    real = getattr(contain.procfs, name)

    def counted(pid, *args):
        asked.append(pid)
        return real(pid, *args)

    monkeypatch.setattr(contain.procfs, name, counted)
    return asked


def test_a_sweep_reads_no_process_while_the_runner_has_adopted_none(monkeypatch):
    import asyncio

    async def sweep_with_a_live_job() -> list[int]:
        watcher = Containment()
        watcher.start()
        job = subprocess.Popen(["sleep", "30"], start_new_session=True)
        try:
            watcher.register(job.pid, watcher.issue())
            asked = _counting(monkeypatch, "stat")
            monkeypatch.setattr(contain.procfs, "last_pid", lambda: asked.append(-1))
            watcher.sweep(job.pid, 0.1)
            return list(asked)  # (stopping reads them all)
        finally:
            job.kill()
            job.wait()
            await watcher.stop()

    assert asyncio.run(sweep_with_a_live_job()) == []


def test_a_sweep_still_kills_an_adopted_process_of_an_ended_job(monkeypatch):
    import asyncio

    async def sweep_with_a_leftover() -> bool:
        watcher = Containment()
        watcher.start()
        token = watcher.issue()  # a job that ended: its token is no live job's
        left = subprocess.Popen(
            ["sleep", "30"], start_new_session=True, env={**os.environ, contain.TOKEN: token}
        )
        try:
            for _ in range(200):  # until its exec shows the token in /proc
                if contain.procfs.environ_value(left.pid, contain.TOKEN) == token:
                    break
                time.sleep(0.01)
            watcher.sweep()
            for _ in range(500):  # killed (and reaped by the sweep, or a zombie)
                found = contain.procfs.stat(left.pid)
                if found is None or found.zombie:
                    return True
                time.sleep(0.01)
            return False
        finally:
            if left.poll() is None:
                left.kill()
                left.wait()
            await watcher.stop()

    assert asyncio.run(sweep_with_a_leftover())


def test_stopping_reads_no_process_while_the_runner_has_adopted_none(monkeypatch):
    import asyncio

    async def start_and_stop() -> list[int]:
        watcher = Containment()
        watcher.start()
        asked = _counting(monkeypatch, "stat")
        await watcher.stop()
        return asked

    assert asyncio.run(start_and_stop()) == []
