"""A remote host's site: a partition whose jobs run on an SSH host, in a stage dir of the
same name under the host's workdir. What it sends before a job and brings back after one is
described in :mod:`assay.run.sites`, beside the protocol it implements."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from assay.config import Ssh
from assay.define.output import comparison_spec
from assay.files import write_atomic
from assay.run import scripts
from assay.run.artifacts import SessionStore
from assay.run.keeping import written_message
from assay.run.remote_inputs import RemoteInputs, Sent
from assay.run.sites import VERDICT, CaseFiles, Wanted
from assay.transports.base import RemoteHost, Staging, Transport, TransportError

if TYPE_CHECKING:
    from assay.store.trees import Tree


class RemoteSite:
    """A remote host reached through ``host`` (an SSH transport), for one partition."""

    remote = True

    def __init__(self, host: RemoteHost, settings: Ssh, session: str, inputs: RemoteInputs) -> None:
        self.transport: Transport = host
        self.host = host
        self.settings = settings
        self.session = session
        self.inputs = inputs
        self._tasks: set[asyncio.Task[None]] = set()
        self._fetched: dict[PurePosixPath, asyncio.Future[None]] = {}
        self._doomed: list[PurePosixPath] = []  # stage dirs to remove in the next request
        self.not_removed: list[str] = []  # HOST:PATH (reason) of those that could not be

    @property
    def root(self) -> PurePosixPath:
        """This session's directory on the host."""
        return self.host.path(self.settings.workdir) / "sessions" / self.session

    def job_dir(self, local: Path) -> PurePosixPath:
        return self.root / "stage" / local.name

    @property
    def sent(self) -> Sent:
        return self.inputs.sent

    async def open(self, files: CaseFiles, fresh: bool) -> None:
        # Made with the first files sent, in the same request (a round trip per case less).
        files.made, files.fresh = False, fresh

    async def stage(self, files: CaseFiles, tree: Tree, writable: Sequence[str]) -> None:
        files.trees.append((tree, tuple(writable)))

    async def artifact(self, store: SessionStore, name: str, tree: str) -> PurePath:
        return await self.inputs.checkout(tree)

    async def fetch(self, path: PurePosixPath, local: Path) -> None:
        # Once per session: the dependents of one case ask for its file side by side, and
        # one of them may be importing it while another would write it again.
        task = self._fetched.get(path)
        if task is None:
            task = self._fetched[path] = asyncio.ensure_future(self._fetch(path, local))
        await asyncio.shield(task)

    async def _fetch(self, path: PurePosixPath, local: Path) -> None:
        data = await self.host.read_bytes(path)
        await asyncio.to_thread(write_atomic, local, data)

    async def ship(self, local: Path, store: SessionStore) -> None:
        # Once per host and session, however many of its dependents run there: into the
        # local store, the objects the host's store lacks sent, hard links staged there.
        await self.inputs.ship(
            self.job_dir(local), lambda: store.source_tree(local, exclude=scripts.ASSAY_FILES)
        )

    async def comparison(
        self, files: CaseFiles, store: SessionStore, spec: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The same comparison with the host's paths: the expected outputs checked out
        there (sent once, like any store content), the actual ones in the job's dir."""
        expected = Path(str(spec["expected"]))
        tree = await store.source_tree(expected)
        remote = await self.inputs.checkout(tree)
        if not expected.is_dir():
            remote = remote / expected.name
        job = dict(spec)
        job.update(comparison_spec(Path(remote), Path(files.job)))
        for key in ("version", "rtol", "atol"):
            job[key] = spec.get(key, job[key])
        tools = spec.get("tools")
        if isinstance(tools, str):  # the suite's tools for its command: checked out there too
            job["tools"] = str(await self.inputs.checkout(await store.source_tree(Path(tools))))
        return job

    async def send(
        self, files: CaseFiles, with_job: bool = False, back: Wanted | None = None
    ) -> Staging | None:
        changed = []
        size_changed = 0
        for rel, (size, mtime, mode) in _local_files(files.local).items():
            if rel in files.linked or rel in _NOT_SENT or files.sent.get(rel) == (size, mtime):
                continue
            changed.append((rel, mode))
            files.sent[rel] = (size, mtime)
            size_changed += size
        if size_changed <= _INLINE:  # a case's scripts: a thread's hand-over costs more
            contents = _read_all(files.local, changed)
        else:
            contents = await asyncio.to_thread(_read_all, files.local, changed)
        self.inputs.sent.files += len(contents)
        self.inputs.sent.file_bytes += sum(len(data) for _, data, _ in contents)
        if with_job and not files.trees:  # written by the request that starts the job
            staging = Staging(files.job, contents, fresh=files.fresh and not files.made)
            if back is not None:
                staging.collect = self._collect_fields(back)
            files.made, files.staging = True, staging
            return staging
        listed: dict[str, list[int]] | None = None
        if not files.made:  # emptied, made and written in one request
            listed = await self.host.prepare(files.job, contents, files.fresh)
            files.made = True
        elif contents:
            await self.host.write_files(files.job, contents)
        trees, files.trees = files.trees, []
        for tree, writable in trees:
            shared = _tree(
                tuple(e for e in tree.entries if e.path in files.linked or e.type != "file")
            )
            await self.inputs.stage(shared, files.job, writable)
        if listed is None or trees:
            listed = await self.host.files_below(files.job)
        files.baseline = listed
        return None

    async def bring_back(
        self, files: CaseFiles, names: Sequence[str], patterns: Sequence[str], made: bool = True
    ) -> None:
        staging, files.staging = files.staging, None
        if staging is not None and staging.listed is not None:  # the job's start listed it
            files.baseline = staging.listed
        wanted = self._collect_fields(Wanted(names, patterns, made))
        if staging is not None and staging.collected is not None and staging.collect == wanted:
            found, left, kept_left = staging.collected  # it came with the job's end
        else:
            found, left, kept_left = await self.host.collect(
                files.job, baseline=files.baseline, **wanted
            )
        if sum(len(data) for _, data, _, _ in found) <= _INLINE:
            _write_all(files, found)
        else:
            await asyncio.to_thread(_write_all, files, found)
        # A read-only input the host lists as changed since staging was written through.
        files.written.update(
            rel for rel in [f[0] for f in found] + [r for r, _ in left] if rel in files.linked
        )
        here = f"{self.host.host}:{files.job}"
        for rel, data, size, _mode in found:
            if len(data) < size:
                files.notes[_label(rel)] = (
                    f"only its last {len(data)} of {size} bytes came back from {here} "
                    f"(ssh.bring_back)"
                )
        for rel, size in left:
            files.notes[rel] = (
                f"it stayed in {here} ({size} bytes, more than ssh.bring_back or "
                f"bring_back_total allow; name it in keep_files to bring it back)"
            )
        for rel, size in kept_left:
            files.notes[rel] = (
                f"it stayed in {here} ({size} bytes: keep_files bring back at most "
                f"ssh.bring_back_kept = {self.settings.bring_back_kept} bytes per case; raise "
                f"it, or bring the case's directory back with `assay fetch`)"
            )

    async def inputs_written(
        self, files: CaseFiles, linked: Sequence[tuple[str, str]]
    ) -> str | None:
        if not files.written:
            return None
        touched = sorted(files.written)
        objects = [_object_id(blob) for rel, blob in linked if rel in files.written]
        await self.inputs.set_aside([o for o in objects if o is not None])
        return written_message(touched) + (
            f"; on {self.host.host} they were set aside, and are sent again before any other use"
        )

    def _collect_fields(self, back: Wanted) -> dict[str, Any]:
        return {
            "names": list(back.names),
            "patterns": list(back.patterns),
            "max_file": self.settings.bring_back,
            "max_total": self.settings.bring_back_total if back.made else 0,
            "max_kept": self.settings.bring_back_kept,
        }

    async def finish(self, files: CaseFiles, keep: bool) -> str | None:
        if keep:
            return f"{self.host.host}:{files.job}"
        # The case is done; its stage dir there goes with those of the cases that finish
        # at the same time, in one request nobody waits for (:meth:`settle` does).
        self.discard(files.job)
        return None

    async def space_note(self, files: CaseFiles) -> str | None:
        # A full disk there fails a job without a word: the program's own "No space left
        # on device" cannot be written either (its stderr is on that disk).
        free = await self.host.free_space(files.job)
        if free is None or free >= _LOW_SPACE:
            return None
        workdir = self.host.path(self.settings.workdir)
        return (
            f"the host's file system is full there ({free} bytes free): free space in "
            f"ssh.workdir {self.host.host}:{workdir} (old sessions, failed cases' dirs) or "
            "point it at another file system"
        )

    def discard(self, job_dir: PurePosixPath) -> None:
        if not self._doomed:
            asyncio.get_running_loop().call_soon(self._remove_doomed)
        self._doomed.append(job_dir)

    def _remove_doomed(self) -> None:
        paths, self._doomed = self._doomed, []
        task = asyncio.get_running_loop().create_task(self._remove(paths))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _remove(self, paths: list[PurePosixPath]) -> None:
        try:
            failed = await self.host.remove_many(paths)
        except (OSError, TransportError) as exc:
            failed = [(path, str(exc)) for path in paths]
        self.not_removed += [f"{self.host.host}:{path} ({why})" for path, why in failed]

    async def settle(self) -> None:
        """Wait for the removals :meth:`discard` started (before the connection closes)."""
        if self._doomed:
            self._remove_doomed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


_NOT_SENT = {scripts.PYTHON_OUT, VERDICT}  # written here for this side only
_LOW_SPACE = 1 << 20  # bytes free below which a remote file system counts as full
_INLINE = 256 * 1024  # bytes of a case's files read or written without a worker thread


def _label(rel: str) -> str:
    """How the test's ``out`` names a file (its stdout and stderr by those words)."""
    return {scripts.RUN_OUT: "stdout", scripts.RUN_ERR: "stderr"}.get(rel, rel)


def _local_files(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every regular file below ``folder``: relative path -> (size, mtime, mode)."""
    found = {}
    for base, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            info = os.lstat(path)
            if os.path.isfile(path) and not os.path.islink(path):
                rel = os.path.relpath(path, folder)
                found[rel] = (info.st_size, info.st_mtime_ns, info.st_mode & 0o777)
    return found


def _read_all(folder: Path, names: list[tuple[str, int]]) -> list[tuple[str, bytes, int]]:
    return [(rel, (folder / rel).read_bytes(), mode) for rel, mode in names]


def _object_id(blob: str) -> tuple[str, str] | None:
    """(kind, digest) of a local store object's path (``objects/KIND/AB/CDEF...``), as the
    host's store names the same object; None for an assembled file (it has no one object)."""
    path = PurePath(blob)
    if len(path.parts) < 4 or path.parents[2].name != "objects":
        return None
    return path.parent.parent.name, path.parent.name + path.name


def _write_all(files: CaseFiles, found: list[tuple[str, bytes, int, int]]) -> None:
    """Write what came back from the host into the local stage dir. The host names the
    paths: one that leaves the stage dir, names it or a directory in it, or goes through a
    link or a file there is not written, and its note says why. Files are made anew, never
    through a link (:class:`TreeWriter`); their permissions are the host's (a program built
    there runs here), but never a set-id bit or write access for others."""
    from assay.store.agent.treewrite import TreeWriter, WriteRefused  # lazy: start-up time

    with TreeWriter(files.local) as out:
        for rel, data, _size, mode in found:
            if rel in files.linked:
                continue  # an input: the local copy is the store's
            try:
                out.write_file(rel, io.BytesIO(data), (mode & 0o755) | 0o600, replace="files")
            except WriteRefused as exc:
                files.notes[rel] = f"not written: the host named {exc}"
                continue
            stat = (files.local / rel).stat()
            files.sent[rel] = (stat.st_size, stat.st_mtime_ns)  # the host has it already


def _tree(entries: Any) -> Tree:
    from assay.store.trees import Tree  # lazy: start-up time (remote sites only)

    return Tree(entries)
