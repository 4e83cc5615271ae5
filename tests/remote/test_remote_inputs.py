"""The seam between a run and the host's store, against the real sshd: the store agent on an
exec channel of the transport's connection, an upload cut with that connection."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path, PurePosixPath

from assay.run.remote_inputs import HostStore
from assay.store import Store
from assay.store.remote import agent_command, open_remote_store
from tests.remote.conftest import SshServer
from tests.remote.test_ssh_transport import cut_connection, run, transport

MIB = 1024 * 1024


def _held(folder: Path) -> int:
    total = 0
    for base, _dirs, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def test_an_upload_cut_with_the_connection_resumes_on_the_next_one(
    sshd: SshServer, workdir: str, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    for i in range(4):
        (build / f"part{i}.bin").write_bytes(os.urandom(24 * MIB))
    (build / "small.txt").write_text("small\n")
    store = Store(tmp_path / "store")
    tree = store.put("build", build).version.tree
    root = sshd.home / workdir / "store"

    async def work() -> None:
        t = transport(sshd, workdir)
        await t.connect()
        backend = HostStore(t, PurePosixPath(str(root)), "python3", "the test host")
        try:
            pushing = asyncio.ensure_future(backend.push_tree(store, tree))
            while _held(root) < 30 * MIB:  # a part of it is there: cut it off
                assert not pushing.done(), "the upload ended before it could be cut"
                await asyncio.sleep(0.02)
            cut_connection(t)
            report = await asyncio.wait_for(pushing, 120)
            assert t.connections == 2  # made again, and the upload went on on it
            # What the first connection delivered stayed there (whole objects, parts of one)
            # and was not sent again.
            kept = report.bytes_skipped + report.bytes_resumed
            assert kept >= 20 * MIB
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
