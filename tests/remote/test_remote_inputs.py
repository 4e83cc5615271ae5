"""The seam between a run and the host's store, against the real sshd: the store agent on an
exec channel of the transport's connection, an upload cut with that connection."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from assay.run.remote_inputs import HostStore
from assay.store import Store
from assay.store.remote import agent_command, open_remote_store
from assay.store.transfer_types import TransferProgress
from assay.transports.ssh import SshTransport
from tests.remote.conftest import SshServer
from tests.remote.test_ssh_transport import cut_connection, run, transport

MIB = 1024 * 1024


class _CutWhenAcknowledged:
    """Watches the upload as the live display does; once the host has acknowledged
    ``after`` bytes, kills the connection's sshd session there and then: the cut falls
    inside the upload however slow the machine is, and what was acknowledged is known."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.transport: SshTransport | None = None
        self.acknowledged: int | None = None  # when it was cut

    def upload(self, where: str, progress: TransferProgress) -> None:
        if self.acknowledged is not None or progress.phase != "sending":
            return
        if progress.bytes_done >= self.after and progress.bytes_done < progress.bytes_total:
            assert self.transport is not None
            cut_connection(self.transport)
            self.acknowledged = progress.bytes_done


def test_an_upload_cut_with_the_connection_resumes_on_the_next_one(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    for i in range(4):
        (build / f"part{i}.bin").write_bytes(os.urandom(6 * MIB))
    (build / "small.txt").write_text("small\n")
    store = Store(tmp_path / "store")
    tree = store.put("build", build).version.tree
    root = sshd.home / workdir / "store"
    cut = _CutWhenAcknowledged(after=8 * MIB)  # a whole object and part of the next

    async def work() -> None:
        t = transport(sshd, workdir)
        cut.transport = t
        await t.connect()
        backend = HostStore(t, PurePosixPath(str(root)), "python3", "the test host", cut)
        try:
            # (No bound of its own: run()'s limit below is the guard against a hang. A
            # second, shorter one here only measured how loaded the machine was.)
            report = await backend.push_tree(store, tree)
            assert cut.acknowledged is not None, "the upload ended before it could be cut"
            assert t.connections == 2  # made again, and the upload went on on it
            # What the first connection delivered stayed there (whole objects, parts of one)
            # and was not sent again.
            kept = report.bytes_skipped + report.bytes_resumed
            assert kept >= cut.acknowledged
            assert report.bytes_sent + kept <= report.bytes_needed + 4 * MIB
            target = PurePosixPath(str(sshd.home / workdir / "stage"))
            await backend.stage(tree, str(target))
            pipe = await t.open_pipe(["sh", "-c", agent_command()])
            async with await open_remote_store(pipe, root=str(root), where="check") as check:
                assert (await check.verify()).clean
        finally:
            await backend.close()
            await t.close()

    run(work, limit=300)
    staged = sshd.home / workdir / "stage"
    for i in range(4):
        assert (staged / f"part{i}.bin").read_bytes() == (build / f"part{i}.bin").read_bytes()
    assert (staged / "small.txt").read_text() == "small\n"
