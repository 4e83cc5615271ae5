"""The session journal: events read back after a crash, and durable before a verdict shows."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import stat
import threading
import time
from pathlib import Path

import pytest

from assay.results import journal as journal_mod
from assay.results.journal import Journal, recover
from assay.results.model import CaseResult, Status


def _result(i: int, status: Status = Status.PASSED) -> CaseResult:
    return CaseResult(
        name=f"T[i={i}] @local:default+builtin",
        id=f"{i:08x}",
        test="T",
        variant=f"T[i={i}]",
        params={"i": str(i)},
        system="local",
        partition="default",
        environment="builtin",
        status=status,
    )


@pytest.fixture
def slow_disk(monkeypatch):
    """fdatasync that takes a while (a loaded disk, NFS): syncs overlap the runner's work.
    Counts the calls."""
    calls = []
    real = os.fdatasync

    def slow(fd: int) -> None:
        time.sleep(0.002)
        real(fd)
        calls.append(fd)

    monkeypatch.setattr(journal_mod.os, "fdatasync", slow)
    return calls


def _run_with_deadline(coro_factory, seconds: float) -> None:
    """Run an event loop in a thread of its own, so that a loop that spins (never yields)
    fails the test instead of hanging it."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_factory())
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the journal's syncs did not finish within {seconds}s"
    if errors:
        raise errors[0]


def test_cases_finishing_together_share_syncs_and_every_one_returns(tmp_path, slow_disk):
    journal = Journal(tmp_path)
    returned = []

    async def case(i: int) -> None:
        await asyncio.sleep(random.random() * 0.05)
        journal.result(_result(i))
        await journal.sync()
        returned.append(i)

    async def main() -> None:
        await asyncio.gather(*(case(i) for i in range(200)))

    _run_with_deadline(main, 30)
    journal.close()
    assert sorted(returned) == list(range(200))
    assert 0 < len(slow_disk) < 100  # grouped: far fewer syncs than cases
    assert len(recover(tmp_path).results) == 200


def test_a_sync_returns_only_after_a_sync_that_began_after_its_write(tmp_path, monkeypatch):
    journal = Journal(tmp_path)
    log: list[str] = []
    real = os.fdatasync

    def logged(fd: int) -> None:
        size = os.fstat(fd).st_size
        time.sleep(0.01)
        real(fd)
        log.append(f"synced {size}")

    monkeypatch.setattr(journal_mod.os, "fdatasync", logged)

    async def main() -> None:
        journal.result(_result(1))
        first = asyncio.create_task(journal.sync())
        await asyncio.sleep(0.002)  # the first sync is under way
        journal.result(_result(2))
        size = (tmp_path / journal_mod.NAME).stat().st_size
        await journal.sync()
        log.append(f"returned {size}")
        await first

    _run_with_deadline(main, 10)
    journal.close()
    returned = next(e for e in log if e.startswith("returned"))
    size = int(returned.split()[1])
    before = log[: log.index(returned)]
    assert any(int(e.split()[1]) >= size for e in before if e.startswith("synced")), log


def test_recover_reads_results_jobs_and_processes_and_ignores_a_torn_line(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.job("00000001", "123", packed=True)
    journal.process(4242, 987654, "ab" * 16)
    journal.result(_result(1))
    journal.result(_result(2, Status.ABORTED))
    journal.close()
    with open(tmp_path / journal_mod.NAME, "ab") as fh:
        fh.write(b'{"t": "result", "case": "0000')  # the runner died mid-write
    found = recover(tmp_path)
    assert set(found.results) == {"00000001"}
    assert found.jobs == {"00000001": ("123", True)}
    assert found.processes == [(4242, 987654, "ab" * 16)]


def test_the_token_prefix_is_journaled_before_the_first_token_is_issued(tmp_path: Path):
    from assay.transports.contain import Containment

    journal = Journal(tmp_path)
    containment = Containment()
    containment.on_prefix = journal.tokens
    lines: list[int] = []

    def issue() -> str:
        token = containment.issue()
        lines.append(len(recover(tmp_path).prefixes))  # (what a kill -9 now would leave)
        return token

    tokens = [issue(), issue()]
    journal.close()
    # Journaled once, by the time the first job could start: a job the runner is killed
    # before it journaled is found by its token's start (tokens as long as before).
    assert lines == [1, 1]
    assert recover(tmp_path).prefixes == [containment.prefix]
    assert all(t.startswith(containment.prefix) and len(t) == 32 for t in tokens)
    assert len(set(tokens)) == 2


def test_the_runner_shows_a_verdict_only_once_its_result_is_on_disk(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from assay.run.runner import Runner, RunOptions

    log: list[str] = []
    real = os.fdatasync

    def logged(fd: int) -> None:
        time.sleep(0.01)
        real(fd)
        log.append("dir on disk" if stat.S_ISDIR(os.fstat(fd).st_mode) else "on disk")

    monkeypatch.setattr(journal_mod.os, "fdatasync", logged)

    class Events:
        def case_finished(self, result: CaseResult) -> None:
            log.append(f"shown {result.id}")

    async def main() -> None:
        journal = Journal(tmp_path)
        ctx = SimpleNamespace(places={})
        runner = Runner([], ctx, RunOptions(), Events(), journal)  # type: ignore[arg-type]
        result = _result(7)
        journal.result(result)
        await runner._announce(result)
        journal.close()

    _run_with_deadline(main, 10)
    assert log[:3] == ["dir on disk", "on disk", "shown 00000007"], log


def test_syncing_can_start_before_the_first_verdict_which_then_waits_for_its_file_alone(
    tmp_path, monkeypatch
):
    # The session starts the journal's sync thread, and makes the new file's name durable,
    # once the first process started: the first verdict then waits for one fdatasync of
    # the file, not for a thread to start and the directory to sync as well.
    journal = Journal(tmp_path)
    synced: list[tuple[str, bool]] = []
    real = os.fdatasync

    def spy(fd: int) -> None:
        real(fd)
        synced.append((threading.current_thread().name, stat.S_ISDIR(os.fstat(fd).st_mode)))

    monkeypatch.setattr(journal_mod.os, "fdatasync", spy)

    async def main() -> None:
        journal.process(1234, 1, "token")  # the first process: the file is there
        journal.start_syncing()
        journal.start_syncing()  # (once)
        await asyncio.sleep(0)
        deadline = time.monotonic() + 10
        while not synced and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert [d for _, d in synced] == [True]  # the directory, ahead of any verdict
        journal.result(_result(1))
        await journal.sync()

    _run_with_deadline(main, 20)
    journal.close()
    assert [d for _, d in synced] == [True, False]
    assert all(name.startswith("assay-journal") for name, _ in synced)
    assert len(recover(tmp_path).results) == 1


def test_syncing_started_before_the_file_exists_syncs_the_directory_after_it_does(
    tmp_path, monkeypatch
):
    # (a session whose processes are not started here starts syncing before it wrote
    # anything: the directory must be synced once the file is in it, not before)
    journal = Journal(tmp_path)
    order: list[str] = []
    real = os.fdatasync

    def spy(fd: int) -> None:
        real(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            there = (tmp_path / journal_mod.NAME).exists()
            order.append("dir with the file" if there else "dir without the file")
        else:
            order.append("file")

    monkeypatch.setattr(journal_mod.os, "fdatasync", spy)

    async def main() -> None:
        journal.start_syncing()  # nothing written yet
        deadline = time.monotonic() + 0.5  # (a sync of the directory now would be seen)
        while not order and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        journal.result(_result(1))
        await journal.sync()

    _run_with_deadline(main, 20)
    journal.close()
    assert order == ["dir with the file", "file"]


def test_every_event_is_in_the_file_as_soon_as_it_is_written(tmp_path: Path):
    # A runner killed right after an event (SIGKILL: no flush, no close) loses nothing.
    journal = Journal(tmp_path)
    journal.process(4242, 17, "token")
    assert recover(tmp_path).processes == [(4242, 17, "token")]
    journal.result(_result(1))
    assert list(recover(tmp_path).results) == [_result(1).key]
    journal.close()


def test_a_cancelled_sync_leaves_the_others_waiting_for_the_same_sync(tmp_path, slow_disk):
    # An interrupted case stops waiting; the sync it started goes on, and every other case
    # waiting for it returns once its result is on disk.
    journal = Journal(tmp_path)
    returned = []

    async def case(i: int) -> None:
        journal.result(_result(i))
        await journal.sync()
        returned.append(i)

    async def main() -> None:
        cancelled = asyncio.create_task(case(0))
        others = [asyncio.create_task(case(i)) for i in range(1, 5)]
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(*others)
        assert cancelled.cancelled()
        journal.result(_result(9))
        await journal.sync()  # a later sync is not stuck behind the cancelled one
        returned.append(9)

    _run_with_deadline(main, 10)
    journal.close()
    assert sorted(returned) == [1, 2, 3, 4, 9]
    assert len(recover(tmp_path).results) == 6


def test_a_sync_from_a_new_event_loop_is_not_stuck_behind_one_the_old_loop_never_heard_of(
    tmp_path, monkeypatch
):
    # The first loop ends while its sync is under way (it is never told); a later loop's
    # sync must start its own rather than wait for that one forever.
    journal = Journal(tmp_path)
    gate = threading.Event()
    real = os.fdatasync

    def held(fd: int) -> None:
        gate.wait(10)
        real(fd)

    monkeypatch.setattr(journal_mod.os, "fdatasync", held)

    async def first() -> None:
        journal.result(_result(1))
        waiting = asyncio.create_task(journal.sync())
        await asyncio.sleep(0.01)
        waiting.cancel()

    asyncio.run(first())
    gate.set()

    async def second() -> None:
        journal.result(_result(2))
        await journal.sync()

    _run_with_deadline(second, 10)
    journal.close()
    assert len(recover(tmp_path).results) == 2


def test_the_sync_thread_ends_with_close_and_never_holds_up_the_exit(tmp_path: Path):
    # Everything handed to it is done by close(), which ends it; a runner that dies before
    # close() must not be kept alive by it (a daemon thread).
    journal = Journal(tmp_path)
    journal.result(_result(1))
    journal.start_syncing()
    threads = [t for t in threading.enumerate() if t.name.startswith("assay-journal")]
    assert len(threads) == 1 and threads[0].daemon
    journal.close()
    assert not threads[0].is_alive()
    assert len(recover(tmp_path).results) == 1


def test_a_tokens_line_not_in_the_runners_shape_is_ignored(tmp_path: Path):
    """--resume ends every process whose token starts with a journaled prefix: a line
    with a prefix the runner never writes (empty, one digit that would match a sixteenth
    of every token, a newline, upper case, too long) must not reach it."""
    good = "0123456789abcdef"
    bad = ["", "0", good + "\n", "0123456789ABCDEF", good + "0", 12]
    lines = [json.dumps({"t": "tokens", "prefix": p}) for p in [*bad, good]]
    (tmp_path / "journal.jsonl").write_text("\n".join(lines) + "\n")
    assert recover(tmp_path).prefixes == [good]


def _file_syncs(monkeypatch) -> list[float]:
    """When each sync of a journal file (not of its directory) started."""
    started: list[float] = []
    real = os.fdatasync

    def spy(fd: int) -> None:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            started.append(time.monotonic())
        real(fd)

    monkeypatch.setattr(journal_mod.os, "fdatasync", spy)
    return started


def test_syncs_start_at_most_once_an_interval_and_every_waiter_returns(tmp_path, monkeypatch):
    # Each sync is a commit of the file system's journal, which holds up the next case's
    # files: verdicts arriving every 10 ms share syncs an interval apart, not one each.
    monkeypatch.setattr(journal_mod, "SYNC_INTERVAL", 0.2)
    started = _file_syncs(monkeypatch)
    journal = Journal(tmp_path)
    returned: list[int] = []

    async def case(i: int) -> None:
        await asyncio.sleep(0.01 * i)
        journal.result(_result(i))
        await journal.sync()
        returned.append(i)

    async def main() -> None:
        await asyncio.gather(*(case(i) for i in range(30)))

    _run_with_deadline(main, 30)
    journal.close()
    assert sorted(returned) == list(range(30))
    assert 1 <= len(started) <= 4, started  # (30 without the interval; 0.3 s of verdicts)
    # (started as the journal's thread gets to them: a late one may shorten the next gap)
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.1 for gap in gaps), gaps
    assert len(recover(tmp_path).results) == 30


def test_a_sync_at_once_does_not_wait_for_the_interval_and_takes_the_waiting_ones(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(journal_mod, "SYNC_INTERVAL", 3600.0)
    started = _file_syncs(monkeypatch)
    journal = Journal(tmp_path)

    async def main() -> None:
        journal.result(_result(1))
        await journal.sync()  # the first: at once
        journal.result(_result(2))
        waiting = asyncio.create_task(journal.sync())  # within the hour: waits
        await asyncio.sleep(0.3)
        assert not waiting.done()
        journal.result(_result(3))
        await journal.sync(at_once=True)  # the session's last verdict
        await waiting  # covered by the same sync

    _run_with_deadline(main, 20)
    journal.close()
    assert len(started) == 2, started
    assert len(recover(tmp_path).results) == 3


def test_the_runner_syncs_the_last_verdict_at_once(tmp_path):
    # With an interval of an hour, a run of three cases one at a time ends at once only if
    # its last verdict does not wait: its sync then takes the second case's, which waited.
    from tests.conftest import run_python

    (tmp_path / "test_three.py").write_text(
        "import assay\n\n\nclass Three(assay.Test):\n"
        "    i = assay.parameter(range(3))\n    command = 'echo hi'\n"
    )
    out = run_python(
        """
        import os, sys
        import assay.results.journal as journal
        journal.SYNC_INTERVAL = 3600.0
        synced = []
        real = os.fdatasync

        def spy(fd):
            if os.readlink(f"/proc/self/fd/{fd}").endswith(journal.NAME):
                synced.append(fd)
            real(fd)

        os.fdatasync = spy
        os.chdir(sys.argv[1])
        import atexit
        atexit.register(lambda: print("journal syncs", len(synced)))
        sys.argv = ["assay", "run", ".", "--serial", "--plain"]
        from assay.entry import console
        console()
        """,
        str(tmp_path),
    )
    assert "3 passed" in out, out
    assert out.strip().splitlines()[-1] == "journal syncs 2", out
