"""A case run as root on an SSH host, against scripts/sshd-ci's second server (root, by key,
127.0.0.1 only): with store links in its stage dir, its jobs start without the two
capabilities that let root ignore file modes, so it cannot write into the host's store
through them; ``ASSAY_ROOT_CAPS=keep`` in the environment of ``assay run`` keeps them, there
as here (docs/store.md, docs/remote.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


def _caps(output: Path) -> int:
    (line,) = [x for x in output.read_text().splitlines() if x.startswith("CapEff:")]
    return int(line.split()[1], 16)


def _has(caps: int, bit: int) -> bool:
    return bool(caps >> bit & 1)


@pytest.fixture
def project(
    sshd_root: SshServer, root_workdir: str, tmp_path: Path, write: Callable[[str, str], Path]
) -> Path:
    """A project whose remote partition logs in as root, with the test and its input."""
    write_config(tmp_path, sshd_root, root_workdir)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("the input\n")
    write("test_caps.py", TESTS)
    return sshd_root.home / root_workdir


def test_a_root_case_on_an_ssh_host_starts_without_the_capabilities_that_override_modes(
    project: Path, assay_cli: Cli
) -> None:
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
    reason = case["failure"]["reason"]  # the input and the fix are named, on a host too
    assert reason.startswith("exit code 1 (expected exit code 0); 'input.txt' is a staged"), result
    assert "input.txt: Permission denied" in (out / "assay-run.err").read_text()
    store = project / "store"
    held = [p.read_text() for p in store.rglob("*") if p.is_file() and p.stat().st_size == 10]
    assert "the input\n" in held and "sneaky\n" not in "".join(held)


def test_assay_root_caps_keep_keeps_them_on_an_ssh_host_too(project: Path, assay_cli: Cli) -> None:
    result = assay_cli(
        "run", "test_caps.py", "--plain", "-p", "remote", env={"ASSAY_ROOT_CAPS": "keep"}
    )
    assert result.code == 0, result
    out = Path(result.case("Caps")["output_dir"])
    for job in ("build", "run"):
        caps = _caps(out / f"assay-{job}.out")
        assert _has(caps, CAP_DAC_OVERRIDE) and _has(caps, CAP_FOWNER), (job, hex(caps))


def test_a_root_case_that_makes_a_linked_input_writable_on_the_host_fails_at_cleanup(
    project: Path, assay_cli: Cli, write: Callable[[str, str], Path]
) -> None:
    """Root owns the host's store, so chmod is still open to it: the change is caught as it
    is here, the damaged object is set aside there, and the next run stages the true
    content (it used to pass, and every later case using the input failed)."""
    write(
        "test_chmod.py",
        """
        import assay

        class Chmod(assay.Test):
            sources = "data/"
            command = "chmod u+w input.txt && echo changed > input.txt"
        """,
    )
    result = assay_cli("run", "test_chmod.py", "--plain", "-p", "remote")
    failure = result.case("Chmod")["failure"]
    assert failure["stage"] == "cleanup", result
    assert failure["reason"].startswith(
        "the test wrote to read-only inputs (input.txt); declare them in writable = [...]"
    ), failure
    assert "were set aside" in failure["reason"] and not failure.get("details"), failure
    again = assay_cli("run", "test_caps.py", "--plain", "-p", "remote")
    assert again.code == 0, again
    out = Path(again.case("Caps")["output_dir"]) / "assay-run.out"
    assert "the input" in out.read_text().splitlines()


def test_an_object_damaged_on_the_host_is_set_aside_and_sent_again(
    project: Path, assay_cli: Cli
) -> None:
    """Damaged by hand, or by a run before cleanup caught such writes: staging finds it,
    sets it aside and sends it again, instead of failing every case that uses it (with a
    traceback of assay's own code and advice to run a verify that cannot reach a host)."""
    first = assay_cli("run", "test_caps.py", "--plain", "-p", "remote")
    assert first.code == 0, first
    (blob,) = [
        p
        for p in (project / "store" / "objects" / "blobs").rglob("*")
        if p.is_file() and p.read_bytes() == b"the input\n"
    ]
    blob.chmod(0o644)
    blob.write_text("damaged\n")
    again = assay_cli("run", "test_caps.py", "--plain", "-p", "remote")
    assert again.code == 0, again
    out = Path(again.case("Caps")["output_dir"]) / "assay-run.out"
    assert "the input" in out.read_text().splitlines()
    assert blob.read_bytes() == b"the input\n" and blob.stat().st_mtime_ns == 0
