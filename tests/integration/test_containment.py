"""Processes that leave their case's process group (``setsid``, ``nohup``, a daemon's double
fork) are found and killed when the case ends: passed, timed out, or interrupted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult, run_assay

# A classic daemon: fork, setsid, fork again, the middle process exits; the grandchild
# closes every inherited descriptor and lives on outside the case's group and session.
DAEMONIZE = (
    "import os, sys\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        os.closerange(0, 1024)\n"
    "        os.execvp('sleep', ['sleep', sys.argv[1]])\n"
    "    os._exit(0)\n"
    "os.wait()\n"
)


def _marker() -> str:
    """A sleep duration no other process on the machine uses: the processes' mark."""
    return f"7{random.randrange(10**8, 10**9)}"


def _marked(marker: str) -> list[int]:
    """Live processes (zombies are dead, only not yet reaped) with ``marker`` in their argv."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    """A fresh marker; whatever still carries it afterwards is killed (a failing test must
    not leave sleeps behind)."""
    mark = _marker()
    yield mark
    for pid in _marked(mark):
        os.kill(pid, signal.SIGKILL)


def _escapes(tmp_path: Path, marker: str, then: str, time_limit: str = "") -> None:
    (tmp_path / "daemonize.py").write_text(DAEMONIZE)
    limit = f'time_limit = "{time_limit}"' if time_limit else ""
    (tmp_path / "test_escape.py").write_text(
        "import assay\n"
        "\n"
        "STARTS = {\n"
        f"    'setsid': 'setsid sleep {marker} > /dev/null 2>&1 &',\n"
        f"    'nohup': 'nohup sleep {marker} > /dev/null 2>&1 &',\n"
        f"    'daemon': '{sys.executable} {tmp_path}/daemonize.py {marker};',\n"
        "}\n"
        "\n"
        "class Escape(assay.Test):\n"
        "    how = assay.parameter(['setsid', 'nohup', 'daemon'])\n"
        f"    {limit}\n"
        "    command = 'true'\n"
        "\n"
        "    def __init__(self):\n"
        f"        self.command = STARTS[self.how] + ' {then}'\n"
    )


def _wait_for(marker: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(_marked(marker)) < count:
        assert time.monotonic() < deadline, f"only {len(_marked(marker))} of {count} started"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("then", "limit", "status"),
    [("sleep 0.5", "", "passed"), ("sleep 30", "1s", "failed")],
    ids=["case-passes", "case-times-out"],
)
def test_processes_that_left_the_group_die_with_their_case(tmp_path, marker, then, limit, status):
    _escapes(tmp_path, marker, then, limit)
    result = run_assay("run", "test_escape.py", "--plain", cwd=tmp_path, timeout=60)
    assert result.code == (0 if status == "passed" else 1), result
    assert {c["status"] for c in result.report["cases"]} == {status}
    assert _marked(marker) == []


def test_a_later_case_no_longer_sees_the_daemon_an_earlier_one_left(tmp_path, marker, write):
    (tmp_path / "daemonize.py").write_text(DAEMONIZE)
    write(
        "test_order.py",
        f"""
        import assay

        class Leaves(assay.Test):
            command = "{sys.executable} {tmp_path}/daemonize.py {marker}; sleep 0.2"

        class After(assay.Test):
            depends_on = "Leaves"
            command = "ps -eo stat=,args= | grep -v '^Z' | grep -c '[s]leep {marker}' || true"

            def sanity(self, out):
                out.expect(r"^0$")
        """,
    )
    result = run_assay("run", "test_order.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_processes_that_left_the_group_die_when_the_run_is_interrupted(tmp_path, marker, sig):
    _escapes(tmp_path, marker, "sleep 30")
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_escape.py", "--plain", "--max-jobs", "3"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(marker, 3)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, out
    report = CliResult((), proc.returncode, out, "", tmp_path).report
    assert {c["status"] for c in report["cases"]} == {"aborted"}
    assert _marked(marker) == []


def test_a_process_that_clears_its_environment_dies_when_the_session_ends(tmp_path, marker):
    (tmp_path / "test_env.py").write_text(
        "import assay\n"
        "class Clears(assay.Test):\n"
        f"    command = 'env -i setsid sleep {marker} > /dev/null 2>&1 & sleep 0.5'\n"
    )
    result = run_assay("run", "test_env.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    assert _marked(marker) == []


def test_a_case_with_store_linked_inputs_is_contained_through_its_privilege_drop(
    tmp_path, marker, write
):
    """Run as root, a case with read-only store links re-executes itself under setpriv
    (without the capabilities that override file modes): its marker survives the exec."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    write(
        "test_linked.py",
        f"""
        import assay

        class Linked(assay.Test):
            sources = "data/"
            command = (
                "echo caps=$ASSAY_ROOT_CAPS; cat input.txt; "
                "setsid sleep {marker} > /dev/null 2>&1 & sleep 0.5"
            )

            def sanity(self, out):
                out.expect("^42$")
        """,
    )
    result = run_assay("run", "test_linked.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    if os.geteuid() == 0:
        stdout = Path(result.case("Linked")["output_dir"]) / "assay-run.out"
        assert "caps=dropped" in stdout.read_text()
    assert _marked(marker) == []


def test_orphans_that_die_while_their_case_runs_are_reaped(tmp_path, write):
    """The runner adopts orphans (it is their subreaper), so it must also reap them: dead
    children must not pile up as zombies while a long case goes on."""
    write(
        "test_orphans.py",
        """
        import assay

        class Orphans(assay.Test):
            command = (
                "for i in $(seq 100); do (sleep 0.01 &); done; sleep 1; "
                "echo zombies=$(ps -o stat= --ppid $PPID | grep -c Z)"
            )

            def sanity(self, out):
                out.expect("^zombies=0$")
        """,
    )
    result = run_assay("run", "test_orphans.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result


@pytest.mark.parametrize(
    ("first", "second"),
    [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM)],
    ids=["SIGINT-twice", "SIGTERM-twice"],
)
def test_a_second_signal_kills_at_once_what_ignores_the_first(tmp_path, marker, first, second):
    """A case that ignores SIGTERM holds the run for the whole --grace after the first
    signal; the second one kills it (and what it left outside its group) at once."""
    started = tmp_path / "started"
    (tmp_path / "test_stubborn.py").write_text(
        "import assay\n"
        "class Stubborn(assay.Test):\n"
        f"    command = \"trap '' TERM; setsid sleep {marker} > /dev/null 2>&1 & "
        f'touch {started}; sleep {marker}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", "test_stubborn.py", "--plain", "--grace", "600"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(marker, 2)
        while not started.exists():
            time.sleep(0.05)
        proc.send_signal(first)
        time.sleep(0.5)  # the runner is in its grace period now
        assert proc.poll() is None
        assert len(_marked(marker)) == 2  # SIGTERM was ignored
        proc.send_signal(second)
        out, _ = proc.communicate(timeout=30)  # not the 600 s of grace
    finally:
        proc.kill()
    assert proc.returncode == 128 + first, out
    assert _marked(marker) == []
    report = CliResult((), proc.returncode, out, "", tmp_path).report
    assert report["cases"][0]["status"] == "aborted"


def test_a_case_that_ends_leaves_alone_what_a_still_running_case_started(tmp_path, marker, write):
    """Each case's leftovers are told apart by their token: Quick ending (and its sweep)
    must not kill the process Long started outside its group while Long still runs."""
    (tmp_path / "daemonize.py").write_text(DAEMONIZE)
    write(
        "test_pair.py",
        f"""
        import assay

        class Long(assay.Test):
            # The daemon is orphaned, so adopted by the runner, while Long still runs.
            command = (
                "{sys.executable} {tmp_path}/daemonize.py {marker}; sleep 1.5; "
                "pgrep -f 'sleep {marker}' > /dev/null && echo still-alive"
            )

            def sanity(self, out):
                out.expect("still-alive")

        class Quick(assay.Test):
            i = assay.parameter(range(4))
            command = "sleep 0.{{i}}"
        """,
    )
    result = run_assay("run", "test_pair.py", "--plain", "--max-jobs", "5", cwd=tmp_path)
    assert result.code == 0, result
    assert _marked(marker) == []
