"""What a host answers when a remote case's files come back (``collect``): paths that leave
the local stage dir, that name it or one of its directories, that pass a NUL, or that go
through a file or a link, are refused and named in the case's notes; the others are written,
and nothing is ever written outside the stage dir.

``HostileHost`` makes up the host agent's answer; the local side (``RemoteSite.bring_back``
and the files it writes) is real. Everything happens in a sandbox under the tmp dir.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path, PurePosixPath
from typing import Any

from assay.config import Ssh
from assay.run.remote_site import RemoteSite
from assay.run.sites import CaseFiles


class HostileHost:
    host = "hostile.example"

    def __init__(self, found: list[tuple[str, bytes, int, int]]) -> None:
        self.found = found

    async def collect(
        self, *args: Any, **kw: Any
    ) -> tuple[list[tuple[str, bytes, int, int]], list, list]:
        return self.found, [], []


HOSTILE = [
    "",
    ".",
    "sub",
    "sub/.",
    "file/inner",
    "../../escape",
    "/abs-escape",
    "link/escape",
    "sub/../../escape2",
    "nul\0byte",
]


def test_hostile_paths_in_collected_files_are_refused_and_named(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    stage = sandbox / "a" / "b" / "c" / "stage"
    (stage / "sub").mkdir(parents=True)
    (stage / "file").write_text("mine")
    os.symlink("../../..", stage / "link")  # a link the case's own setup made
    found = [(rel, b"PWNED", 5, 0o644) for rel in HOSTILE]
    # A set-id, world-writable mode from the host: kept only as far as it is harmless.
    found += [("new/deep/ok.txt", b"fine", 4, 0o6777), ("sub/x.txt", b"x", 1, 0o600)]
    site = RemoteSite(HostileHost(found), Ssh(host="h"), "s", None)  # type: ignore[arg-type]
    files = CaseFiles(local=stage, job=PurePosixPath("/job"))
    asyncio.run(site.bring_back(files, [], []))
    assert (stage / "new/deep/ok.txt").read_bytes() == b"fine"
    assert (stage / "sub/x.txt").read_bytes() == b"x"
    assert (stage / "new/deep/ok.txt").stat().st_mode & 0o7777 == 0o755
    assert (stage / "sub/x.txt").stat().st_mode & 0o7777 == 0o600
    assert (stage / "file").read_text() == "mine" and (stage / "sub").is_dir()
    written = {
        str(Path(base, n).relative_to(sandbox))
        for base, dirs, names in os.walk(sandbox)
        for n in dirs + names
    }
    assert written == {
        "a",
        "a/b",
        "a/b/c",
        "a/b/c/stage",
        "a/b/c/stage/sub",
        "a/b/c/stage/sub/x.txt",
        "a/b/c/stage/file",
        "a/b/c/stage/link",
        "a/b/c/stage/new",
        "a/b/c/stage/new/deep",
        "a/b/c/stage/new/deep/ok.txt",
    }
    for rel in HOSTILE:
        assert any(repr(rel) in note for note in files.notes.values()), (rel, files.notes)
