"""Running a session: its directory and journal, the hosts, the recording, the runner with
interrupt handling, then the reports and the summary."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from assay import guard
from assay._version import __version__
from assay.errors import UsageError
from assay.hosts import Hosts
from assay.results.journal import Journal
from assay.results.live import hold as hold_session
from assay.results.model import GitState, Session
from assay.results.recorder import (
    Recorder,
    config_hash,
    database_target,
    git_state,
    nothing_recorded,
)
from assay.run.artifacts import SessionStore
from assay.run.priority import Expectations, plan_series
from assay.run.recording import LateRecorder
from assay.run.runner import Runner
from assay.schedulers.registry import sizes_jobs_by_history
from assay.select import NO_TESTS_HINT, nothing_matched_hint
from assay.session.context import make_context
from assay.session.directory import new_session, open_directory
from assay.session.display import Display, HintT
from assay.session.kickoff import Kickoff, import_in_background
from assay.session.reports import (
    END_MODULES,
    end_recording,
    needs_history,
    write_reports,
    write_unjudged,
)
from assay.session.request import Prepared, Request, open_store, prefix_of, prepare, store_root
from assay.session.signals import SIGNALS, on_signals
from assay.transports.contain import end_left_behind
from assay.transports.local import LocalTransport

if TYPE_CHECKING:
    from assay.config import Config
    from assay.plan import Case
    from assay.transports.ssh_early import EarlyHosts


def run(
    request: Request, display: Display[HintT], hint: HintT, early: EarlyHosts | None = None
) -> int:
    """Run a session, showing it on ``display``, and return the process exit code.

    ``hint`` goes back to ``display.finish`` untouched (the CLI's rerun command). ``early``:
    SSH connections begun while the run loaded (:mod:`assay.transports.ssh_early`); the
    session runs on their event loop."""
    try:
        prepared = prepare(request)
        if not prepared.plan.cases and not prepared.problems:
            if not prepared.tests_loaded:
                raise UsageError(
                    f"no tests found in {', '.join(request.paths)}", hint=NO_TESTS_HINT
                )
            raise UsageError(
                f"no cases match the selection ({prepared.tests_loaded} test(s) loaded from "
                f"{', '.join(request.paths)})",
                hint=nothing_matched_hint(
                    request.selection.names,
                    "check -n/-t/-p/-e/-P/--case, or run `assay list` to see the cases",
                    prepared.test_names,
                )
                + prepared.unmatched,
            )
    except BaseException:
        if early is not None:
            early.abandon()
        raise
    # What start-up made (modules, test classes, the plan) lives until the end: out of the
    # collector's sight, so that the full collections of a long run do not go through it.
    gc.freeze()
    ran: list[Session] = []
    with asyncio.Runner(loop_factory=None if early is None else early.take) as runner:
        runner.run(_run_into(ran, request, prepared, display, hint, early))
    session = ran[0]
    return 128 + SIGNALS[session.interrupted] if session.interrupted else (0 if session.ok else 1)


async def _run_into(
    into: list[Session],
    request: Request,
    prepared: Prepared,
    display: Display[HintT],
    hint: HintT,
    early: EarlyHosts | None = None,
) -> None:
    """:func:`_run`, its session put in ``into``: the task asyncio.run drives must not hold
    it, as asyncio formats that task's repr (its result included, every case result) when it
    restores the SIGINT handler."""
    try:
        into.append(await _run(request, prepared, display, hint, early))
    finally:
        if early is not None:  # connections begun early and never claimed are closed
            await early.release()


async def _run(
    request: Request,
    prepared: Prepared,
    display: Display[HintT],
    hint: HintT,
    early: EarlyHosts | None = None,
) -> Session:
    config, system, plan = prepared.config, prepared.system, prepared.plan
    prefix = prefix_of(request, config, system)
    target = database_target(config, system, prefix)
    fresh = not request.resume and nothing_recorded(target, prefix)  # (before its directory)
    session_id, directory, recovered = open_directory(request, config, system)
    live = hold_session(directory)  # until the process ends: an importer leaves it alone
    journal = Journal(directory)
    session = new_session(request, prepared, session_id, directory)
    transport = LocalTransport()
    transport.contain()
    # Before the first job starts: a runner killed between a job's start and its journal
    # line leaves a process that --resume finds by this prefix of its token.
    transport.containment.on_prefix = journal.tokens
    kickoff = Kickoff()  # what waits for the first process (or the run's end)
    transport.on_spawn = _first_spawn_fires(journal.process, kickoff)
    kickoff.then(import_in_background(END_MODULES))
    kickoff.then(journal.start_syncing)  # (after the first process: its file is there)
    if recovered is not None:  # a killed runner's cases may still run: end them first
        await end_left_behind(recovered.processes, recovered.prefixes)
    store = SessionStore(lambda: open_store(store_root(request, config, system)))
    partitions = {c.partition.full_name: c.partition for c in plan.cases}
    hosts = Hosts(partitions.values(), transport, session_id, directory, store, display, early)
    # While remote hosts are connected to, the database opens in a thread (both wait: on
    # the hosts, on the disk); without them, it opens below as it always did.
    opening = None
    if not fresh and hosts.remote:
        opening = asyncio.ensure_future(asyncio.to_thread(Recorder.open, target, prefix))
    try:
        await hosts.connect()
    except BaseException:
        if opening is not None:  # (a session that never started: nothing written)
            with contextlib.suppress(Exception):
                (await asyncio.shield(opening)).close()
        await transport.release()
        journal.close()
        raise
    git = _probe_git(Path(request.paths[0]).absolute(), kickoff)
    recording: Recorder | LateRecorder
    # The history of a run that plans without it, read once the database is open: what
    # the run's first estimate of its time left would have been (the report keeps it).
    history: list[Expectations] = []
    if fresh or (opening is None and _plans_without_history(plan.cases, display)):
        # No history to plan with, or none the plan would use: the cases start while the
        # database is made (or opened, and the runs it lacks imported).
        def open_recorder() -> Recorder:
            opened = Recorder.open(target, prefix, import_runs=not fresh)
            if not fresh:  # (before the recorder's own thread uses the database)
                history.append(_expectations(plan.cases, opened))
            return opened

        late = LateRecorder(
            open_recorder,
            # (the digest, of the config as described, needs the database's modules)
            lambda opened: _start_recording(opened, session, config, git),
            deferred=True,
        )
        kickoff.then(late.open)
        recording, expect = late, Expectations.plan(plan.cases, {})
    else:
        late = None
        recorder = Recorder.open(target, prefix) if opening is None else await opening
        expect = _expectations(plan.cases, recorder)
        _start_recording(recorder, session, config, git)
        recording = recorder
    ctx = make_context(request, prepared, directory, hosts, display, journal, session_id)
    ctx.expected_run = expect.run
    runner = Runner(
        plan.cases,
        ctx,
        request.options,
        display,
        journal,
        recovered,
        priority=expect.priority,
        recorded=expect.recorded,
        recorder=recording,
    )
    # (the loop waits while each case runs: see run/ahead.py). Only a suite's cases have
    # stage dirs made ahead: with no suite compiled, run.ahead is not even imported (the
    # one place that asks: StageAhead.plan relies on it).
    if runner.one_at_a_time and "assay.define.suite_test" in sys.modules:
        from assay.run.ahead import StageAhead

        resumed = set() if recovered is None else {*recovered.results, *recovered.jobs}
        ctx.ahead = StageAhead.plan(plan.cases, ctx, expect.priority, resumed)
    display.start(
        len(plan.cases),
        f"assay {__version__} · system {system} · {len(plan.cases)} case(s) on "
        f"{', '.join(sorted(partitions)) or 'no partition'} · {directory}",
        runner.eta.left,
    )
    task = asyncio.create_task(runner.run())
    # Processes that are not this machine's (SSH, a batch system's jobs) start none here
    # through the transport: what waits for the first one starts shortly after the run.
    asyncio.get_running_loop().call_later(KICKOFF_AT_THE_LATEST, kickoff.fire)
    # The handlers stay until the report is written (a late Ctrl-C must not lose it); they
    # also interrupt test code that hangs on the event loop's thread.
    with guard.signals_to(on_signals(session, task, ctx.transports)):
        try:
            session.results = await task
        finally:
            recording.drain()  # (its last batch goes while the hosts and journal close)
            kickoff.fire()  # (no process started: what waited for one is needed now)
            await hosts.close()
            await transport.release()
            ctx.store.close()
            ctx.spares.remove()  # (what no later case took: not kept)
            if ctx.ahead is not None:  # (stage dirs made for cases that did not start)
                ctx.ahead.close()
            journal.close()
        # Nothing to hold against history, and the first estimate known (a first session
        # has no history to make it from): the report and the summary need not wait for
        # the database, whose work goes on meanwhile (made, for a first session; the last
        # cases, the session's end and the sync of its log, for any).
        unjudged = not needs_history(request, session) and (late is None or fresh)
        if late is not None and not unjudged:
            recorder = await late.settled()
        session.remote = hosts.sent()
        session.finished = time.time()
        session.git = git.result()
        if history:
            runner.eta.first_from_history(history[0].recorded)
        first = runner.eta.first
        session.estimate = None if first is None else (first.made, first.left)
        session.estimate_recorded = first is not None and first.recorded
        if unjudged:
            if late is None:
                end_recording(recorder, session, wait=False)  # (in its thread, meanwhile)
            try:
                path, problems = write_unjudged(request, prepared, session, directory)
                display.finish(session, hint, path)
            finally:  # (the recording ends whatever the report and display do: a database
                # being made is never left half made by the process's end)
                if late is not None:
                    recorder = await late.settled()
                end_recording(recorder, session)
                live.release()
        else:
            path, problems = write_reports(request, prepared, session, directory, recorder)
            live.release()
            display.finish(session, hint, path)
    if problems:
        raise UsageError("\n".join(problems))
    return session


# Seconds into the run after which what waits for its first process starts regardless.
KICKOFF_AT_THE_LATEST = 1.0


def _plans_without_history(cases: Sequence[Case], display: Display[HintT]) -> bool:
    """Whether the recorded durations would change nothing of a run of ``cases``: one case
    (no order to choose), on partitions that pack no jobs (the recorded run time sizes
    packs of batch jobs), shown by a display that shows no time left (the recorded
    durations' other use). Then the case need not wait for the database to be opened and
    read (35 M instructions before a lone case starts, 8%)."""
    return (
        len(cases) == 1
        and not any(sizes_jobs_by_history(c.partition.config.scheduler) for c in cases)
        and not getattr(display, "shows_time_left", True)
    )


def _expectations(cases: Sequence[Case], recorder: Recorder) -> Expectations:
    """What the runner plans ``cases`` with, from the durations ``recorder`` has recorded.
    A recorder without a database (``results = "none"``, or one that could not be opened)
    has none: the cases' series are not named then, which imports the database's modules
    and sqlite3 (~30 M instructions, before the first case of a run of several)."""
    if recorder.db is None or not recorder.active:
        return Expectations.plan(cases, {})  # (what no history with the series gives)
    series = plan_series(cases)
    return Expectations.plan(cases, recorder.expected(series), series)


def _start_recording(
    recorder: Recorder, session: Session, config: Config, git: Future[GitState | None]
) -> None:
    """Record ``session`` with ``recorder``; nothing to do (and no digest of the config to
    make: json, the config's description) when it has no database."""
    if recorder.db is not None:
        recorder.start(session, config_hash(config), git)


def _first_spawn_fires(
    on_spawn: Callable[[int, int, str], None], kickoff: Kickoff
) -> Callable[[int, int, str], None]:
    """``on_spawn``, and the first time ``kickoff`` fired, once the runner has gone back to
    the event loop (the process it started is then on its way)."""
    loop = asyncio.get_running_loop()

    def spawned(pid: int, started: int, token: str) -> None:
        on_spawn(pid, started, token)
        if not kickoff.fired:
            loop.call_soon(kickoff.fire)

    return spawned


def _probe_git(tests: Path, kickoff: Kickoff) -> Future[GitState | None]:
    """The tests' repository's commit, asked in a thread of its own once ``kickoff`` fires
    (or its result is asked for): ``git status`` of a big repository takes a while, and
    the cases need not wait for it."""
    probe = _GitProbe(tests)
    kickoff.then(probe.start)
    return probe


class _GitProbe(Future[GitState | None]):
    """The answer of :func:`git_state` for ``tests``, asked in a thread started by
    :meth:`start` or, at the latest, by the first wait for the result."""

    def __init__(self, tests: Path) -> None:
        super().__init__()
        self._tests: Path | None = tests
        self._lock = threading.Lock()

    def start(self) -> None:
        """Ask git (once)."""
        with self._lock:
            tests, self._tests = self._tests, None
        if tests is not None:
            threading.Thread(
                target=self._work, args=(tests,), name="assay-git", daemon=True
            ).start()

    def _work(self, tests: Path) -> None:
        try:
            commit, dirty = git_state(tests)
            self.set_result(GitState(commit, dirty) if commit else None)
        except Exception as exc:  # git_state handles git's failures: this is a bug
            self.set_exception(exc)

    def result(self, timeout: float | None = None) -> GitState | None:
        self.start()
        return super().result(timeout)
