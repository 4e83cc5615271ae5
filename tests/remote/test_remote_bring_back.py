"""What comes back from an SSH host has a cap: the files ``keep_files`` names come back
whole up to ``ssh.bring_back_kept`` bytes per case; past it a file stays on the host, and
the case's notes name it, its size and the setting that raises the cap (against the real
sshd)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.remote.conftest import SshServer, write_config

pytestmark = [pytest.mark.ssh]

Cli = Callable[..., CliResult]

TESTS = """
import assay


class Keeps(assay.Test):
    command = "head -c 3000000 /dev/zero > big.bin; echo small > small.txt"
    keep_files = ["*.bin", "small.txt"]

    def sanity(self, out):
        out.expect("small", "small.txt")
        out.expect("never", "big.bin")
"""


def test_a_kept_file_past_the_cap_stays_on_the_host_and_is_named(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path], assay_cli: Cli
) -> None:
    write_config(tmp_path, sshd, workdir, bring_back_kept=1_000_000)
    write("test_keeps.py", TESTS)
    result = assay_cli("run", "test_keeps.py", "-p", "remote", "--plain")
    case = result.case("Keeps")
    reason = case["failure"]["reason"]
    assert "file 'big.bin' is not here: it stayed in " in reason, result
    assert "3000000 bytes" in reason and "ssh.bring_back_kept" in reason, reason
    assert "1000000" in reason, reason
    output = Path(case["output_dir"])
    assert (output / "small.txt").read_text() == "small\n"  # the rest came back
    assert not (output / "big.bin").exists()


def test_kept_files_under_the_cap_come_back_whole(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path], assay_cli: Cli
) -> None:
    write_config(tmp_path, sshd, workdir)  # the default cap: 64 MiB per case
    write("test_keeps.py", TESTS)
    result = assay_cli("run", "test_keeps.py", "-p", "remote", "--plain")
    case = result.case("Keeps")
    assert case["failure"]["reason"].startswith("pattern 'never' not found in big.bin"), result
    assert (Path(case["output_dir"]) / "big.bin").stat().st_size == 3_000_000
