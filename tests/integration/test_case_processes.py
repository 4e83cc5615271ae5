"""What a local case costs in processes and files: the command runs in the one process the
runner starts (capabilities dropped by an exec wrapper, not by the script starting itself
again), and the stage dir becomes the output dir (no copy, no tree removal)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assay.schedulers.local_exec import CAPS_REFUSED_EXIT, CAPS_VARIABLE, ROOT_GUARD
from tests.conftest import CliResult, _assay_env, run_assay

LINKED = """
import assay

class Linked(assay.Test):
    sources = "data/"
    command = {command!r}
"""


def _linked_case(tmp_path: Path, command: str) -> dict[str, object]:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    (tmp_path / "test_linked.py").write_text(LINKED.format(command=command))
    result = run_assay("run", "test_linked.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    case: dict[str, object] = result.case("Linked")
    return case


def _stdout(case: dict[str, object]) -> bytes:
    return (Path(str(case["output_dir"])) / "assay-run.out").read_bytes()


def test_a_store_linked_case_runs_its_command_in_the_one_process_started(tmp_path):
    """No bash re-executing itself, no bash between the runner and the command: the last
    command of the script replaces the shell, so ``$$`` is the command's own process."""
    case = _linked_case(tmp_path, "cat input.txt /proc/$$/cmdline")
    out = _stdout(case)
    assert out.startswith(b"42\n"), out
    argv = out[3:].split(b"\0")
    assert argv[0] == b"cat", argv
    assert case["job_id"] is not None


@pytest.mark.skipif(os.geteuid() != 0, reason="capabilities are dropped for root only")
def test_a_store_linked_case_still_runs_without_the_mode_overriding_capabilities(tmp_path):
    """CapBnd of the command itself: dac_override (bit 1) and fowner (bit 3) are gone."""
    # Anchored: a line of the status with "42" in it (a pid, a counter) must not match.
    case = _linked_case(tmp_path, "grep -h -e '^42$' -e '^CapBnd' input.txt /proc/$$/status")
    first, line = _stdout(case).decode().splitlines()
    assert first == "42"
    bounding = int(line.split()[1], 16)
    assert bounding & (1 << 1) == 0 and bounding & (1 << 3) == 0, line
    assert bounding & (1 << 0), line  # chown: the other capabilities stay


def test_a_case_without_links_also_runs_its_command_in_the_one_process(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import assay\nclass Plain(assay.Test):\n    command = 'cat /proc/$$/cmdline'\n"
    )
    result = run_assay("run", "test_plain.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    out = _stdout(result.case("Plain"))
    assert out.split(b"\0")[0] == b"cat", out


def test_the_stage_dir_becomes_the_output_dir_without_the_staged_inputs(tmp_path):
    """The case's directory is renamed into place once its staged inputs are removed: the
    inode the command saw as ``.`` is the output dir's."""
    case = _linked_case(tmp_path, "stat -c %i . input.txt")
    output = Path(str(case["output_dir"]))
    inode = int(_stdout(case).decode().split()[0])
    assert output.stat().st_ino == inode
    # (Its stderr, empty, is not kept: a passed case's empty output files are used again.)
    assert sorted(os.listdir(output)) == ["assay-run.out", "assay-run.sh"]
    script = (output / "assay-run.sh").read_text()
    assert "setpriv" in script  # run by hand as root, it still drops the capabilities


def test_a_job_sees_the_runners_environment_as_it_is_when_the_job_starts(tmp_path):
    """The job's environment is the runner's at the moment it starts (what a hook put in
    ``os.environ`` included), with the case's containment token added."""
    (tmp_path / "test_env.py").write_text(
        "import os\nimport assay\n\n"
        "class Env(assay.Test):\n"
        "    command = 'echo \"$ASSAY_T_SEEN:$ASSAY_CASE_TOKEN:${ASSAY_T_GONE-unset}\"'\n\n"
        "    @assay.before('run')\n"
        "    def change(self):\n"
        "        os.environ['ASSAY_T_SEEN'] = 'from-a-hook'\n"
        "        os.environ.pop('ASSAY_T_GONE', None)\n"
    )
    result = run_assay(
        "run", "test_env.py", "--plain", cwd=tmp_path, env={"ASSAY_T_GONE": "inherited"}
    )
    assert result.code == 0, result
    seen, token, gone = _stdout(result.case("Env")).decode().strip().split(":")
    assert seen == "from-a-hook"
    assert len(token) == 32 and int(token, 16) >= 0
    assert gone == "unset"


ENDINGS = """
import atexit
import os
import threading
import time

import assay

atexit.register(lambda: open({atexit_marker!r}, "w").write("ran"))


def _late() -> None:
    time.sleep(0.5)
    open({thread_marker!r}, "w").write("ran")


class Ends(assay.Test):
    command = "true"

    @assay.after("run")
    def start_a_thread(self):
        threading.Thread(target=_late).start()  # not a daemon: the process waits for it
"""


@pytest.mark.parametrize("start", ["console", "module"])
def test_the_end_of_the_process_still_runs_exit_handlers_and_waits_for_threads(tmp_path, start):
    """The process ends without tearing the interpreter down (its modules and objects),
    but only after what a normal end does for the user: test code's ``atexit`` handlers
    run, its threads are waited for, and what was printed is flushed."""

    atexit_marker, thread_marker = tmp_path / "atexit", tmp_path / "thread"
    (tmp_path / "test_ends.py").write_text(
        ENDINGS.format(atexit_marker=str(atexit_marker), thread_marker=str(thread_marker))
    )
    console = Path(sys.executable).parent / "assay"
    if start == "console" and not console.exists():
        pytest.skip("no console script next to this interpreter")
    argv = [str(console)] if start == "console" else [sys.executable, "-m", "assay"]
    proc = _assay_process(tmp_path, "test_ends.py", argv)
    assert proc.returncode == 0, proc.stderr
    assert "1 passed, 0 failed" in proc.stdout, proc.stdout
    assert atexit_marker.read_text() == "ran"
    assert thread_marker.read_text() == "ran"


def test_the_end_of_the_process_keeps_the_exit_code_and_a_full_pipe_of_output(tmp_path):

    (tmp_path / "test_many.py").write_text(
        "import assay\n\n\nclass Many(assay.Test):\n"
        "    i = assay.parameter(range(40))\n    command = 'exit 1'\n"
    )
    proc = _assay_process(tmp_path, "test_many.py")
    assert proc.returncode == 1
    assert proc.stdout.count("[ FAIL]") >= 40
    assert "0 passed, 40 failed" in proc.stdout, proc.stdout[-500:]
    assert proc.stdout.rstrip().splitlines()[-1].startswith("report: "), proc.stdout[-500:]


def test_files_test_code_keeps_open_are_flushed_when_the_process_ends(tmp_path):
    """What the interpreter's teardown did for test code still happens: a file a test
    file (or a module it imports) keeps open in a global is flushed and closed."""

    (tmp_path / "helper_log.py").write_text(f"LOG = open({str(tmp_path / 'helper.txt')!r}, 'w')\n")
    (tmp_path / "test_logs.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import assay\nimport helper_log\n\n"
        f"LOG = open({str(tmp_path / 'own.txt')!r}, 'w')\n\n\n"
        "class Logs(assay.Test):\n    command = 'true'\n\n"
        "    @assay.after('run')\n    def note(self):\n"
        "        LOG.write('own line')\n        helper_log.LOG.write('helper line')\n"
    )
    proc = _assay_process(tmp_path, "test_logs.py")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "own.txt").read_text() == "own line"
    assert (tmp_path / "helper.txt").read_text() == "helper line"


def _effective(status_line: str) -> int:
    return int(status_line.split()[1], 16)


INHERITING = ["setpriv", "--inh-caps=+dac_override,+fowner"]
"""Root whose inheritable set holds the two capabilities (older Docker gave every container
that, pam_cap can give it to a login): an exec as root takes them back from it, whatever
the bounding set says."""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="root only")
def test_a_store_linked_case_drops_them_even_from_a_runner_that_can_inherit_them(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    command = "grep -h '^CapEff' /proc/$$/status; echo sneaky >> input.txt"
    (tmp_path / "test_linked.py").write_text(LINKED.format(command=command))
    env = _assay_env(tmp_path, {"COLUMNS": "200"})
    proc = subprocess.run(
        [*INHERITING, sys.executable, "-m", "assay", "run", "test_linked.py", "--plain"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    result = CliResult(("run",), proc.returncode, proc.stdout, proc.stderr, tmp_path)
    case = result.case("Linked")
    caps = _effective(_stdout(case).decode())
    assert caps & (1 << 1) == 0 and caps & (1 << 3) == 0, hex(caps)
    assert (
        "input.txt: Permission denied"
        in (Path(str(case["output_dir"])) / "assay-run.err").read_text()
    )
    assert (tmp_path / "data/input.txt").read_text() == "42\n"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="root only")
def test_a_script_run_by_hand_drops_them_even_where_root_can_inherit_them(tmp_path):
    """The guard of a job script (the path on SSH hosts and Slurm nodes)."""
    script = tmp_path / "job.sh"
    script.write_text("\n".join(["#!/bin/bash", *ROOT_GUARD, "grep '^CapEff' /proc/$$/status"]))
    env = {k: v for k, v in os.environ.items() if k != CAPS_VARIABLE}
    out = subprocess.run(
        [*INHERITING, "/bin/bash", str(script)], capture_output=True, text=True, env=env
    ).stdout
    caps = _effective(out)
    assert caps & (1 << 1) == 0 and caps & (1 << 3) == 0, hex(caps)
    assert caps & 1, hex(caps)  # chown: the others stay


def _assay_process(
    tmp_path: Path, test_file: str, argv: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``assay run TEST_FILE --plain`` as a process of its own (``python -m assay`` unless
    ``argv`` says how to start it), with a store in ``tmp_path``."""
    env = {**os.environ, "ASSAY_STORE": str(tmp_path / ".store")}
    env.pop("ASSAY_CONFIG", None)
    return subprocess.run(
        [*(argv or [sys.executable, "-m", "assay"]), "run", test_file, "--plain"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


WITHOUT_SETPCAP = ["setpriv", "--bounding-set=-setpcap", "--inh-caps=-setpcap", "--"]
"""Root that cannot drop capabilities (a container started without CAP_SETPCAP): there,
``setpriv --bounding-set=-dac_override`` drops nothing and still exits 0."""


def _run_guarded(
    tmp_path: Path, wrapper: list[str], environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "job.sh"
    script.write_text("\n".join(["#!/bin/bash", "set -eu", *ROOT_GUARD, "echo the job ran"]))
    env = {k: v for k, v in os.environ.items() if k != CAPS_VARIABLE}
    return subprocess.run(
        [*wrapper, "/bin/bash", str(script)],
        capture_output=True,
        text=True,
        env={**env, **environ},
    )


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="root only")
def test_a_script_whose_drop_is_refused_stops_and_says_why(tmp_path):
    """The guard checks the bounding set after setpriv instead of trusting its exit status
    (the path on SSH hosts and Slurm nodes, where a job's inputs link into the store)."""
    done = _run_guarded(tmp_path, WITHOUT_SETPCAP, {})
    assert done.returncode == CAPS_REFUSED_EXIT, done
    assert "the job ran" not in done.stdout
    assert "could not drop CAP_DAC_OVERRIDE and CAP_FOWNER" in done.stderr
    assert f"{CAPS_VARIABLE}=keep" in done.stderr
    # A runner that claims them dropped is checked as well.
    claimed = _run_guarded(tmp_path, WITHOUT_SETPCAP, {CAPS_VARIABLE: "dropped"})
    assert claimed.returncode == CAPS_REFUSED_EXIT, claimed


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="root only")
def test_a_script_whose_drop_works_or_that_keeps_them_runs(tmp_path):
    dropped = _run_guarded(tmp_path, [], {})
    assert dropped.returncode == 0 and "the job ran" in dropped.stdout, dropped
    assert dropped.stderr == ""
    kept = _run_guarded(tmp_path, WITHOUT_SETPCAP, {CAPS_VARIABLE: "keep"})
    assert kept.returncode == 0 and "the job ran" in kept.stdout, kept
