"""Processes and threads test code makes in assay's own process: a child it forks that
comes back into assay ends there (it would go on as a second runner), and threads it
leaves running are waited for with a notice, a wait Ctrl-C ends."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

from tests.conftest import _assay_env

FORKERS = """
import ctypes
import os
import sys
import assay

if os.fork() == 0:  # at load: the child falls off the end of the test file
    pass


class ForksAndReturns(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        pid = os.fork()
        if pid == 0:
            return  # the child goes on as if it were the runner
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        out.expect("hi")


class ForksAndExits(assay.Test):
    command = "echo hi"

    @assay.before("run")
    def fork(self):
        pid = os.fork()
        if pid == 0:
            sys.exit(3)  # SystemExit out of the hook, in the child
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3, status


class ForksThroughLibc(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        # libc's fork runs no os.register_at_fork hook (PyDLL: the GIL is held across it)
        pid = ctypes.PyDLL(None).fork()
        if pid == 0:
            return
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        out.expect("hi")


class Later(assay.Test):
    command = "echo later"
    depends_on = ["ForksAndReturns", "ForksAndExits", "ForksThroughLibc"]
"""


def test_a_child_the_test_forks_ends_when_it_comes_back_into_assay(assay_cli, write, tmp_path):
    """Before, the child of a fork in a test's sanity went on running the session: a second
    summary, a traceback ("no running event loop") and an internal error on the terminal,
    its own report, and the parent's case failed (the child had cleaned up its stage dir)."""
    write("test_forks.py", FORKERS)

    result = assay_cli("run", ".", "--plain", timeout=120)

    assert result.code == 0, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert result.stdout.count("4 passed, 0 failed") == 1, result
    assert len(list((tmp_path / ".assay" / "runs").iterdir())) == 1
    ended = [line for line in result.stderr.splitlines() if "a process the test forked" in line]
    assert sorted(line.rpartition("with status ")[2][:1] for line in ended) == ["0", "0", "0", "3"]


LEAVES_A_THREAD = """
import threading
import assay


class LeavesAThread(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        threading.Thread(target=threading.Event().wait, name="never-ends").start()
        out.expect("hi")
"""


def test_a_thread_test_code_leaves_running_is_waited_for_with_a_notice_ctrl_c_ends(write, tmp_path):
    """Before, the run printed its summary and then hung without a word until the thread
    ended (here: never); Ctrl-C then gave the interpreter's traceback from its own wait."""
    write("test_thread.py", LEAVES_A_THREAD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", "run", ".", "--plain"],
        cwd=tmp_path,
        env=_assay_env(tmp_path, {"COLUMNS": "200"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        said = b""
        deadline = time.monotonic() + 60  # (not a timing assertion: a bound on the wait)
        while b"Ctrl-C ends assay now" not in said and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                said += chunk
        assert b"waiting for 1 thread(s) still running ('never-ends')" in said, said
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, (out, err)  # the run passed: its code, not Ctrl-C's
    assert b"1 passed, 0 failed" in out, out
    assert b"Traceback" not in said + err, said + err


LEAVES_AN_EXECUTOR = """
from concurrent.futures import ThreadPoolExecutor
import assay

POOL = ThreadPoolExecutor(4)  # never shut down: its idle workers end with the interpreter


class UsesAPool(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        assert list(POOL.map(len, ["a", "bb", "ccc", "dddd", "eeeee"])) == [1, 2, 3, 4, 5]
        out.expect("hi")
"""


def test_an_executor_left_open_ends_with_the_run_and_is_not_called_a_wait(assay_cli, write):
    """Idle executor workers are threads that are not daemons, but the interpreter's end
    tells them to stop: the run ends at once and says nothing of them (a wait of assay's
    own for them, added with the notice above, never ended: S3 pushes hung in CI)."""
    write("test_pool.py", LEAVES_AN_EXECUTOR)

    result = assay_cli("run", ".", "--plain", timeout=60)

    assert result.code == 0, result
    assert "waiting for" not in result.stderr, result


FORKS_IN_A_THREAD = """
import os
import threading
import assay


class ForksInAThread(assay.Test):
    command = "echo hi"

    def sanity(self, out):
        def fork_and_return():
            pid = os.fork()
            if pid == 0:  # the child: this thread is its only one, and it returns
                with open({marks!r}, "a") as fh:
                    fh.write(f"{{os.getpid()}}\\n")
                return
            os.waitpid(pid, 0)

        thread = threading.Thread(target=fork_and_return)
        thread.start()
        thread.join()
        out.expect("hi")


class After(assay.Test):
    command = "echo after"
    depends_on = ["ForksInAThread"]
"""


def test_a_child_forked_from_a_thread_of_test_code_ends_without_running_the_session(
    assay_cli, write, tmp_path
):
    """The child's only thread goes back into the thread's start-up code, not into assay's
    stages: it must end there (one summary, one session, no second runner)."""
    marks = tmp_path / "children.txt"
    write("test_thread_fork.py", FORKS_IN_A_THREAD.format(marks=str(marks)))

    result = assay_cli("run", ".", "--plain", timeout=120)

    assert result.code == 0, result
    assert "Traceback" not in result.stdout + result.stderr, result
    assert result.stdout.count("2 passed, 0 failed") == 1, result
    assert len(list((tmp_path / ".assay" / "runs").iterdir())) == 1
    children = [int(pid) for pid in marks.read_text().split()]
    assert len(children) == 1  # the fork happened, and the child ran the test's code
    assert not os.path.exists(f"/proc/{children[0]}"), "the child is still running"
