"""`assay fetch` of a case whose kept directory on the host was replaced by a symbolic link
(to another directory of the host) after the run: the link is not followed, and nothing of
what it points to is brought back. The link and its target lie in the test's own work
directory on the host (a sandbox)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.remote.conftest import SshServer

Cli = Callable[..., CliResult]


def test_fetch_refuses_a_kept_directory_replaced_by_a_link(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    remote_write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    remote_write(
        "test_fails.py",
        """
        import assay

        class Fails(assay.Test):
            command = "echo mine > mine.txt; exit 3"
        """,
    )
    result = assay_cli("run", "test_fails.py", "-p", "remote")
    assert result.code == 1, result
    case = result.case("Fails")
    kept = Path(case["remote_dir"].partition(":")[2])
    elsewhere = sshd.home / workdir / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("SECRET\n")
    os.chown(elsewhere, kept.stat().st_uid, kept.stat().st_gid)
    os.chown(elsewhere / "secret.txt", kept.stat().st_uid, kept.stat().st_gid)
    kept.rename(kept.with_name(kept.name + "-moved"))
    kept.symlink_to(elsewhere)
    fetched = assay_cli("fetch", case["id"][:8])
    output = Path(case["output_dir"])
    assert not (output / "secret.txt").exists()
    assert fetched.code == 2, fetched
    assert "is a symbolic link on the host" in fetched.stderr
    assert "Traceback" not in fetched.stderr
