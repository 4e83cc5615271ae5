"""The local transport's file writes and reads in directories jobs can reach (the
session's job directory: the pack runner shipped there, each pack's manifest and script
under names a job can guess): a link a job planted at such a name is replaced, never
written through, and a FIFO there is refused at once instead of holding the event loop.
Real files, links and FIFOs."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path, PurePosixPath

import pytest

from assay.schedulers.jobfiles import JobFiles
from assay.transports.local import LocalTransport

USERS = "export PATH=$HOME/bin:$PATH\n"


def test_a_write_replaces_a_link_planted_at_the_name(tmp_path: Path) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text(USERS)
    pack = tmp_path / "work" / "pack-0002"
    pack.mkdir(parents=True)
    (pack / "manifest.json").symlink_to(victim)  # a job's guess at the next pack
    asyncio.run(LocalTransport().write_bytes(PurePosixPath(pack / "manifest.json"), b"{}"))
    assert victim.read_text() == USERS
    assert not (pack / "manifest.json").is_symlink()
    assert (pack / "manifest.json").read_bytes() == b"{}"


def test_a_read_refuses_a_link_at_the_name(tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("secret\n")
    (tmp_path / "status").symlink_to(secret)
    with pytest.raises(OSError):
        asyncio.run(LocalTransport().read_bytes(PurePosixPath(tmp_path / "status")))


def test_shipping_the_pack_runner_is_not_held_by_a_fifo_at_its_name(tmp_path: Path) -> None:
    files = JobFiles(PurePosixPath(tmp_path), LocalTransport())
    where = Path(files.packrun())
    os.mkfifo(where)  # a job's, in the session's job directory
    done: list[object] = []
    shipping = threading.Thread(
        target=lambda: done.append(asyncio.run(files.ship("packrun"))), daemon=True
    )
    shipping.start()
    shipping.join(20)  # (a bound on a hang, not a speed: it takes milliseconds)
    held = shipping.is_alive()
    if held:  # (the old read: blocked opening the FIFO; a writer frees it)
        os.close(os.open(where, os.O_WRONLY | os.O_NONBLOCK))
        shipping.join(20)
    assert not held, "shipping waited on the FIFO until a writer came"
    assert done == [PurePosixPath(where)]
    assert where.is_file() and where.read_bytes() == files._data["packrun"]
