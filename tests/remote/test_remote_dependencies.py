"""A dependency on a local partition serving a dependent on an SSH partition
(``dependencies_from``), against the real sshd: the dependency's files go into the local
store, are pushed to the host's store (only what it lacks) and staged there by hard links
where the dependent looks for them; a second run sends no object again."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, CliResult
from tests.remote.conftest import SshServer, write_config

pytestmark = [pytest.mark.ssh]

Cli = Callable[..., CliResult]

TESTS = """
import assay


class Build(assay.Test):
    systems = ["*:local"]   # only here: the remote partition takes it from local
    sources = "greeter.c"
    build = "cc -O2 greeter.c -o greeter"
    command = "./greeter local"


class Use(assay.Test):
    systems = ["*:remote"]
    depends_on = ["Build"]
    name = assay.parameter(["alice", "bob"])
    command = "{greeter} {name}; stat -c 'links=%h' {greeter}; ls {folder}"
    greeter = assay.variable(str, "")
    folder = assay.variable(str, "")

    @assay.before("run")
    def locate(self):
        self.folder = str(self.dependency("Build").stage_dir)
        self.greeter = str(self.dependency("Build").stage_dir / "greeter")

    def sanity(self, out):
        out.expect(rf"^hello, {self.name}$")
"""


def _sent(report: dict[str, Any]) -> dict[str, int]:
    (sent,) = report["session"]["remote"].values()
    return dict(sent)


def test_a_local_build_serves_runs_on_an_ssh_partition_through_the_store(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path], assay_cli: Cli
) -> None:
    write_config(tmp_path, sshd, workdir, extra='dependencies_from = ["local"]\n')
    shutil.copy(ROOT / "examples" / "deps" / "greeter.c", tmp_path / "greeter.c")
    write("test_cross.py", TESTS)
    first = assay_cli("run", "test_cross.py", "--plain", "--keep-stage")
    assert first.code == 0, first
    first_report = first.report
    host_root = sshd.home / workdir / "sessions"
    for name in ("alice", "bob"):
        case = first.case(f"Use[name={name}]")
        assert case["partition"] == "remote"
        out = (Path(case["output_dir"]) / "assay-run.out").read_text().splitlines()
        assert out[0] == f"hello, {name}"
        # Staged by hard links to the host store's object: more than one link.
        assert int(out[1].removeprefix("links=")) >= 2, out
        # Where a case of the remote partition would have had it: the session's stage dir
        # on the host, with the build's outputs and sources but none of assay's own files.
        listed = out[2:]
        assert "greeter" in listed and "greeter.c" in listed
        assert not [f for f in listed if f.startswith("assay-")], listed
    build = first.case("Build")
    assert build["partition"] == "local"
    shipped = host_root / first_report["session"]["id"] / "stage" / Path(build["stage_dir"]).name
    assert (shipped / "greeter").is_file()  # --keep-stage: still there
    sent = _sent(first_report)
    assert sent["objects"] > 0 and sent["object_bytes"] > 1000  # the binary, once
    # Once for both dependents: the binary's bytes went once, not twice.
    binary = (Path(build["stage_dir"]) / "greeter").stat().st_size
    assert sent["object_bytes"] < 2 * binary

    second = assay_cli("run", "test_cross.py", "--plain")
    assert second.code == 0, second
    again = _sent(second.report)
    assert (again["objects"], again["object_bytes"]) == (0, 0)
    assert "[ SEND]" not in second.stdout
    # Without --keep-stage the copy on the host goes once its dependents are done (and
    # theirs, as they passed): nothing is left in the session's stage dir there.
    stage = host_root / second.report["session"]["id"] / "stage"
    assert not stage.exists() or list(stage.iterdir()) == []


ESCAPING = """
import assay


class Build(assay.Test):
    systems = ["*:local"]
    build = "ln -s ../../elsewhere/secret link; mkfifo pipe"
    command = "true"


class Use(assay.Test):
    systems = ["*:remote"]
    depends_on = ["Build"]
    command = "true"
"""


def test_a_dependency_that_cannot_be_shipped_fails_its_dependent_at_setup_saying_why(
    sshd: SshServer, workdir: str, tmp_path: Path, write: Callable[[str, str], Path], assay_cli: Cli
) -> None:
    """A FIFO has no place in a store; the message names the dependency, the host and the
    file, and no traceback is shown."""
    write_config(tmp_path, sshd, workdir, extra='dependencies_from = ["local"]\n')
    write("test_escape.py", ESCAPING)
    result = assay_cli("run", "test_escape.py", "--plain")
    assert result.code == 1, result
    assert result.case("Build")["status"] == "passed"
    failure = result.case("Use")["failure"]
    assert failure["stage"] == "setup"
    reason = failure["reason"]
    assert reason.startswith(
        f"dependency Build @ci:local+builtin cannot be sent to partition ci:remote's host "
        f"({sshd.host}): "
    ), reason
    assert "pipe: not a regular file, directory or symlink" in reason
    assert "Traceback" not in result.stdout + result.stderr + str(failure.get("details"))


BACK = """
import assay


class Build(assay.Test):
    systems = ["*:remote"]
    sources = "greeter.c"
    build = "cc -O2 greeter.c -o greeter"
    command = "true"
    keep_files = ["greeter"]   # comes back whole


class Use(assay.Test):
    systems = ["*:local"]
    depends_on = ["Build"]
    command = "{greeter} here; echo from={folder}"
    greeter = assay.variable(str, "")
    folder = assay.variable(str, "")

    @assay.before("run")
    def locate(self):
        self.folder = str(self.dependency("Build").stage_dir)
        self.greeter = str(self.dependency("Build").stage_dir / "greeter")

    def sanity(self, out):
        out.expect(r"^hello, here$")
"""


def test_a_local_dependent_of_a_dependency_on_an_ssh_host_reads_what_came_back(
    tmp_path: Path, remote_write: Callable[[str, str], Path], assay_cli: Cli
) -> None:
    """The other way round: the dependency ran on the host; a case here sees this
    machine's copy of its stage dir (what came back of it: keep_files whole), not a path
    on the host that its commands could not reach."""
    text = (
        (tmp_path / "assay.toml")
        .read_text()
        .replace(
            "[systems.ci.partitions.local]\n",
            '[systems.ci.partitions.local]\ndependencies_from = ["remote"]\n',
        )
    )
    (tmp_path / "assay.toml").write_text(text)
    shutil.copy(ROOT / "examples" / "deps" / "greeter.c", tmp_path / "greeter.c")
    remote_write("test_back.py", BACK)
    result = assay_cli("run", "test_back.py", "--plain", "--keep-stage")
    assert result.code == 0, result
    build = result.case("Build")
    assert build["partition"] == "remote"
    out = (Path(result.case("Use")["output_dir"]) / "assay-run.out").read_text().splitlines()
    assert out == ["hello, here", f"from={build['stage_dir']}"]  # this machine's copy
