"""One session, the application's wiring point: load, select and plan, run with interrupt
handling, record, report.

Everything below the command line meets here (config, loading, selection, the plan, the
runner, the schedulers, the store, the results); the user interface does not: the CLI
builds the display and hands it in, and the session talks to it through :class:`Display`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from assay import guard
from assay import overrides as overrides_mod
from assay._version import __version__
from assay.config import Config, load_config
from assay.errors import UsageError
from assay.files import point_link, write_atomic
from assay.hosts import Hosts
from assay.launchers import partition_launcher
from assay.load import LoadProblem, load
from assay.owned import check_owned_dir, read_owned
from assay.plan import Plan, make_plan, repeat_cases
from assay.results.journal import Journal, Recovered, recover
from assay.results.model import CaseResult, GitState, Problem, Session
from assay.results.recorder import (
    Recorder,
    config_hash,
    database_target,
    git_state,
    warn_on_stderr,
)
from assay.run.artifacts import SessionStore
from assay.run.context import Place, RunContext
from assay.run.module_check import ModuleChecks
from assay.run.priority import Expectations, case_series
from assay.run.recording import LateRecorder, first_session
from assay.run.remote_inputs import Uploads
from assay.run.runner import Events, Recording, Runner, RunOptions
from assay.schedulers.base import Scheduler
from assay.schedulers.direct import DirectScheduler
from assay.schedulers.registry import SchedulerSetup, make_scheduler
from assay.select import Selection
from assay.transports.base import Transport
from assay.transports.contain import end_left_behind
from assay.transports.local import LocalTransport

if TYPE_CHECKING:
    from assay.results.series import HistorySource
    from assay.store import Store

HintT = TypeVar("HintT", contravariant=True)


class JobStates(Protocol):
    """Where a scheduler's jobs' states are shown (queued, running, why pending)."""

    def job_state(
        self, partition: str, job: str, state: str, reason: str | None, cases: Sequence[str] = ()
    ) -> None:
        """``job`` is in ``state``; ``cases``: the job names of the cases it runs (a pack's
        members, or the job itself)."""


class Display(Events, JobStates, Uploads, Protocol[HintT]):
    """What shows a session to the user (the CLI's live or plain display): the runner's
    events, the jobs' states, uploads to remote hosts, a header at the start and the summary
    at the end, which gets the ``hint`` the CLI handed to :func:`run` (how to rerun a failed
    case)."""

    def start(
        self, total: int, header: str, time_left: Callable[[], float | None] | None = None
    ) -> None:
        """The run begins; ``time_left`` answers the seconds still to go from recorded
        durations (None: nothing known, the display estimates itself)."""
        ...

    def finish(self, session: Session, hint: HintT, report: Path | None) -> None: ...


@dataclass
class Request:
    """Everything a ``run`` or ``list`` invocation asked for."""

    paths: Sequence[str]
    config: str | None = None
    system: str | None = None
    prefix: str | None = None
    store: str | None = None
    failed: bool = False
    no_pack: bool = False
    resume: bool = False
    selection: Selection = field(default_factory=Selection)
    settings: Sequence[str] = ()
    options: RunOptions = field(default_factory=RunOptions)
    max_jobs: int | None = None
    max_local: int | None = None
    report: str | None = None
    junit: str | None = None
    grace: float = 2.0
    repeat: int = 1
    fail_on_regression: bool = False
    html: str | None = None


@dataclass
class Prepared:
    """What ``run`` and ``list`` share: the config, the loaded tests and the plan."""

    config: Config
    system: str
    plan: Plan
    problems: list[LoadProblem]
    tests_loaded: int


def prepare(request: Request) -> Prepared:
    """Load the config and the tests, apply the selection and ``-S``, and plan the cases."""
    if not request.paths:
        raise UsageError("give test files or directories, e.g. `assay run tests/`")
    config = load_config(request.config)
    system, _ = config.system(request.system)
    selection = request.selection
    if request.failed:
        from assay.results.history import failed_ids  # lazy: --failed only

        ids = failed_ids(_prefix(request, config, system), config, system)
        selection = dataclasses.replace(selection, ids=(*selection.ids, *ids))
    loaded = load(request.paths)
    for warning in loaded.warnings:
        warn_on_stderr(warning)
    settings = overrides_mod.resolve(loaded.tests, request.settings)
    selection.params_known(loaded.tests)
    plan = make_plan(loaded.tests, config, system, selection, settings, max_jobs=request.max_jobs)
    if request.repeat > 1:
        plan.cases = repeat_cases(plan.cases, request.repeat)
    return Prepared(config, system, plan, loaded.problems + plan.problems, len(loaded.tests))


def _store_root(request: Request, config: Config, system: str) -> Path:
    configured = request.store or config.systems[system].store
    if configured:
        return Path(configured)
    from assay.store import default_root  # lazy: start-up time (a run without sources)

    return default_root()


def _open_store(root: Path) -> Store:
    from assay.store import Store  # lazy: start-up time (a run without sources needs none)

    return Store(root)


COMMAND_FILE = "command.json"


def resumable_session(prefix: Path) -> Path:
    """The newest session under ``prefix``, to finish with ``--resume``."""
    latest = prefix / "latest"
    if not latest.exists():
        raise UsageError(
            f"--resume: no session to resume under {prefix}",
            hint="--resume finishes the newest session; give --prefix if it is elsewhere",
        )
    directory = latest.resolve()
    check_owned_dir(directory, "--resume")  # its journal says what to kill and follow
    return directory


def resume_arguments(prefix: Path) -> list[str]:
    """The arguments the newest session was started with (``assay run --resume`` alone)."""
    path = resumable_session(prefix) / COMMAND_FILE
    try:
        argv = json.loads(read_owned(path, "--resume") or b"")
    except ValueError as exc:
        raise UsageError(f"--resume: cannot read {path}: {exc}") from None
    return [a for a in argv if a not in ("--resume",)]


def _prefix(request: Request, config: Config, system: str) -> Path:
    return Path(request.prefix or config.systems[system].prefix or ".assay")


def _session_dir(request: Request, config: Config, system: str) -> tuple[str, Path]:
    prefix = _prefix(request, config, system)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    session_id = f"{stamp}-{os.urandom(2).hex()}"
    directory = (prefix / "runs" / session_id).absolute()
    directory.mkdir(parents=True)
    return session_id, directory


def run(request: Request, display: Display[HintT], hint: HintT) -> int:
    """Run a session, showing it on ``display``, and return the process exit code.

    ``hint`` goes back to ``display.finish`` untouched (the CLI's rerun command)."""
    prepared = prepare(request)
    if not prepared.plan.cases and not prepared.problems:
        raise UsageError(
            f"no cases match the selection ({prepared.tests_loaded} test(s) loaded from "
            f"{', '.join(request.paths)})",
            hint="check -n/-t/-p/-e/-P/--case, or run `assay list` to see the cases",
        )
    # What start-up made (modules, test classes, the plan) lives until the end: out of the
    # collector's sight, so that the full collections of a long run do not go through it.
    gc.freeze()
    ran: list[Session] = []
    asyncio.run(_run_into(ran, request, prepared, display, hint))
    session = ran[0]
    return 128 + _SIGNALS[session.interrupted] if session.interrupted else (0 if session.ok else 1)


# What interrupts a run (SIGHUP: the terminal was closed); each ends it with 128 + its number.
_SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


async def _run_into(
    into: list[Session],
    request: Request,
    prepared: Prepared,
    display: Display[HintT],
    hint: HintT,
) -> None:
    """:func:`_run`, its session put in ``into``: the task asyncio.run drives must not hold
    it, as asyncio formats that task's repr (its result included, every case result) when it
    restores the SIGINT handler."""
    into.append(await _run(request, prepared, display, hint))


async def _run(
    request: Request, prepared: Prepared, display: Display[HintT], hint: HintT
) -> Session:
    config, system, plan = prepared.config, prepared.system, prepared.plan
    prefix = _prefix(request, config, system)
    target = database_target(config, system, prefix)
    fresh = not request.resume and first_session(target, prefix)  # (before its directory)
    session_id, directory, recovered = _open_directory(request, config, system)
    journal = Journal(directory)
    session = _new_session(request, prepared, session_id, directory)
    transport = LocalTransport()
    transport.contain()
    transport.on_spawn = journal.process
    if recovered is not None:  # a killed runner's cases may still run: end them first
        await end_left_behind(recovered.processes)
    store = SessionStore(lambda: _open_store(_store_root(request, config, system)))
    partitions = {c.partition.full_name: c.partition for c in plan.cases}
    hosts = Hosts(partitions.values(), transport, session_id, directory, store, display)
    try:
        await hosts.connect()
    except BaseException:
        await transport.release()
        journal.close()
        raise
    git = _probe_git(Path(request.paths[0]).absolute())
    digest = config_hash(config)
    recording: Recording
    if fresh:  # no history to plan with: the cases start while the database is made
        late = LateRecorder(
            lambda: Recorder.open(target, prefix, import_runs=False),
            lambda opened: opened.start(session, digest, git),
        )
        recording, expect = late, Expectations.plan(plan.cases, {})
    else:
        late, recorder = None, Recorder.open(target, prefix)
        series = [case_series(c) for c in plan.cases]
        expect = Expectations.plan(plan.cases, recorder.expected(series), series)
        recorder.start(session, digest, git)
        recording = recorder
    ctx = _context(request, prepared, directory, hosts, display, journal, session_id)
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
    display.start(
        len(plan.cases),
        f"assay {__version__} · system {system} · {len(plan.cases)} case(s) on "
        f"{', '.join(sorted(partitions)) or 'no partition'} · {directory}",
        runner.eta.left,
    )
    task = asyncio.create_task(runner.run())
    # The handlers stay until the report is written (a late Ctrl-C must not lose it); they
    # also interrupt test code that hangs on the event loop's thread.
    with guard.signals_to(_on_signals(session, task, ctx.transports)):
        try:
            session.results = await task
        finally:
            await hosts.close()
            await transport.release()
            ctx.store.close()
            journal.close()
        if late is not None:
            recorder = await late.settled()
        session.remote = hosts.sent()
        session.finished = time.time()
        session.git = git.result()
        first = runner.eta.first
        session.estimate = None if first is None else (first.made, first.left)
        session.estimate_recorded = first is not None and first.recorded
        path, problems = _write_reports(request, prepared, session, directory, recorder)
        display.finish(session, hint, path)
    if problems:
        raise UsageError("\n".join(problems))
    return session


def _open_directory(
    request: Request, config: Config, system: str
) -> tuple[str, Path, Recovered | None]:
    """The session's id and directory: a new one, or with ``--resume`` the newest one and
    what its journal recorded."""
    if request.resume:
        directory = resumable_session(_prefix(request, config, system))
        return directory.name, directory, recover(directory, owned="--resume")
    session_id, directory = _session_dir(request, config, system)
    write_atomic(directory / COMMAND_FILE, json.dumps(sys.argv[1:]))
    # "latest" points here from the start, so a killed runner's session can be resumed.
    point_link(directory.parent.parent / "latest", os.path.join("runs", session_id))
    return session_id, directory, None


def _new_session(request: Request, prepared: Prepared, session_id: str, directory: Path) -> Session:
    """The record of this session, before any case ran."""
    return Session(
        id=session_id,
        started=time.time(),
        command=["assay", *sys.argv[1:]],
        cwd=os.getcwd(),
        system=prepared.system,
        config=prepared.config.source,
        hostname=os.uname().nodename,
        user=_user(),
        version=__version__,
        directory=str(directory),
        options={
            "max_retries": request.options.max_retries,
            "serial": request.options.serial,
            "keep_stage": request.options.keep_stage,
            "max_cases": request.options.max_cases,
            "exit_first": request.options.exit_first,
            "cancel_running": request.options.cancel_running,
            "settings": list(request.settings),
            "repeat": request.repeat,
            "fail_on_regression": request.fail_on_regression,
        },
        problems=[Problem(p.location, p.message, p.test) for p in prepared.problems],
    )


def _probe_git(tests: Path) -> Future[GitState | None]:
    """The tests' repository's commit, asked in a thread of its own: ``git status`` of a
    big repository takes a while, and the cases need not wait for it."""
    future: Future[GitState | None] = Future()

    def work() -> None:
        try:
            commit, dirty = git_state(tests)
            future.set_result(GitState(commit, dirty) if commit else None)
        except Exception as exc:  # git_state handles git's failures: this is a bug
            future.set_exception(exc)

    threading.Thread(target=work, name="assay-git", daemon=True).start()
    return future


def _context(
    request: Request,
    prepared: Prepared,
    directory: Path,
    hosts: Hosts,
    display: JobStates,
    journal: Journal,
    session_id: str,
) -> RunContext:
    """What the cases run with: a place per partition (its scheduler, builder, launcher and
    site), stage and output roots, the store."""
    places: dict[str, Place] = {}
    local_slots = asyncio.Semaphore(request.max_local or os.cpu_count() or 1)
    builders: dict[int, Scheduler] = {}  # the direct scheduler of each transport, for builds
    for case in prepared.plan.cases:
        part = case.partition
        if part.full_name in places:
            continue
        transport = hosts.of[part.full_name]
        job_files = hosts.job_files(part.full_name)
        scheduler = make_scheduler(
            SchedulerSetup(
                partition=part,
                transport=transport,
                workdir=hosts.jobs_dir(part.full_name),
                job_files=job_files,
                grace=request.grace,
                pack=not request.no_pack,
                session=session_id,
                on_state=_job_states(display, part.full_name),
                on_submit=lambda spec, job_id, packed: journal.job(
                    spec.name.removeprefix("assay-"), job_id, packed
                ),
            )
        )
        if scheduler.runs_builds:
            builder, build_slots = scheduler, None
        else:
            builder = builders.setdefault(
                id(transport), DirectScheduler(transport, request.grace, job_files)
            )
            build_slots = None if transport.remote else local_slots
        places[part.full_name] = Place(
            scheduler=scheduler,
            builder=builder,
            build_slots=build_slots,
            launcher=partition_launcher(part.config),
            site=hosts.site(part.full_name),
        )
    (directory / "stage").mkdir(exist_ok=True)
    (directory / "output").mkdir(exist_ok=True)
    local_builds = builders.get(id(hosts.local)) or DirectScheduler(hosts.local, request.grace)
    return RunContext(
        stage_root=directory / "stage",
        output_root=directory / "output",
        places=places,
        transports=hosts.transports,
        store=hosts.store,
        keep_stage=request.options.keep_stage,
        grace=request.grace,
        module_checks=ModuleChecks(directory / "modules", local_builds, local_slots),
    )


def _job_states(display: JobStates, partition: str) -> Callable[[Any, str, str | None], None]:
    """Where a partition's scheduler tells its jobs' states."""

    def tell(spec: Any, state: str, reason: str | None) -> None:
        display.job_state(partition, spec.name, state, reason, spec.members or (spec.name,))

    return tell


def _on_signals(
    session: Session, task: asyncio.Task[list[CaseResult]], transports: Sequence[Transport]
) -> Callable[[int], None]:
    """What a signal does: the first cancels the run (each case ends within its grace
    period), a second kills every process still running."""
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if session.interrupted is None:
            session.interrupted = sig.name
            task.cancel()
        else:  # a second signal: no more grace for anything still running
            for transport in transports:
                transport.kill_all()

    def forward(signum: int) -> None:
        loop.call_soon_threadsafe(on_signal, signal.Signals(signum))

    return forward


def _write_reports(
    request: Request, prepared: Prepared, session: Session, directory: Path, recorder: Recorder
) -> tuple[Path, list[str]]:
    """The session's report.json (first: whatever follows must not lose it), the end of its
    recording, regressions found against its history (the results database, else the
    prefix's session directories), and the reports the command line asked for. Returns the
    report's path and the files that could not be written (the user's to fix: shown after
    the summary, without losing it or the other files)."""
    from assay.results import report  # lazy: the end of a run only

    path = report.write(session, directory / "report.json")
    recorder.finish(session, *(reversed(session.estimate) if session.estimate else ()))
    if not request.html and not _measured(session):
        # Nothing to hold against history: the database is not opened again, and the
        # detection is not imported.
        return _against_history(request, prepared, session, path, None)
    from assay.results.db.source import open_history  # lazy: sessions that measured

    config, system = prepared.config, prepared.system
    prefix = _prefix(request, config, system)
    # A database the recorder could not open was reported then: not tried (and said) again.
    with open_history(
        database_target(config, system, prefix) if recorder.opened else None,
        prefix,
        warn_on_stderr,
        exclude=session.id,
        until=session.started,
    ) as history:
        return _against_history(request, prepared, session, path, history)


def _measured(session: Session) -> bool:
    """Whether a case of ``session`` has a metric value (what regressions are found in)."""
    return any(m.value is not None for r in session.results for m in r.metrics)


def _against_history(
    request: Request,
    prepared: Prepared,
    session: Session,
    path: Path,
    history: HistorySource | None,
) -> tuple[Path, list[str]]:
    """Regressions against ``history`` (None: the session measured nothing), then the
    report files the command line asked for."""
    from assay.results import report

    detection = prepared.config.detection.settings()
    if history is not None:
        from assay.results import regressions  # lazy: sessions that measured

        session.regressions = regressions.find(session, history, detection)
    if session.regressions:
        report.write(session, path)
    problems: list[str] = []
    if request.report:
        _write_file("JSON report", request.report, problems, lambda out: report.write(session, out))
    if request.junit:
        from assay.results import junit  # lazy: start-up time (xml.etree: 22 ms; --junit only)

        _write_file(
            "JUnit XML report", request.junit, problems, lambda out: junit.write(session, out)
        )
    if request.html:
        from assay.results import html  # lazy: start-up time (plotting; --html only)

        assert history is not None  # --html always reads it

        data = report.to_dict(session)
        _write_file(
            "HTML report",
            request.html,
            problems,
            lambda out: html.write(data, out, history, detection),
        )
    return path, problems


def _write_file(what: str, path: str, problems: list[str], write: Callable[[str], object]) -> None:
    """Write a report file the user asked for; a path that cannot be written is theirs to
    fix, and must lose neither the summary nor the other files."""
    try:
        write(path)
    except UsageError as exc:  # it says what went wrong itself
        problems.append(str(exc))
    except OSError as exc:
        problems.append(f"cannot write the {what} {path}: {exc.strerror or exc}")


def _user() -> str:
    import getpass  # lazy: start-up time

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
