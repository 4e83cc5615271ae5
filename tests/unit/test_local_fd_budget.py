"""The local transport's descriptor budget: a job waits for a running one to end where
the budget is spent, and a start that meets a real EMFILE waits the same way and starts
once a running job gave its pidfd back. Processes, files and the descriptor limit are
real; where the budget's room is set by hand, that is the injected fault (the limit's
arithmetic is :class:`assay.transports.fdbudget.FdBudget`'s)."""

from __future__ import annotations

import asyncio
import errno
import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assay.commands.outcome import report_error
from assay.transports.local import LocalTransport
from tests.unit.local_jobs import spawn_shell

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "pidfd_open") and hasattr(select, "epoll")), reason="needs Linux pidfds"
)


def test_a_running_job_holds_its_pidfd_and_gives_it_back(tmp_path: Path) -> None:
    transport = LocalTransport()

    async def main() -> tuple[int, int]:
        proc = await spawn_shell(transport, tmp_path, 0, "echo out")
        held = transport.fds.held
        await proc.wait()
        await transport.end(proc)
        return held, transport.fds.held

    assert asyncio.run(main()) == (1, 0)
    assert (tmp_path / "out-0").read_text() == "out\n"


def test_a_job_waits_for_a_running_one_when_no_room_is_left(tmp_path: Path) -> None:
    transport = LocalTransport()
    transport.fds._room = 1  # the injected fault: a limit that leaves room for one job

    async def main() -> int | None:
        first = await spawn_shell(transport, tmp_path, 0, "sleep 0.3; touch first-done")
        waiting = asyncio.create_task(
            spawn_shell(transport, tmp_path, 1, "[ -e first-done ] && echo after || echo before")
        )
        await asyncio.sleep(0.05)
        assert not waiting.done()  # it waits: the one descriptor is the first job's
        second = await waiting
        seen = first.returncode  # it started only once the first had exited
        await transport.end(first)
        await second.wait()
        await transport.end(second)
        assert transport.fds.held == 0
        return seen

    assert asyncio.run(main()) == 0
    assert (tmp_path / "out-1").read_text() == "after\n"


def test_a_waiting_job_cancelled_leaves_no_waiter_behind(tmp_path: Path) -> None:
    transport = LocalTransport()
    transport.fds._room = 1  # the injected fault, as above

    async def main() -> None:
        first = await spawn_shell(transport, tmp_path, 0, "sleep 0.2")
        waiting = asyncio.create_task(spawn_shell(transport, tmp_path, 1, "echo never"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert transport.fds._waiters == []
        await first.wait()
        await transport.end(first)

    asyncio.run(main())
    assert not (tmp_path / "out-1").exists()


# Run in a process of its own: the descriptor limit is lowered for real, and every free
# descriptor taken, so that the last job's start meets EMFILE; the budget is told there is
# plenty of room (the injected fault). "sh" without a slash is started by Popen, which
# opens the output files (and its error pipe) here: posix_spawn opens them in the child,
# over descriptors 1 and 2 (glibc closes them first), and never meets EMFILE.
_REAL_EMFILE = """
import asyncio, errno, os, resource, sys
from pathlib import PurePosixPath
from assay.transports.local import LocalTransport

here = sys.argv[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
transport = LocalTransport()
transport.fds._room = 1000
failed = []
launch = transport._launch

def counted(*args):
    try:
        return launch(*args)
    except OSError as exc:
        failed.append(exc.errno)
        raise

transport._launch = counted

def spawn(i, command):
    return transport.spawn(
        ["sh", "-c", command],
        cwd=PurePosixPath(here),
        stdout=PurePosixPath(here, f"out-{i}"),
        stderr=PurePosixPath(here, f"err-{i}"),
    )

async def main():
    first = [await spawn(i, f"sleep 0.3; touch done-{i}") for i in range(6)]
    filler = []
    while True:
        try:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
            break
    last = await spawn(6, "ls done-* | wc -l")
    for fd in filler:
        os.close(fd)
    for proc in [*first, last]:  # (under load a first job may still be in its sleep)
        await proc.wait()
        await transport.end(proc)
    print("failed", len(failed), set(failed) == {errno.EMFILE}, "held", transport.fds.held)

asyncio.run(main())
"""


def test_a_start_that_meets_emfile_waits_for_running_jobs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _REAL_EMFILE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    # It met EMFILE at least once, and nothing else; every descriptor came back.
    assert words[0] == "failed" and int(words[1]) >= 1 and words[2:] == ["True", "held", "0"]
    # It started once running jobs had ended and given their pidfds back (it waited instead
    # of failing): how many had ended depends on how many descriptors Popen needed.
    assert int((tmp_path / "out-6").read_text()) >= 1


# posix_spawn needs no descriptor of the runner's, so a job starts with none left; its
# pidfd then cannot be opened, and a thread of its own waits for it (the executor's pool
# would import a module to start one, which needs a descriptor).
_NO_PIDFD = """
import asyncio, errno, os, resource, sys
from pathlib import PurePosixPath
from assay.transports.local import LocalTransport

here = sys.argv[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
transport = LocalTransport()
transport.fds._room = 1000

def spawn(i, command):
    return transport.spawn(
        ["/bin/sh", "-c", command],
        cwd=PurePosixPath(here),
        stdout=PurePosixPath(here, f"out-{i}"),
        stderr=PurePosixPath(here, f"err-{i}"),
    )

async def main():
    first = await spawn(0, "sleep 0.3")
    filler = []
    while True:
        try:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
            break
    second = await spawn(1, "echo second")
    held = transport.fds.held
    code = await second.wait()
    for fd in filler:
        os.close(fd)
    await first.wait()
    await transport.end(first)
    await transport.end(second)
    print("held", held, "code", code, "after", transport.fds.held)

asyncio.run(main())
"""


def test_a_job_started_with_no_descriptor_left_is_waited_for_by_a_thread(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _NO_PIDFD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # While both ran, only the first's pidfd was held; the second's end was noticed.
    assert proc.stdout == "held 1 code 0 after 0\n"
    assert (tmp_path / "out-1").read_text() == "second\n"


def test_out_of_descriptors_is_one_message_with_the_limit_and_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What a module imported in a thread raises under a low ulimit -n (the exception object
    # as Python makes it; no descriptor limit is lowered here).
    exc = OSError(errno.EMFILE, os.strerror(errno.EMFILE), "/x/results/db/__init__.py")
    assert report_error(exc, debug=False) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert err.startswith("assay: error: too many open files opening /x/results/db/__init__.py")
    assert "(ulimit -n is " in err and "ulimit -n 4096" in err and "--max-jobs" in err
    # (textwrap: the message's lines are two, the hint indented under it)
    assert textwrap.dedent(err).count("\n") == 2
