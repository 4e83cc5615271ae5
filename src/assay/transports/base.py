"""What every transport offers: commands, processes and files on one host.

A transport is how assay reaches the host a partition's work happens on: this machine
(:class:`~assay.transports.local.LocalTransport`) or a machine reached over SSH
(:mod:`assay.transports.ssh`). Everything above it (schedulers, the pipeline's staging)
is written against :class:`Transport`, so a scheduler runs unchanged over either.

Paths are the host's paths, typed :class:`~pathlib.PurePosixPath`: code that holds one
cannot read or write it on this machine by mistake; it asks the transport.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

import msgspec

UNKNOWN = 124
"""Exit code of :meth:`Transport.run` when no answer came (a time limit, a lost
connection): the command may or may not have run; asking again may work."""


class CommandResult(msgspec.Struct, frozen=True):
    """How a short command ended: its exit code and its output."""

    code: int
    stdout: str
    stderr: str


class Staging(msgspec.Struct):
    """A case's files for the directory its job runs in, written by the request that
    starts the job on a remote host (one request, not two): the directory (emptied first
    when ``fresh``), the files (relative path, content, mode), and once the job started,
    what the directory held then (``listed``: relative path -> [size, mtime in ns])."""

    directory: PurePosixPath
    files: list[tuple[str, bytes, int]]
    fresh: bool
    listed: dict[str, list[int]] | None = None
    # What to bring back as the job ends, sent with its end (the fields of
    # :meth:`RemoteHost.collect` but the directory and baseline), and what came.
    collect: dict[str, Any] | None = None
    collected: (
        tuple[list[tuple[str, bytes, int, int]], list[tuple[str, int]], list[tuple[str, int]]]
        | None
    ) = None


class TransportError(Exception):
    """The host cannot be reached or refused an operation (the message names the host)."""


class HostGone(TransportError):
    """The connection to the host was lost and could not be made again in time: what the
    case's job did there is unknown (it may even have passed), so the case is not the
    test's failure but aborted, and ``assay run --resume`` runs it again."""


@runtime_checkable
class Process(Protocol):
    """A process a transport started, leading its own process group on its host."""

    pid: int

    @property
    def returncode(self) -> int | None:
        """The exit status once it ended: ``>= 0`` an exit code, ``< 0`` the signal."""

    async def wait(self) -> int:
        """Wait for the end (event-driven, never polled); the exit status."""

    async def terminate(self, grace: float) -> int:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds; the exit status."""


class BytePipe(Protocol):
    """A byte stream to and from a program a transport started: the pipe a remote agent
    (the store's, ``open_remote_store(pipe, root=...)``) speaks its protocol over. The
    members are the store's ``BytePipe``'s, so either side's pipe fits the other."""

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes the program wrote; ``b""`` once its output has ended."""

    def write(self, data: bytes | bytearray) -> None:
        """Queue bytes for the program's input (never blocks; see ``drain``)."""

    async def drain(self) -> None:
        """Wait until the queued input is down to a few buffers (flow control)."""

    async def close(self) -> None:
        """End the program's input, wait a little for it to exit, then stop it."""

    def diagnostics(self) -> str:
        """What the program said on stderr (the tail) and how it ended, or ``""``."""


class Transport(Protocol):
    """Runs commands and moves files on one host."""

    name: str
    """``local`` or ``ssh``."""
    host: str
    """The host as messages name it (``HOST:PATH`` for a remote path)."""
    remote: bool
    """Whether the host's files are elsewhere than this machine's."""
    python: str
    """The Python interpreter on the host that runs the files shipped into jobs."""

    @property
    def uid(self) -> int:
        """The user id commands run as on the host."""

    async def connect(self) -> None:
        """Make sure the connection is up (a no-op on this machine)."""

    async def close(self) -> None:
        """Stop every process still running and let go of the connection."""

    # -- commands and processes --------------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: PurePosixPath | None = None,
    ) -> CommandResult:
        """Run a short command and collect its output. Never raises for a failing command:
        the result says how it ended (:data:`UNKNOWN` when no answer came)."""

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
    ) -> Process:
        """Start a job process in its own process group, its output streaming to files on
        the host. ``time_limit`` is a hint: a remote host enforces it (plus a margin) even
        while the connection is down; the caller still stops the job at its limit.
        ``staging`` (a remote host's only): the files to write into ``cwd`` first, in the
        same request. ``executable`` (this machine's only; other hosts search ``argv[0]``):
        the program found already, when ``argv[0]`` is the word as written. ``drop_caps``
        (this machine's only; a job script drops them itself elsewhere): start it without
        root's mode-overriding capabilities, with no wrapper program
        (:mod:`assay.transports.capthread`)."""

    async def end(self, proc: Process) -> None:
        """After ``proc`` exited: kill what is left of its group and what it started."""

    async def shutdown(self, grace: float) -> None:
        """Terminate every live job process (SIGKILL after ``grace``)."""

    def kill_all(self) -> None:
        """Kill every live job process at once, no grace (a second interrupt); returns at
        once (on a remote host the kill is on its way)."""

    async def open_pipe(self, argv: Sequence[str]) -> BytePipe:
        """Start ``argv`` with its standard input and output as a byte pipe."""

    # -- files ----------------------------------------------------------------------------------

    async def write_bytes(self, path: PurePosixPath, data: bytes, mode: int = 0o644) -> None:
        """Write a file whole, replacing what it held (its directory must exist)."""

    async def read_bytes(self, path: PurePosixPath, limit: int | None = None) -> bytes:
        """A file's content; with ``limit``, at most its last ``limit`` bytes. Raises
        FileNotFoundError when it does not exist."""

    async def rename(self, source: PurePosixPath, target: PurePosixPath) -> None:
        """Rename a file, replacing ``target`` (atomically, on one filesystem)."""

    async def mkdir(self, path: PurePosixPath) -> None:
        """Make a directory and its parents (nothing if it exists)."""

    async def remove(self, path: PurePosixPath) -> None:
        """Remove a file or a directory tree (nothing if it does not exist)."""

    async def put(self, local: Path, path: PurePosixPath) -> None:
        """Copy a local file or directory tree to the host."""

    async def get(self, path: PurePosixPath, local: Path) -> None:
        """Copy a file or directory tree of the host to this machine."""


@runtime_checkable
class RemoteHost(Transport, Protocol):
    """A transport to another machine, with the batched file operations that keep the
    round trips per case few: a case's files go there in one request and what its run left
    comes back in one."""

    home: PurePosixPath

    def path(self, text: str) -> PurePosixPath:
        """A path as the config gives it (``~/x``, relative to the remote home, absolute)."""

    async def write_files(
        self, directory: PurePosixPath, files: Iterable[tuple[str, bytes, int]]
    ) -> None:
        """Several small files under ``directory``: (relative path, content, mode)."""

    async def prepare(
        self, directory: PurePosixPath, files: Iterable[tuple[str, bytes, int]], fresh: bool
    ) -> dict[str, list[int]]:
        """A case's directory in one request: emptied first (``fresh``), ``files`` written
        (relative path, content, mode); what it holds then (:meth:`files_below`)."""

    async def files_below(self, directory: PurePosixPath) -> dict[str, list[int]]:
        """Every file below ``directory``: relative path -> [size, mtime in ns]."""

    async def remove_many(self, paths: Sequence[PurePosixPath]) -> list[tuple[PurePosixPath, str]]:
        """Remove each of ``paths`` (files or trees) in one request; those that could not
        be removed, and why."""

    async def collect(
        self,
        directory: PurePosixPath,
        *,
        names: Sequence[str],
        patterns: Sequence[str],
        baseline: Mapping[str, list[int]],
        max_file: int,
        max_total: int,
        max_kept: int,
    ) -> tuple[list[tuple[str, bytes, int, int]], list[tuple[str, int]], list[tuple[str, int]]]:
        """What a run left in ``directory`` worth bringing back: (path, content, size,
        permission bits) of the files named (their tails), matching ``patterns`` (up to
        ``max_kept`` bytes in all), or new since ``baseline`` and small; (path, size) of
        the new files left there, and of the files matching ``patterns`` left there."""

    async def free_space(self, path: PurePosixPath) -> int | None:
        """Bytes the account may still write on the file system of ``path`` (None: the
        host cannot say)."""


async def write_text(transport: Transport, path: PurePosixPath, text: str) -> None:
    await transport.write_bytes(path, text.encode())


async def read_text(transport: Transport, path: PurePosixPath) -> str | None:
    """A small text file of the host, or None when it does not exist or cannot be read."""
    try:
        return (await transport.read_bytes(path)).decode(errors="replace")
    except OSError:
        return None


def host_path(path: str | PurePosixPath) -> PurePosixPath:
    """A path on a transport's host (never a local :class:`~pathlib.Path`)."""
    return PurePosixPath(path)


__all__ = [
    "UNKNOWN",
    "BytePipe",
    "CommandResult",
    "Process",
    "RemoteHost",
    "Staging",
    "Transport",
    "TransportError",
    "host_path",
    "read_text",
    "write_text",
]
