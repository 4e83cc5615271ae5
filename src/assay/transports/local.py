"""This machine as a transport: processes in their own process groups, awaited through a
pidfd, and files read and written directly.

A finished process is noticed by the event loop the moment it exits (the pidfd
becomes readable); nothing polls. Each process leads its own session, so a
time limit or an interrupt stops the whole group it started; what left the group is
found through the containment of :mod:`assay.transports.contain` and killed too.
While other jobs run, a job process is started with ``posix_spawn`` in a starter thread
(:mod:`assay.transports.starter`; one without root's mode-overriding capabilities is
started in :mod:`.capthread`'s thread), so that the loop goes on with other cases while the
child creates its output files and execs; the process itself is :mod:`.localproc`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from assay.files import open_regular, write_atomic
from assay.transports import capthread, procfs
from assay.transports import spawn as _spawn
from assay.transports import starter as _starter
from assay.transports.base import (
    UNKNOWN,
    BytePipe,
    CommandResult,
    Process,
    Staging,
    TransportError,
)
from assay.transports.contain import TOKEN, Containment
from assay.transports.envchanges import EnvChanges
from assay.transports.exits import ExitWatch, watch_in
from assay.transports.fdbudget import FdBudget
from assay.transports.localproc import LocalProcess

_TOKEN_BYTES = TOKEN.encode()
# os.fsencode's encoding, called as str.encode (os.fsencode is a Python function).
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()

Submit = Callable[..., "asyncio.Future[int]"]
"""Hands a start call to a thread of its own (``submit(loop, call)``): a starter thread's,
or the capabilities-dropped thread's."""


def _own_environment() -> dict[bytes, bytes]:
    """A copy of this process's environment as bytes: nothing to decode and encode again.
    ``os.environ`` keeps it as a dict of bytes on POSIX; copying that dict is one C call,
    where going through the mapping costs two Python calls per variable, per job."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return dict(data)
    return dict(os.environb)


class LocalTransport:
    """Runs processes on this machine and remembers the live ones, so none outlives a run."""

    name = "local"
    host = "localhost"
    remote = False

    def __init__(self) -> None:
        self.python = sys.executable
        self.live: set[LocalProcess] = set()
        self.containment = Containment()
        self._environment = _spawn.OwnEnvironment()
        self.fds = FdBudget()  # what the running jobs hold of the descriptor limit
        self._watch: ExitWatch | None = None  # the running loop's, once a job started
        # Told (pid, latest start time, token) of each job process started: the session
        # journals it.
        self.on_spawn: Callable[[int, int, str], None] | None = None

    def contain(self) -> None:
        """From now on, find and kill what job processes leave outside their group (call in
        the running event loop; :meth:`release` ends it)."""
        self.containment.start()

    async def release(self) -> None:
        """Kill whatever is left below the runner and stop containing."""
        await self.containment.stop()

    @property
    def uid(self) -> int:
        return os.getuid()

    async def connect(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Stop watching for exits in this loop once no process is left to watch
        (:meth:`shutdown` and :meth:`release` end the processes)."""
        watch = self._watch
        if watch is not None and not watch.busy:
            watch.close()
            self._watch = None

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: PurePosixPath,
        stdout: PurePosixPath,
        stderr: PurePosixPath,
        env: Mapping[str, str] | None = None,
        time_limit: float | None = None,
        staging: Staging | None = None,
        executable: str | None = None,
        drop_caps: bool = False,
    ) -> LocalProcess:
        """Start ``argv`` in ``cwd`` with its output going straight to files (the caller
        enforces ``time_limit``: this runner is the supervisor here); ``executable``: the
        program to run, when ``argv[0]`` is only its name; ``drop_caps``: started from the
        thread without root's mode-overriding capabilities (:mod:`.capthread`)."""
        if staging is not None:  # a local stage dir is where the job runs: nothing to send
            raise TransportError("this machine's jobs run in their stage dir: nothing to stage")
        # Out of descriptors (a low ulimit -n, many jobs at once): wait for a running job
        # to end rather than fail this one (fdbudget). This machine's paths as they are: no
        # Path object of its own per path, per job.
        program = executable if executable is not None else argv[0]
        # posix_spawn in a starter thread while other jobs run or start: the loop goes on
        # with their cases meanwhile. With none (a serial run, a lone case) the loop would
        # only wait for the handback (+8% CPU of a --serial run): started here, as before.
        # A start without root's mode-overriding capabilities goes the same way, through
        # the one thread that lacks them (capthread) instead of a starter thread.
        if (
            (self.live or self.containment.starts)
            and "/" in program
            and _spawn.spawner() is not None
        ):
            submit = _starter.starter().submit
            if drop_caps:
                dropped = capthread.dropped_thread()
                if dropped is None:  # the caller asks only where the drop worked
                    raise RuntimeError("no thread without the capabilities to start a job from")
                submit = dropped.submit
            return await self.fds.start_async(
                self.live,
                lambda: self._start_off_loop(argv, cwd, stdout, stderr, env, program, submit),
            )
        launched = await self.fds.start(
            self.live,
            lambda: self._launch(argv, cwd, stdout, stderr, env, executable, drop_caps),
        )
        return self._started(*launched)

    async def _start_off_loop(
        self,
        argv: Sequence[str],
        cwd: PurePath,
        stdout: PurePath,
        stderr: PurePath,
        env: Mapping[str, str] | None,
        program: str,
        submit: Submit,
    ) -> LocalProcess:
        """Start the process with ``posix_spawn`` in the thread ``submit`` hands it to (a
        starter thread, or the one without root's mode-overriding capabilities), and take it in
        here. Until then containment counts it as a live job's; a cancel while it starts
        waits for the start, then kills the child and reaps it before going on."""
        spawner = _spawn.spawner()
        assert spawner is not None
        token = self.containment.issue()
        entries, extra = self._entries(env, token)
        loop = asyncio.get_running_loop()
        containment = self.containment
        containment.starting(token)
        # Its pidfd-to-be counts from now: starts under way at once each take one.
        self.fds.take(1)
        try:
            done = submit(
                loop,
                functools.partial(
                    spawner.spawn,
                    program,
                    argv,
                    entries,
                    cwd=os.fspath(cwd),
                    stdout=os.fspath(stdout),
                    stderr=os.fspath(stderr),
                    extra=extra,
                ),
            )
            try:
                # A StartFuture: a cancel reaches this task once the start is over.
                pid = await done
            except asyncio.CancelledError:
                await self._end_cancelled_start(done, token)
                raise
            return self._started(pid, None, token)
        finally:
            self.fds.give_back(1)
            containment.started(token)

    async def _end_cancelled_start(self, done: asyncio.Future[int], token: str) -> None:
        """The case was cancelled while its process started: once the start is over, kill
        what it started and wait until it is reaped (a second cancel does not cut this
        short: a SIGKILLed group ends at once, and no job process may be left unknown)."""
        while not done.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([done])
        if done.exception() is not None:
            return  # nothing started
        proc = self._started(done.result(), None, token)
        proc.signal_group(signal.SIGKILL)
        while proc.returncode is None:
            with contextlib.suppress(asyncio.CancelledError):
                await proc.wait()
        await self.end(proc)

    def _entries(
        self, env: Mapping[str, str] | None, token: str
    ) -> tuple[Sequence[bytes], tuple[bytes, ...]]:
        """The environment of a job as :meth:`Spawner.spawn` takes it: entries (the
        kept tuple of this process's own where it can) and extra ones, ``token`` among them."""
        extra: tuple[bytes, ...] = ()
        entries: Sequence[bytes]
        if env is None:  # this process's own, as it is now (a hook may have changed it)
            entries = self._environment.entries()
            extra = (_TOKEN_BYTES + b"=" + token.encode(),)
        elif isinstance(env, EnvChanges):  # its own too, with a few changes
            fs, errors = _FS_ENCODING, _FS_ERRORS
            changes = {
                k.encode(fs, errors): None if v is None else v.encode(fs, errors)
                for k, v in env.changes.items()
            }
            changes[_TOKEN_BYTES] = token.encode()
            entries = self._environment.changed(changes)
        else:
            given = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
            entries = _spawn.environment({**given, _TOKEN_BYTES: token.encode()})
        return entries, extra

    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: PurePath,
        stdout: PurePath,
        stderr: PurePath,
        env: Mapping[str, str] | None = None,
        executable: str | None = None,
        drop_caps: bool = False,
    ) -> LocalProcess:
        """:meth:`spawn`, synchronously (no waiting for descriptors)."""
        launched = self._launch(argv, cwd, stdout, stderr, env, executable, drop_caps)
        return self._started(*launched)

    def _launch(
        self,
        argv: Sequence[str],
        cwd: PurePath,
        stdout: PurePath,
        stderr: PurePath,
        env: Mapping[str, str] | None,
        executable: str | None,
        drop_caps: bool,
    ) -> tuple[int, subprocess.Popen[bytes] | None, str]:
        """Start the process: its pid, the Popen that started it (if one did), its token.
        Raises before anything started (what :meth:`FdBudget.start` retries)."""
        via = None
        if drop_caps:
            dropped = capthread.dropped_thread()
            if dropped is None:  # the caller asks only where the drop worked: assay's bug
                raise RuntimeError("no thread without the capabilities to start a job from")
            via = dropped.call
        token = self.containment.issue()
        program = executable if executable is not None else argv[0]
        spawner = _spawn.spawner() if "/" in program else None
        popen = None
        if spawner is not None:
            entries, extra = self._entries(env, token)
            pid = spawner.spawn(
                program,
                argv,
                entries,
                cwd=os.fspath(cwd),
                stdout=os.fspath(stdout),
                stderr=os.fspath(stderr),
                via=via,
                extra=extra,
            )
        else:  # a program found on $PATH, or no posix_spawn that can do it all
            environment: dict[Any, Any]
            if env is None:
                environment = _own_environment()
                environment[_TOKEN_BYTES] = token.encode()
            elif isinstance(env, EnvChanges):
                environment = {**env.full(), TOKEN: token}
            else:
                environment = {**env, TOKEN: token}
            if via is None:
                popen = _spawn.popen(argv, cwd, stdout, stderr, environment, executable)
            else:
                popen = via(_spawn.popen, argv, cwd, stdout, stderr, environment, executable)
            pid = popen.pid
        return pid, popen, token

    def _started(self, pid: int, popen: subprocess.Popen[bytes] | None, token: str) -> LocalProcess:
        """The process :meth:`_launch` started, registered and watched."""
        loop = asyncio.get_running_loop()
        # Registered before the loop runs anything else: its zombie is its own to reap.
        self.containment.register(pid, token)
        if self.on_spawn is not None:
            self.on_spawn(pid, procfs.started_by_now(), token)
        proc = LocalProcess(
            pid, loop, token, popen, self._exit_watch(loop) if popen is None else None
        )
        self.fds.take(proc.fds)
        self.live.add(proc)
        proc.on_end = self._ended
        return proc

    def _exit_watch(self, loop: asyncio.AbstractEventLoop) -> ExitWatch | None:
        """The exit watch of ``loop`` (one per loop: a transport can outlive a loop)."""
        watch = self._watch
        if watch is None or watch.loop is not loop:
            self._watch = watch = watch_in(loop, watch)
        return watch

    def _ended(self, proc: LocalProcess) -> None:
        self.live.discard(proc)
        self.containment.unregister(proc.pid, proc.token)
        self.fds.give_back(proc.fds)  # (its pidfd is closed by now)
        proc.fds = 0

    async def end(self, proc: Process) -> None:
        """After ``proc`` exited: kill what is left of its group, and what it started that
        left the group (adopted by the runner once ``proc`` was gone)."""
        assert isinstance(proc, LocalProcess)
        proc.signal_group(signal.SIGKILL)
        self.containment.sweep(proc.pid, time.monotonic() - proc.started)

    def kill_all(self) -> None:
        for proc in list(self.live):
            proc.signal_group(signal.SIGKILL)

    async def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: PurePosixPath | None = None,
    ) -> CommandResult:
        """Run a short command (a scheduler query) and capture its output; never raises for
        a failing command: the result says how it ended."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=None if env is None else dict(env),
                cwd=None if cwd is None else Path(cwd),
                # A group of its own, but in the runner's session: not a job process, so
                # containment leaves it (and its exit status) to asyncio.
                process_group=0,
            )
        except OSError as exc:
            return CommandResult(127, "", f"{argv[0]}: {exc.strerror}")
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await _finished(proc)  # (not until a process it left lets go of its pipes)
            return CommandResult(UNKNOWN, "", f"{argv[0]}: no answer within {timeout:.0f}s")
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            # Waited for (its exit and its pipes' end) before the cancel goes on: left to the
            # garbage collector, its transport was closed after the run's loop, with "Event
            # loop is closed" and "unclosed transport" warnings at the end of the process.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(_finished(proc))
            raise
        return CommandResult(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )

    async def shutdown(self, grace: float) -> None:
        """Terminate every live process group, killing what remains after ``grace``; then
        kill everything the job processes left."""
        procs = list(self.live)
        if procs:
            await asyncio.gather(*(p.terminate(grace) for p in procs), return_exceptions=True)
        self.containment.sweep()

    async def open_pipe(self, argv: Sequence[str]) -> BytePipe:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            process_group=0,  # a helper, not a job process (see run)
        )
        return _ProcessPipe(proc)

    # -- files: this machine's own ---------------------------------------------------------

    async def write_bytes(self, path: PurePosixPath, data: bytes, mode: int = 0o644) -> None:
        # Under a fresh name, renamed over ``path``: a link at the name (a job's, in a
        # directory jobs can reach) is replaced, never written through.
        target = Path(path)
        write_atomic(target, data)
        if mode != 0o644:
            target.chmod(mode)

    async def read_bytes(self, path: PurePosixPath, limit: int | None = None) -> bytes:
        # Only a regular file, not a link at its name, and never waited on (a FIFO a job
        # put there would hold the event loop for good); at most ``limit`` bytes.
        with open_regular(str(path)) as fh:
            size = os.fstat(fh.fileno()).st_size
            if limit is not None and size > limit:
                fh.seek(size - limit)
            return fh.read(size if limit is None else min(size, limit))

    async def rename(self, source: PurePosixPath, target: PurePosixPath) -> None:
        os.replace(source, target)

    async def mkdir(self, path: PurePosixPath) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    async def remove(self, path: PurePosixPath) -> None:
        target = Path(path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    async def put(self, local: Path, path: PurePosixPath) -> None:
        _copy(local, Path(path))

    async def get(self, path: PurePosixPath, local: Path) -> None:
        _copy(Path(path), local)


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


async def _finished(proc: asyncio.subprocess.Process) -> None:
    """``proc`` (killed) with its transport closed now, on this loop, and waited for: its
    pipes are closed first, since a process it started in a session of its own may hold
    them open for long after (and ``wait`` waits for them too)."""
    # (asyncio's Process has no public close: its transport is the one way to end its pipes)
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()
    await proc.wait()


class _ProcessPipe:
    """A local helper process's stdin and stdout as a :class:`BytePipe`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self._in = proc.stdin
        self._out = proc.stdout

    async def read(self, n: int) -> bytes:
        return await self._out.read(n)

    def write(self, data: bytes | bytearray) -> None:
        self._in.write(data)

    async def drain(self) -> None:
        await self._in.drain()

    async def close(self) -> None:
        if not self._in.is_closing():
            self._in.close()
        with contextlib.suppress(ConnectionError):
            await self._in.wait_closed()
        await self._proc.wait()

    def diagnostics(self) -> str:
        code = self._proc.returncode
        return "" if not code else f"exit status {code}"
