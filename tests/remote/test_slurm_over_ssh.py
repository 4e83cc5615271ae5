"""Slurm behind an SSH login node: the CI cluster (scripts/slurm-ci) reached only through the
real sshd (scripts/sshd-ci), with every Slurm command absent from assay's own PATH."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, CliResult, _assay_env, run_assay
from tests.remote.conftest import SshServer, processes_below
from tests.slurm.conftest import _cluster_up

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]

SLURM_COMMANDS = {
    "sbatch",
    "squeue",
    "sacct",
    "scancel",
    "srun",
    "sinfo",
    "scontrol",
    "salloc",
    "sattach",
    "sstat",
    "sprio",
    "sshare",
    "sacctmgr",
    "sreport",
    "sdiag",
    "strigger",
    "sbcast",
}


@pytest.fixture(scope="session")
def cluster() -> None:
    """The CI cluster (the Slurm tests' own check: skipped without one, unless required)."""
    problem = _cluster_up()
    if problem:
        if os.environ.get("ASSAY_REQUIRE_SLURM") == "1":
            pytest.fail(f"ASSAY_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)


@pytest.fixture
def no_slurm_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with everything of /usr/bin and /bin but the Slurm commands."""
    folder = tmp_path_factory.mktemp("path-without-slurm")
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            link = folder / name
            if name not in SLURM_COMMANDS and not link.exists() and not link.is_symlink():
                link.symlink_to(os.path.join(directory, name))
    path = str(folder)
    assert shutil.which("sbatch", path=path) is None and shutil.which("bash", path=path)
    return path


@pytest.fixture
def cluster_dir(tmp_path: Path, cluster: None, sshd: SshServer, workdir: str) -> Iterator[Path]:
    """A project whose partition ``login`` is the cluster behind the sshd; the cluster is
    this test's alone while it runs (the Slurm tests' lock)."""
    ssh = sshd.table(workdir)
    (tmp_path / "assay.toml").write_text(
        textwrap.dedent(
            f"""
            [systems.ci.partitions.login]
            transport = "ssh"
            scheduler = "slurm"
            max_jobs = 50
            resources = {{ nodes = 2, cpus_per_node = 4 }}
            ssh = {ssh}
            slurm = {{ partition = "debug", poll_min = 0.3, poll_max = 2.0 }}
            """
        )
    )
    lock = Path(tempfile.gettempdir()) / "assay-slurm-tests.lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield tmp_path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _assay(directory: Path, path: str, *args: str, timeout: float = 600) -> CliResult:
    return run_assay(*args, cwd=directory, env={"PATH": path}, timeout=timeout)


def _jobs(user: str, session: str, every: bool = False) -> list[tuple[str, str]]:
    """(job id, name) of ``user``'s jobs whose name holds ``session`` (squeue; with
    ``every``, sacct: ended ones too)."""
    if every:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-u", user, "-o", "JobID,JobName%200", "-S", "now-1hour"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    else:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-u", user, "-o", "%i|%j"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rows = [tuple(line.split("|", 1)) for line in out.splitlines() if "|" in line]
    return [(i, n) for i, n in rows if session in n]  # type: ignore[misc]


def _start(directory: Path, path: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assay", *args],
        cwd=directory,
        env=_assay_env(directory, {"COLUMNS": "200", "PATH": path}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(check: Callable[[], Any], limit: float, what: str) -> Any:
    deadline = time.monotonic() + limit
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} within {limit}s"
        time.sleep(0.3)
    return found


def _session(directory: Path) -> str:
    return (directory / ".assay" / "latest").resolve().name


@pytest.mark.slow
def test_the_examples_run_on_slurm_behind_ssh_with_no_slurm_command_here(
    cluster_dir: Path, no_slurm_path: str, sshd: SshServer
) -> None:
    for name in ("hello", "params", "deps", "byo-solver"):
        shutil.copytree(ROOT / "examples" / name, cluster_dir / "examples" / name)
    result = _assay(
        cluster_dir, no_slurm_path, "run", "examples/", "-p", "login", "--plain", timeout=900
    )
    assert result.code == 0, result
    report = result.report
    assert {c["status"] for c in report["cases"]} == {"passed"}
    # They ran as Slurm jobs of the remote account, submitted through the login node.
    job_ids = {c["job_id"].split("+")[0].split("_")[0] for c in report["cases"] if c["job_id"]}
    # Accounting is written by slurmdbd after the fact: a job that just ended may take a
    # moment to appear in sacct (seen under load in CI).
    deadline = time.monotonic() + 60
    while True:
        ran = _jobs(sshd.user, _session(cluster_dir), every=True)
        if job_ids <= {i.split("_")[0] for i, _ in ran} or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ran, "no job of the session in sacct"
    assert job_ids <= {i.split("_")[0] for i, _ in ran}
    comparisons = [c for c in report["cases"] if c["comparisons"]]
    assert comparisons and all(c["comparisons"][0]["ok"] for c in comparisons)
    (sent,) = report["session"]["remote"].values()
    assert sent["objects"] > 0  # sources, the build, the references: to the login node's store
    again = _assay(
        cluster_dir, no_slurm_path, "run", "examples/", "-p", "login", "--plain", timeout=900
    )
    assert again.code == 0, again
    (resent,) = again.report["session"]["remote"].values()
    assert (resent["objects"], resent["object_bytes"]) == (0, 0)  # a second run sends none


def _write_sleepers(directory: Path, count: int, command: str) -> None:
    (directory / "test_sleepers.py").write_text(
        textwrap.dedent(
            f"""
            import assay

            class Sleepers(assay.Test):
                i = assay.parameter(range({count}))
                command = {command!r}
                time_limit = "2m"

                def sanity(self, out):
                    out.expect(r"^done$")
            """
        )
    )


def test_ctrl_c_leaves_no_job_in_the_queue_and_no_process(
    cluster_dir: Path, no_slurm_path: str, sshd: SshServer, workdir: str
) -> None:
    _write_sleepers(cluster_dir, 6, "sleep 300; echo done")
    proc = _start(cluster_dir, no_slurm_path, "run", "test_sleepers.py", "--plain", "--no-pack")
    try:
        session = _wait_for(
            lambda: (cluster_dir / ".assay" / "latest").exists() and _session(cluster_dir),
            30,
            "a session",
        )
        _wait_for(lambda: len(_jobs(sshd.user, session)) >= 6, 90, "6 jobs in squeue")
        # Ctrl-C once every job's command runs. A job cancelled while slurmd is still
        # launching its batch script can leave the script's first child behind with this
        # cluster's proctrack/linuxproc (seen once in CI: jobs cancelled 90 ms after their
        # launch, one script outlived the SIGTERM, and its ``sleep`` escaped the SIGKILL sweep
        # 5 s later). That is Slurm's process tracking on a compute node, out of assay's reach.
        _wait_for(
            lambda: (
                sum(
                    line.endswith(": sleep 300")
                    for line in processes_below(sshd, sshd.home / workdir)
                )
                >= 6
            ),
            90,
            "the 6 jobs' commands running",
        )
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    _wait_for(lambda: _jobs(sshd.user, session) == [] or None, 30, "the queue empty")
    # slurmstepd signals a cancelled job's processes after the job has left squeue; an
    # orphan would outlive this wait (its ``sleep 300`` runs for minutes).
    deadline = time.monotonic() + 30
    while (left := processes_below(sshd, sshd.home / workdir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == []


def test_resume_follows_the_jobs_a_killed_runner_submitted_through_ssh(
    cluster_dir: Path, no_slurm_path: str, sshd: SshServer
) -> None:
    _write_sleepers(cluster_dir, 4, "sleep 8; echo done")
    proc = _start(cluster_dir, no_slurm_path, "run", "test_sleepers.py", "--plain", "--no-pack")
    try:
        session = _wait_for(
            lambda: (cluster_dir / ".assay" / "latest").exists() and _session(cluster_dir),
            30,
            "a session",
        )
        submitted = _wait_for(
            lambda: (jobs := _jobs(sshd.user, session)) and len(jobs) >= 4 and jobs, 90, "4 jobs"
        )
        proc.send_signal(signal.SIGKILL)  # no chance to cancel anything
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    resumed = _assay(cluster_dir, no_slurm_path, "run", "--resume", "--plain", timeout=300)
    assert resumed.code == 0, resumed
    report = resumed.report
    assert [c["status"] for c in report["cases"]] == ["passed"] * 4
    followed = {c["job_id"] for c in report["cases"]}
    assert followed == {i for i, _ in submitted}  # the same jobs, followed again
    assert len(_jobs(sshd.user, session, every=True)) == len(submitted)  # none submitted again


def _session_process(sshd: SshServer, workdir: str) -> int | None:
    mark = f"{sshd.home / workdir}/bin/hostagent".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            if mark not in cmdline or b" connect " not in cmdline:
                continue
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if Path(f"/proc/{parent}/cmdline").read_bytes().startswith(b"sshd"):
                return parent
        except (OSError, ValueError, IndexError):
            continue
    return None


def test_a_cut_connection_while_jobs_run_resubmits_nothing(
    cluster_dir: Path, no_slurm_path: str, sshd: SshServer, workdir: str
) -> None:
    _write_sleepers(cluster_dir, 8, "sleep 5; echo done")
    proc = _start(cluster_dir, no_slurm_path, "run", "test_sleepers.py", "--plain", "--no-pack")
    try:
        session = _wait_for(
            lambda: (cluster_dir / ".assay" / "latest").exists() and _session(cluster_dir),
            30,
            "a session",
        )
        _wait_for(lambda: len(_jobs(sshd.user, session)) >= 8, 90, "8 jobs in squeue")
        victim = _session_process(sshd, workdir)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    report = json.loads((cluster_dir / ".assay" / "latest" / "report.json").read_text())
    assert [c["status"] for c in report["cases"]] == ["passed"] * 8
    assert len(_jobs(sshd.user, session, every=True)) == 8  # each case one job, once


def _counting_host(sshd: SshServer, workdir: str) -> tuple[Path, Path]:
    """In this test's remote workdir: a ``squeue`` that notes each call (time and
    arguments) in a log and runs the real one, and a Python for the partition's
    ``ssh.python`` that puts it first on the PATH of assay's agent there, which runs every
    Slurm command. Only this test's agent sees it. (wrapper, log)"""
    real = shutil.which("squeue")
    assert real is not None
    folder = sshd.home / workdir
    tools = folder / "counting"
    tools.mkdir(parents=True)
    log = tools / "squeue.log"
    (tools / "squeue").write_text(
        f'#!/bin/sh\necho "$(date +%s.%N) $*" >> {log}\nexec {real} "$@"\n'
    )
    python = tools / "python"
    python.write_text(f'#!/bin/sh\nPATH={tools}:$PATH\nexport PATH\nexec python3 "$@"\n')
    for path in (tools / "squeue", python):
        path.chmod(0o755)
    log.write_text("")
    account = pwd.getpwnam(sshd.user)
    for path in (folder, tools, tools / "squeue", python, log):
        os.chown(path, account.pw_uid, account.pw_gid)
    return python, log


def _polls(log: Path) -> list[tuple[float, list[str]]]:
    """(time, job ids) of each poll the log noted (the squeue calls naming jobs)."""
    polls = []
    for line in log.read_text().splitlines():
        words = line.split()
        if "-j" in words:
            polls.append((float(words[0]), words[words.index("-j") + 1].split(",")))
    return polls


def test_the_batched_poller_runs_one_squeue_per_interval_through_ssh_for_any_number_of_jobs(
    tmp_path: Path, cluster: None, sshd: SshServer, workdir: str, no_slurm_path: str
) -> None:
    python, log = _counting_host(sshd, workdir)
    poll_min = 0.5
    lock = Path(tempfile.gettempdir()) / "assay-slurm-tests.lock"
    counts: dict[int, int] = {}
    for jobs in (2, 8):
        project = tmp_path / f"n{jobs}"
        project.mkdir()
        ssh = sshd.table(workdir, python=str(python))
        (project / "assay.toml").write_text(
            textwrap.dedent(
                f"""
                [systems.ci.partitions.login]
                transport = "ssh"
                scheduler = "slurm"
                max_jobs = 50
                resources = {{ nodes = 2, cpus_per_node = 4 }}
                ssh = {ssh}
                slurm = {{ partition = "debug", poll_min = {poll_min}, poll_max = 2.0 }}
                """
            )
        )
        _write_sleepers(project, jobs, "sleep 6; echo done")
        os.truncate(log, 0)  # the remote account's file: emptied, not made again
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                result = _assay(
                    project, no_slurm_path, "run", "test_sleepers.py", "--plain", "--no-pack"
                )
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        assert result.code == 0, result
        assert [c["status"] for c in result.report["cases"]] == ["passed"] * jobs
        polls = _polls(log)
        ids = {c["job_id"] for c in result.report["cases"]}
        # Every poll is one squeue about every job in flight: once all were submitted, one
        # command named them all ...
        assert any(set(named) == ids for _, named in polls), polls
        # ... and polls follow one another at the poller's interval, never one per job.
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(polls)]
        assert gaps and min(gaps) >= poll_min * 0.8, gaps
        counts[jobs] = len(polls)
    # Four times the jobs, the same time: about the same number of polls (not four times).
    assert counts[8] <= counts[2] + 6, counts
