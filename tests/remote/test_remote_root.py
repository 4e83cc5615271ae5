"""A case run as root on an SSH host, against scripts/sshd-ci's second server (root, by key,
127.0.0.1 only): with store links in its stage dir, its jobs start without the two
capabilities that let root ignore file modes, so it cannot write into the host's store
through them; ``ASSAY_ROOT_CAPS=keep`` in the environment of ``assay run`` keeps them, there
as here (docs/store.md, docs/remote.md)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult
from tests.remote.conftest import SshServer, write_config

pytestmark = [pytest.mark.ssh]

Cli = Callable[..., CliResult]

CAP_DAC_OVERRIDE = 1
CAP_FOWNER = 3
CAP_CHOWN = 0  # one root keeps either way: the jobs do run as root with capabilities

TESTS = """
import assay


class Caps(assay.Test):
    sources = "data/"
    build = "grep '^CapEff:' /proc/self/status"
    command = (
        "grep '^CapEff:' /proc/self/status; cat input.txt; "
        "[ {sneak} = no ] || echo sneaky >> input.txt"
    )
    sneak = assay.variable(str, "no")
"""


@pytest.fixture
def root_workdir(sshd_root: SshServer) -> Iterator[str]:
    """A work directory of this test's own in root's home on the host (relative to it)."""
    name = f".assay-test-{secrets.token_hex(6)}"
    yield name
    path = sshd_root.home / name
    # Only ever a directory of this fixture's naming, directly in root's home.
    assert path.parent == sshd_root.home and path.name.startswith(".assay-test-")
    if path.is_dir() and not path.is_symlink():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)


def _caps(output: Path) -> int:
    (line,) = [x for x in output.read_text().splitlines() if x.startswith("CapEff:")]
    return int(line.split()[1], 16)


def _has(caps: int, bit: int) -> bool:
    return bool(caps >> bit & 1)


def _setup(tmp_path: Path, sshd_root: SshServer, workdir: str, write: Any) -> None:
    write_config(tmp_path, sshd_root, workdir)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("the input\n")
    write("test_caps.py", TESTS)


def test_a_root_case_on_an_ssh_host_starts_without_the_capabilities_that_override_modes(
    sshd_root: SshServer,
    root_workdir: str,
    tmp_path: Path,
    write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    _setup(tmp_path, sshd_root, root_workdir, write)
    result = assay_cli("run", "test_caps.py", "--plain", "-p", "remote", "-S", "sneak=yes")
    case = result.case("Caps")
    assert case["partition"] == "remote", result
    out = Path(case["output_dir"])
    for job in ("build", "run"):
        caps = _caps(out / f"assay-{job}.out")
        assert not _has(caps, CAP_DAC_OVERRIDE), (job, hex(caps))
        assert not _has(caps, CAP_FOWNER), (job, hex(caps))
        assert _has(caps, CAP_CHOWN), (job, hex(caps))
    # So root's write through the read-only link into the host's store was refused.
    assert case["failure"]["reason"] == "exit code 1 (expected exit code 0)", result
    assert "input.txt: Permission denied" in (out / "assay-run.err").read_text()
    store = sshd_root.home / root_workdir / "store"
    held = [p.read_text() for p in store.rglob("*") if p.is_file() and p.stat().st_size == 10]
    assert "the input\n" in held and "sneaky\n" not in "".join(held)


def test_assay_root_caps_keep_keeps_them_on_an_ssh_host_too(
    sshd_root: SshServer,
    root_workdir: str,
    tmp_path: Path,
    write: Callable[[str, str], Path],
    assay_cli: Cli,
) -> None:
    _setup(tmp_path, sshd_root, root_workdir, write)
    result = assay_cli(
        "run", "test_caps.py", "--plain", "-p", "remote", env={"ASSAY_ROOT_CAPS": "keep"}
    )
    assert result.code == 0, result
    out = Path(result.case("Caps")["output_dir"])
    for job in ("build", "run"):
        caps = _caps(out / f"assay-{job}.out")
        assert _has(caps, CAP_DAC_OVERRIDE) and _has(caps, CAP_FOWNER), (job, hex(caps))
