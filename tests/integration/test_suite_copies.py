"""Small suite case directories run here are staged by copies, without the store: the
user's files stay untouched, undeclared inputs are read-only (for root too), the recorded
input tree is the store's hash of the directory, and odd entries give the store import's
own messages."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assay.results.db import ResultsDB
from tests.conftest import CliResult, _assay_env, run_assay

SUITE = """\
[suite]
name = "s"
cases = "cases/*"
command = "{command}"

[suite.compare]
files = ["out.txt"]
"""
LOOK = (
    "stat -c '%h %a %n' in.txt tool.sh; cp in.txt out.txt; "
    "if echo more >> in.txt; then echo WROTE; fi; echo caps=$ASSAY_ROOT_CAPS"
)
BIG = 2 * 1024 * 1024  # past the 1 MiB a copied file may have: the store stages the dir


def _case(root: Path, name: str, big: bool = False) -> Path:
    case = root / "cases" / name
    (case / "expected").mkdir(parents=True)
    (case / "in.txt").write_text(f"value {name}\n")
    (case / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (case / "tool.sh").chmod(0o755)
    (case / "expected/out.txt").write_text(f"value {name}\n")
    if big:
        (case / "pad.bin").write_bytes(b"p" * BIG)
    return case


def _stored_tree(tmp_path: Path, case: Path) -> str:
    """The tree `assay store put` gives the case's inputs (its directory without expected/)."""
    inputs = tmp_path / "inputs" / case.name
    shutil.copytree(case, inputs, symlinks=True, ignore=shutil.ignore_patterns("expected"))
    env = {"ASSAY_STORE": str(tmp_path / "other-store")}
    put = run_assay("store", "put", "inputs", str(inputs), cwd=tmp_path, env=env)
    assert put.code == 0, put
    shown = run_assay("store", "show", put.stdout.split()[0], cwd=tmp_path, env=env)
    (line,) = [x for x in shown.stdout.splitlines() if x.strip().startswith("tree:")]
    return line.split()[1]


def test_a_small_case_dir_is_copied_read_only_and_a_large_one_linked_from_the_store(tmp_path):
    small, large = _case(tmp_path, "small"), _case(tmp_path, "large", big=True)
    (tmp_path / "s.suite.toml").write_text(SUITE.format(command=LOOK))
    result = run_assay("run", ".", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    for case, links in ((small, "1"), (large, "2")):
        done = result.case(f"s[case={case.name}]")
        out = Path(done["output_dir"])
        lines = (out / "assay-run.out").read_text().splitlines()
        # A copy has one link; the large dir's files are hard links to store objects.
        assert lines[:2] == [f"{links} 444 in.txt", f"{links} 555 tool.sh"], lines
        assert "WROTE" not in lines  # writing to an undeclared input fails, even as root
        assert "in.txt: Permission denied" in (out / "assay-run.err").read_text()
        if os.geteuid() == 0:
            assert "caps=dropped" in lines  # by the exec wrapper, as for store links
        assert (case / "in.txt").read_text() == f"value {case.name}\n"  # the user's file
        assert stat.S_IMODE((case / "in.txt").stat().st_mode) == 0o644
        # Provenance: the recorded input tree is the one the store gives the same files.
        [used] = done["artifacts"]
        assert (used["artifact"], used["layer"], used["ref"]) == ("(sources)", 0, None)
        assert used["tree"] == _stored_tree(tmp_path, case)
        with ResultsDB.open(tmp_path / ".assay/results.sqlite") as db:  # recorded there too
            recorded = db.artifacts_of(result.report["session"]["id"], done["id"])
        assert recorded == [("(sources)", 0, None, used["tree"])]
    # The small case's files never went into the store; the large one's did.
    blobs = {p.name for p in (tmp_path / ".store/objects").rglob("*") if p.is_file()}
    from assay.store.objects import hash_bytes

    assert hash_bytes(b"value small\n")[2:] not in blobs
    assert hash_bytes(b"value large\n")[2:] in blobs


def _odd(case: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(case / "pipe")
    elif kind == "device":
        os.mknod(case / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    elif kind == "link-out":  # a link to a link that climbs out
        (case / "a").symlink_to("b")
        (case / "b").symlink_to("../../../../../../../../etc/shadow")
    elif kind == "unreadable":
        (case / "in.txt").chmod(0)


def _run_without_dac(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``assay run`` as root without the capabilities that let root read any file."""
    return subprocess.run(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            sys.executable,
            "-m",
            "assay",
            "run",
            ".",
            "--plain",
        ],
        cwd=tmp_path,
        env=_assay_env(tmp_path, {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", ["fifo", "device", "link-out", "unreadable"])
def test_odd_entries_give_the_store_imports_message_small_or_large(tmp_path, kind):
    if kind in ("device", "unreadable") and os.geteuid() != 0:
        pytest.skip("root makes the device; the unreadable file is checked with root's caps")
    if kind == "unreadable" and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv")
    small, large = _case(tmp_path, "small"), _case(tmp_path, "large", big=True)
    for case in (small, large):
        _odd(case, kind)
    (tmp_path / "s.suite.toml").write_text(SUITE.format(command="cp in.txt out.txt"))
    if kind == "unreadable":
        _run_without_dac(tmp_path)
    else:
        run_assay("run", ".", "--plain", cwd=tmp_path)
    report = CliResult(("run",), 1, "", "", tmp_path)
    reasons = {}
    for case in (small, large):
        failure = report.case(f"s[case={case.name}]")["failure"]
        assert failure["stage"] == "setup", failure
        reasons[case.name] = failure["reason"].replace(str(case), "CASE")
        assert "Traceback" not in failure["reason"]
    assert reasons["small"] == reasons["large"], reasons
    expected = {
        "fifo": "CASE/pipe: not a regular file, directory or symlink; leave it out",
        "device": "CASE/null: not a regular file, directory or symlink; leave it out",
        "link-out": "leads to /etc/shadow, outside the suite's directory",
        "unreadable": "CASE/in.txt: Permission denied",
    }[kind]
    assert expected in reasons["small"], reasons


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_plain_command_costs_one_execve_per_case_and_behaves_as_under_bash(tmp_path):
    """``cp in.txt out.txt`` starts as one program: no bash, and as root no setpriv either
    (the runner's thread without the capabilities starts it). Writing an input still fails,
    and the script in the output dir still runs it."""
    for name in ("c1", "c2", "c3"):
        _case(tmp_path, name)
    (tmp_path / "s.suite.toml").write_text(SUITE.format(command="cp tool.sh in.txt"))
    trace = tmp_path / "trace"
    env = _assay_env(tmp_path, {})
    argv = [sys.executable, "-m", "assay", "run", ".", "--plain"]
    strace = ["strace", "-f", "-qq", "-z", "-e", "trace=execve", "-o", str(trace)]
    subprocess.run([*strace, *argv], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    # -z: the execve calls that succeeded (a program started), each on one line.
    programs = [line.split('"')[1] for line in trace.read_text().splitlines() if 'execve("' in line]
    assert "/bin/bash" not in programs, programs
    assert programs.count("/usr/bin/cp") == 3, programs
    assert not [p for p in programs if p.endswith("/setpriv")], programs
    assert len([p for p in programs if p not in ("/usr/bin/git",)]) == 1 + 3
    report = CliResult(("run",), 1, "", "", tmp_path)
    for name in ("c1", "c2", "c3"):
        done = report.case(f"s[case={name}]")
        out = Path(done["output_dir"])
        assert "in.txt': Permission denied" in (out / "assay-run.err").read_text(), done
        reason = done["failure"]["reason"]
        assert reason.startswith("exit code 1 (expected exit code 0); 'in.txt' is a staged")
    # The script kept in the output dir does the same when run by hand (in the stage dir a
    # failed case keeps), root's capabilities dropped by its own guard.
    done = report.case("s[case=c1]")
    by_hand = subprocess.run(
        ["/bin/bash", str(Path(done["output_dir"]) / "assay-run.sh")],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "ASSAY_ROOT_CAPS"},
    )
    assert by_hand.returncode == 1, by_hand
    assert by_hand.stderr == (Path(done["output_dir"]) / "assay-run.err").read_text()
