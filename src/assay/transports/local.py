"""This machine as a transport: processes in their own process groups, awaited through a
pidfd, and files read and written directly.

A finished process is noticed by the event loop the moment it exits (the pidfd
becomes readable); nothing polls. Each process leads its own session, so a
time limit or an interrupt stops the whole group it started; what left the group is
found through the containment of :mod:`assay.transports.contain` and killed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from assay.files import open_regular, write_atomic
from assay.transports import capthread, procfs
from assay.transports import spawn as _spawn
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

_HAVE_PIDFD = hasattr(os, "pidfd_open")


_TOKEN_BYTES = TOKEN.encode()
# os.fsencode's encoding, called as str.encode (os.fsencode is a Python function).
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


def _own_environment() -> dict[bytes, bytes]:
    """A copy of this process's environment as bytes: nothing to decode and encode again.
    ``os.environ`` keeps it as a dict of bytes on POSIX; copying that dict is one C call,
    where going through the mapping costs two Python calls per variable, per job."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return dict(data)
    return dict(os.environb)


class LocalProcess:
    """A child process that leads its own process group."""

    def __init__(
        self,
        pid: int,
        loop: asyncio.AbstractEventLoop,
        token: str = "",
        popen: subprocess.Popen[bytes] | None = None,
        watch: ExitWatch | None = None,
    ) -> None:
        self._popen = popen  # when Popen started it: Popen reaps it
        self.pid = pid
        self.token = token  # ASSAY_CASE_TOKEN: marks everything this process starts
        self.started = time.monotonic()
        self._loop = loop
        self._code: int | None = None  # the exit status, once reaped
        # Each wait() has a future of its own, so that cancelling one waiter (a time limit)
        # leaves the others, and the process, waitable: what asyncio.shield does, with no
        # callbacks in between (one loop step less per job).
        self._waiters: list[asyncio.Future[int]] = []
        self.on_end: Callable[[LocalProcess], None] | None = None  # told before any waiter
        self._pidfd = -1
        if _HAVE_PIDFD:
            # (ENOSYS on kernels before 5.3, RHEL 8's 4.18 among them; EMFILE when no
            # descriptor is left: the job started anyway, posix_spawn needs none)
            with contextlib.suppress(OSError):
                self._pidfd = os.pidfd_open(self.pid)
        self.fds = 1 if self._pidfd >= 0 else 0  # what it holds in the runner (FdBudget)
        if self._pidfd >= 0:
            if watch is not None:
                watch.add(self._pidfd, self._exited)
            else:
                loop.add_reader(self._pidfd, self._on_exit)
        else:
            # No pidfd to watch it by: a thread of its own waits. Not the loop's executor:
            # its few threads (min(32, CPUs + 4)) would each block on one job, leaving the
            # ends of the jobs beyond them unnoticed until one of theirs ended, and starting
            # one may need a module imported, a descriptor there may be none of.
            name = f"assay-wait-{pid}"
            threading.Thread(
                target=self._wait_blocking, args=(loop,), name=name, daemon=True
            ).start()

    def _reap(self) -> int:
        """Wait for the process (it has exited, or is about to) and return its status:
        ``>= 0`` an exit code, ``< 0`` the signal that killed it."""
        if self._popen is not None:
            return self._popen.wait()
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _on_exit(self) -> None:
        """The loop's own reader of this process's pidfd: it exited."""
        self._loop.remove_reader(self._pidfd)
        self._exited()

    def _exited(self) -> None:
        """The pidfd became readable (no longer watched): the process exited."""
        os.close(self._pidfd)
        self._pidfd = -1
        self._finish(self._reap())

    def _wait_blocking(self, loop: asyncio.AbstractEventLoop) -> None:
        code = self._reap()
        loop.call_soon_threadsafe(self._finish, code)

    def _finish(self, code: int) -> None:
        if self._code is not None:
            return
        self._code = code
        if self.on_end is not None:
            self.on_end(self)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # (a cancelled waiter is done)
                waiter.set_result(code)

    @property
    def returncode(self) -> int | None:
        return self._code

    async def wait(self) -> int:
        """The exit status: ``>= 0`` an exit code, ``< 0`` the signal that killed it."""
        if self._code is not None:
            return self._code
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter in self._waiters:  # (a cancelled wait leaves nothing behind)
                self._waiters.remove(waiter)
            raise

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to every process in the group (quietly if none is left)."""
        try:  # (not contextlib.suppress: once for every job)
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def terminate(self, grace: float) -> int:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds; return the exit status."""
        self.signal_group(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await self.wait()
        except TimeoutError:
            pass
        except asyncio.CancelledError:  # asked to hurry: no more grace
            self.signal_group(signal.SIGKILL)
            raise
        self.signal_group(signal.SIGKILL)  # stragglers that ignored SIGTERM
        return await self.wait()


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
        launched = await self.fds.start(
            self.live,
            lambda: self._launch(argv, cwd, stdout, stderr, env, executable, drop_caps),
        )
        return self._started(*launched)

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
            extra: tuple[bytes, ...] = ()
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
