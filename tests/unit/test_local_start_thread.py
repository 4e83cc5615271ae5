"""Local jobs start in a thread of their own while the event loop goes on (real processes).

``posix_spawn`` returns once the child has exec'd: the output files created, the program
loaded. Done on the event loop's thread, that is the loop standing still for every job. In a
starter thread, the loop runs other cases meanwhile, and containment must take a job whose
start is under way for a live one: not a leftover to kill, not an adopted zombie to reap,
and a case cancelled during its start still kills (and reaps) the child it got.

The window between ``posix_spawn``'s return and the loop taking the child in is short; a
FaultInjecting start (a pause after the real start, in the starter thread) holds it open
for as long as a test needs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from assay.transports import procfs
from assay.transports import spawn as _spawn
from assay.transports.contain import TOKEN
from assay.transports.local import LocalProcess, LocalTransport
from tests.unit.local_jobs import spawn_shell

pytestmark = pytest.mark.skipif(
    _spawn.spawner() is None or not os.path.isdir("/proc/self"),
    reason="needs glibc's posix_spawn with addchdir_np, and Linux /proc",
)

HOLD = 0.4  # seconds the fault-injecting start holds the child back from the loop


async def other_job(transport: LocalTransport, tmp_path: Path) -> LocalProcess:
    """A job already running: a start goes to a starter thread only while others run (with
    none, the loop has nothing else to do meanwhile)."""
    return await spawn_shell(transport, tmp_path, 9, "sleep 30")


async def end(transport: LocalTransport, proc: LocalProcess) -> None:
    proc.signal_group(signal.SIGKILL)
    await proc.wait()
    await transport.end(proc)


def fault_injecting_slow_handback(monkeypatch: pytest.MonkeyPatch, hold: float = HOLD) -> None:
    """Every start pauses ``hold`` seconds after ``posix_spawn`` returned, before the
    runner hears of the child (as a loaded machine may hold the starting thread)."""
    real = _spawn.Spawner.spawn

    def slow(self: _spawn.Spawner, *args: Any, **kwargs: Any) -> int:
        pid = real(self, *args, **kwargs)
        time.sleep(hold)
        return pid

    monkeypatch.setattr(_spawn.Spawner, "spawn", slow)


async def ticks_during(start: Coroutine[Any, Any, LocalProcess]) -> tuple[int, LocalProcess]:
    """Await ``start`` while a task ticks every 10 ms: how often it ticked meanwhile (a
    loop that stood still during the start ticks at most once)."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = ticks
    try:
        proc = await start
    finally:
        ticker.cancel()
    return ticks - before, proc


def test_the_event_loop_runs_while_a_job_starts(tmp_path: Path, monkeypatch) -> None:
    fault_injecting_slow_handback(monkeypatch)

    async def main() -> tuple[int, int]:
        transport = LocalTransport()
        other = await other_job(transport, tmp_path)
        during, proc = await ticks_during(spawn_shell(transport, tmp_path, 0, "exit 0"))
        await proc.wait()
        await transport.end(proc)
        await end(transport, other)
        return during, await proc.wait()

    during, code = asyncio.run(main())
    assert code == 0
    # 0.4 s of a start: the loop ticked all along (every 10 ms) instead of standing still.
    assert during >= 5


def test_a_job_that_exits_before_the_runner_hears_of_it_keeps_its_exit_status(
    tmp_path: Path, monkeypatch
) -> None:
    fault_injecting_slow_handback(monkeypatch)

    async def main() -> int:
        transport = LocalTransport()
        transport.contain()
        try:
            other = await other_job(transport, tmp_path)
            start = asyncio.create_task(spawn_shell(transport, tmp_path, 0, "exit 3"))
            # Meanwhile the child exits (a zombie whose pid is no registered job's yet) and
            # the runner reaps adopted zombies (SIGCHLD) and sweeps (another job's end).
            for _ in range(int(HOLD / 0.02) - 2):
                await asyncio.sleep(0.02)
                transport.containment._reap_dead()
                transport.containment.sweep()
            proc = await start
            async with asyncio.timeout(10):  # (a status reaped by another waits forever)
                code = await proc.wait()
            await transport.end(proc)
            await end(transport, other)
            return code
        finally:
            await transport.release()

    assert asyncio.run(main()) == 3


def test_a_sweep_during_a_start_leaves_the_starting_job_alone(tmp_path: Path, monkeypatch) -> None:
    fault_injecting_slow_handback(monkeypatch)

    async def main() -> tuple[int, bool]:
        transport = LocalTransport()
        transport.contain()
        # What an ended job left (its token no live job's): the sweeps have something to
        # look at among the runner's children, and kill it.
        token = transport.containment.issue()
        left = subprocess.Popen(
            ["sleep", "30"], start_new_session=True, env={**os.environ, TOKEN: token}
        )
        try:
            for _ in range(200):  # until its exec shows the token in /proc
                if procfs.environ_value(left.pid, TOKEN) == token:
                    break
                await asyncio.sleep(0.01)
            other = await other_job(transport, tmp_path)
            start = asyncio.create_task(spawn_shell(transport, tmp_path, 0, "sleep 1; exit 4"))
            for _ in range(int(HOLD / 0.02) - 2):  # sweeps while it is not registered yet
                await asyncio.sleep(0.02)
                transport.containment.sweep()
            proc = await start
            async with asyncio.timeout(10):
                code = await proc.wait()
            await transport.end(proc)
            await end(transport, other)
            found = procfs.stat(left.pid)
            return code, found is None or found.zombie
        finally:
            if left.poll() is None:
                left.kill()
                left.wait()
            await transport.release()

    code, leftover_killed = asyncio.run(main())
    assert leftover_killed
    assert code == 4  # not -9: no sweep took it for a leftover


def test_a_case_cancelled_during_its_start_kills_and_reaps_its_child(
    tmp_path: Path, monkeypatch
) -> None:
    fault_injecting_slow_handback(monkeypatch)
    started: list[int] = []
    real = _spawn.Spawner.spawn  # (the slow one)

    def noted(self: _spawn.Spawner, *args: Any, **kwargs: Any) -> int:
        pid = real(self, *args, **kwargs)
        started.append(pid)
        return pid

    monkeypatch.setattr(_spawn.Spawner, "spawn", noted)

    async def main() -> tuple[bool, int, int, int]:
        transport = LocalTransport()
        transport.contain()
        try:
            other = await other_job(transport, tmp_path)
            started.clear()  # (the other job's start is not the one watched)
            start = asyncio.create_task(spawn_shell(transport, tmp_path, 0, "sleep 30"))
            await asyncio.sleep(HOLD / 4)  # under way in the starter thread
            start.cancel()
            cancelled = False
            try:
                await start
            except asyncio.CancelledError:
                cancelled = True
            await end(transport, other)
            return cancelled, len(transport.live), len(transport.containment.roots), 0
        finally:
            await transport.release()

    cancelled, live, roots, _ = asyncio.run(main())
    assert cancelled and live == 0 and roots == 0
    # The child it got was killed, and reaped: no process of that pid is left, not even a
    # zombie (the start returned its pid after the cancel).
    assert len(started) == 1
    assert procfs.stat(started[0]) is None


def test_a_start_with_no_other_job_running_stays_on_the_loops_thread(
    tmp_path: Path, monkeypatch
) -> None:
    threads: list[str] = []
    real = _spawn.Spawner.spawn

    def noted(self: _spawn.Spawner, *args: Any, **kwargs: Any) -> int:
        threads.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_spawn.Spawner, "spawn", noted)

    async def main() -> None:
        transport = LocalTransport()
        lone = await spawn_shell(transport, tmp_path, 0, "sleep 0.3")  # a serial run's job
        other = await spawn_shell(transport, tmp_path, 1, "exit 0")  # while that one runs
        for proc in (lone, other):
            await proc.wait()
            await transport.end(proc)

    asyncio.run(main())
    # The loop has nothing else to do during a lone start: no handback to pay for.
    assert threads[0] == threading.main_thread().name
    assert threads[1].startswith("assay-starter")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's jobs drop capabilities")
def test_a_start_without_roots_capabilities_lets_the_loop_run_and_the_child_lacks_them(
    tmp_path: Path, monkeypatch
) -> None:
    """A job started with ``drop_caps`` (a suite case's command, as root) while others run
    is started in the capabilities-dropped thread without holding the loop; its child still
    has neither dac_override nor fowner in any set."""
    from assay.transports import capthread

    if capthread.dropped_thread() is None:
        pytest.skip("this kernel refuses to drop the capabilities")
    fault_injecting_slow_handback(monkeypatch)

    async def main() -> tuple[int, int]:
        transport = LocalTransport()
        other = await other_job(transport, tmp_path)
        start = transport.spawn(
            ["/bin/cat", "/proc/self/status"],
            cwd=PurePosixPath(tmp_path),
            stdout=PurePosixPath(tmp_path / "out-caps"),
            stderr=PurePosixPath(tmp_path / "err-caps"),
            drop_caps=True,
        )
        during, proc = await ticks_during(start)
        code = await proc.wait()
        await transport.end(proc)
        await end(transport, other)
        return during, code

    during, code = asyncio.run(main())
    assert code == 0
    assert during >= 5  # the loop went on during the 0.4 s start
    caps = {
        line.split(":")[0]: int(line.split()[1], 16)
        for line in (tmp_path / "out-caps").read_text().splitlines()
        if line.startswith("Cap")
    }
    dropped = (1 << 1) | (1 << 3)  # dac_override, fowner
    for name in ("CapBnd", "CapInh", "CapEff", "CapPrm", "CapAmb"):
        assert caps[name] & dropped == 0, (name, hex(caps[name]))
