"""Files on a host reached over SSH: small ones through assay's host agent (one request for
many), larger ones and trees through the connection's SFTP channel (again on the next
connection if this one drops meanwhile)."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from assay.transports.base import Staging
from assay.transports.download import Downloaded, download
from assay.transports.ssh_answers import (
    READ_MAX,
    Collection,
    Listing,
    Read,
    capped,
    collect_limit,
    read_whole,
)
from assay.transports.sshlib import asyncssh

if TYPE_CHECKING:
    from assay.transports.ssh_link import Link

_SFTP_ERRNO = {asyncssh.FX_NO_SUCH_FILE: 2, asyncssh.FX_PERMISSION_DENIED: 13}
T = TypeVar("T")


class SshFiles:
    """The file half of :class:`~assay.transports.ssh.SshTransport` (its base
    :class:`~assay.transports.ssh_keep.SshConnection` gives it ``call``, ``ask``,
    ``_ready`` and ``_lost``)."""

    if TYPE_CHECKING:
        host: str

        async def call(self, op: str, **args: Any) -> dict[str, Any]: ...

        async def ask(self, op: str, shape: type[T], **args: Any) -> T: ...

        async def _ready(self) -> Link: ...

        def _lost(self, link: Link) -> None: ...

    async def write_bytes(self, path: PurePosixPath, data: bytes, mode: int = 0o644) -> None:
        await self.call(
            "write",
            path=str(path),
            data=base64.b64encode(data).decode(),
            mode=None if mode == 0o644 else mode,
        )

    async def write_files(
        self, directory: PurePosixPath, files: Iterable[tuple[str, bytes, int]]
    ) -> None:
        """Several small files under ``directory`` in one request: (relative path, content,
        mode)."""
        listed = [
            {"path": rel, "data": base64.b64encode(data).decode(), "mode": mode}
            for rel, data, mode in files
        ]
        await self.call("write_files", dir=str(directory), files=listed)

    async def read_bytes(self, path: PurePosixPath, limit: int | None = None) -> bytes:
        asked = READ_MAX if limit is None else limit
        answer = await self.ask("read", Read, path=str(path), limit=asked)
        return read_whole(self.host, str(path), answer, limit)

    async def rename(self, source: PurePosixPath, target: PurePosixPath) -> None:
        await self.call("rename", source=str(source), target=str(target))

    async def mkdir(self, path: PurePosixPath) -> None:
        await self.call("mkdir", path=str(path))

    async def remove(self, path: PurePosixPath) -> None:
        await self.call("remove", path=str(path))

    async def remove_many(self, paths: Sequence[PurePosixPath]) -> list[tuple[PurePosixPath, str]]:
        """Remove each of ``paths`` in one request; those that could not be, and why."""
        answer = await self.call("remove", paths=[str(p) for p in paths])
        return [(PurePosixPath(p), str(why)) for p, why in answer["failed"]]

    async def prepare(
        self, directory: PurePosixPath, files: Iterable[tuple[str, bytes, int]], fresh: bool
    ) -> dict[str, list[int]]:
        """A case's directory in one request: emptied first (``fresh``), ``files`` written
        (relative path, content, mode); what it holds then (:meth:`files_below`)."""
        message = self.prepare_message(Staging(directory, list(files), fresh))
        answer = await self.ask("prepare", Listing, **message)
        return {rel: list(sizes) for rel, sizes in answer.files.items()}

    @staticmethod
    def prepare_message(staging: Staging) -> dict[str, Any]:
        """The agent's ``prepare`` request for ``staging`` (alone, or folded into a spawn)."""
        listed = [
            {"path": rel, "data": base64.b64encode(data).decode(), "mode": mode}
            for rel, data, mode in staging.files
        ]
        return {"dir": str(staging.directory), "files": listed, "fresh": staging.fresh}

    async def files_below(self, directory: PurePosixPath) -> dict[str, list[int]]:
        """Every file below ``directory``: relative path -> [size, mtime in ns]."""
        answer = await self.ask("snapshot", Listing, dir=str(directory))
        return {rel: list(sizes) for rel, sizes in answer.files.items()}

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
        """What a run left worth bringing back (:func:`hostagent.files.collect`), in one request;
        an answer carrying more than the caps allow fails it (:func:`.ssh_answers.capped`)."""
        answer = await self.ask(
            "collect",
            Collection,
            dir=str(directory),
            names=list(names),
            patterns=list(patterns),
            baseline=dict(baseline),
            max_file=max_file,
            max_total=max_total,
            max_kept=max_kept,
        )
        return self.collected(answer, collect_limit(names, max_file, max_total, max_kept))

    def collected(
        self, answer: Collection, limit: int
    ) -> tuple[list[tuple[str, bytes, int, int]], list[tuple[str, int]], list[tuple[str, int]]]:
        """The agent's answer to ``collect`` (or a job's end event's ``collected``), refused
        when it carries more than ``limit`` bytes (:func:`.ssh_answers.capped`)."""
        capped(self.host, answer, limit)
        found = [(f.path, f.data, f.size, f.mode) for f in answer.files]
        return found, list(answer.left), list(answer.kept_left)

    async def free_space(self, path: PurePosixPath) -> int | None:
        """Bytes free to the account on the file system of ``path``, from SFTP's statvfs
        (an OpenSSH extension: None where the server lacks it)."""
        free: list[int] = []

        async def work(sftp: asyncssh.SFTPClient) -> None:
            info = await sftp.statvfs(str(path))
            free.append(info.bavail * info.frsize)

        try:
            await self._sftp(work)
        except OSError:
            return None
        return free[0] if free else None

    async def _sftp(self, work: Any) -> None:
        """Run ``work(sftp)``, again on the next connection if this one drops meanwhile."""
        while True:
            link = await self._ready()
            try:
                await work(link.sftp)
                return
            except (asyncssh.Error, OSError, ConnectionError) as exc:
                if link.dead or link.conn.is_closed():
                    self._lost(link)
                    continue
                if isinstance(exc, asyncssh.SFTPError):
                    raise OSError(_SFTP_ERRNO.get(exc.code, 5), exc.reason) from None
                raise

    async def put(self, local: Path, path: PurePosixPath) -> None:
        await self.mkdir(path.parent)
        await self._sftp(lambda sftp: sftp.put(str(local), str(path), recurse=True, preserve=True))

    async def get(self, path: PurePosixPath, local: Path) -> None:
        await self.get_tree(path, local)

    async def get_tree(self, path: PurePosixPath, local: Path) -> Downloaded:
        """Copy the directory ``path`` into ``local`` (new), trusting none of the host's
        answers (see :mod:`assay.transports.download`); what was left out."""
        local.parent.mkdir(parents=True, exist_ok=True)
        local.mkdir(0o700)  # new: the copy never writes into what was there
        done = Downloaded()
        tries = 0

        async def work(sftp: asyncssh.SFTPClient) -> None:
            nonlocal done, tries
            tries += 1
            if tries > 1:  # start again from empty: the dropped connection cut the copy short
                shutil.rmtree(local)
                local.mkdir(0o700)
            done = await download(sftp, os.fsencode(str(path)), local)

        await self._sftp(work)
        return done
