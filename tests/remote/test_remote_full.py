"""Remote directories a run cannot write to, against the real sshd: a work dir on a full
file system (a job that fails there for want of space cannot write why, as its stderr is on
that disk too, so the case's reason says the file system is full and where to free space),
and a store in a directory of another account."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.remote.conftest import SshServer, write_config

pytestmark = [pytest.mark.ssh]


@pytest.fixture
def small_disk(sshd: SshServer) -> Iterator[Path]:
    """A 2 MiB tmpfs the remote account owns, where it can reach it (not below tmp_path:
    pytest makes that readable to root alone); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = Path(tempfile.mkdtemp(prefix="assay-small-disk-"))
    mount.chmod(0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        shutil.chown(mount, sshd.user, sshd.user)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def test_a_case_failing_on_a_full_remote_disk_says_the_disk_is_full(
    sshd: SshServer,
    small_disk: Path,
    tmp_path: Path,
    write: Callable[[str, str], Path],
    assay_cli: Callable[..., CliResult],
) -> None:
    workdir = small_disk / "w"
    write_config(tmp_path, sshd, str(workdir))
    write(
        "test_big.py",
        """
        import assay

        class Big(assay.Test):
            command = "head -c 4M /dev/zero > out.bin && echo wrote"

            def sanity(self, out):
                out.expect("wrote")

        class Small(assay.Test):
            command = "false"
        """,
    )
    result = assay_cli("run", "test_big.py", "-p", "remote", "-n", "Big", "--plain")
    assert result.code == 1, result
    (case,) = result.report["cases"]
    # Before: "exit code 1 (expected exit code 0)" and an empty stderr, nothing else.
    reason = re.sub(r"\(\d+ bytes free\)", "(N bytes free)", case["failure"]["reason"])
    assert reason == (
        "exit code 1 (expected exit code 0); the host's file system is full there (N bytes "
        f"free): free space in ssh.workdir {sshd.host}:{workdir} (old sessions, failed "
        "cases' dirs) or point it at another file system"
    )
    # With room again, a case that fails for its own reasons says nothing of the disk.
    shutil.rmtree(workdir / "sessions")
    other = assay_cli("run", "test_big.py", "-p", "remote", "-n", "Small", "--plain")
    assert other.code == 1, other
    (case,) = other.report["cases"]
    assert case["failure"]["reason"] == "exit code 1 (expected exit code 0)"


def test_a_store_the_remote_account_may_not_write_is_named_once_with_the_setting(
    sshd: SshServer,
    workdir: str,
    tmp_path: Path,
    write: Callable[[str, str], Path],
    assay_cli: Callable[..., CliResult],
) -> None:
    theirs = Path(tempfile.mkdtemp(prefix="assay-not-writable-"))
    try:
        theirs.chmod(0o755)  # root's: the remote account may look, not write
        write_config(tmp_path, sshd, workdir, store=str(theirs / "s"))
        write("in.txt", "input\n")
        write(
            "test_reads.py",
            """
            import assay

            class Reads(assay.Test):
                sources = "in.txt"
                command = "cat in.txt"
            """,
        )
        result = assay_cli("run", "test_reads.py", "-p", "remote", "--plain")
    finally:
        theirs.rmdir()
    assert result.code == 1, result
    (case,) = result.report["cases"]
    # Before: "the store at S: S: Permission denied; use a store the remote account may
    # write", the path twice and no setting named.
    assert case["failure"]["reason"].endswith(
        f"the store at {theirs}/s: Permission denied; use a store the remote account may "
        "write (ssh.store, or the path named)"
    ), case["failure"]
