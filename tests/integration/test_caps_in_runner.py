"""Run as root, a case with read-only store links starts without dac_override and fowner
from the runner's thread that dropped them: its command is the one process started (no
setpriv exec), each of many concurrent jobs gets the drop, the runner's other jobs keep
them, and a runner whose inheritable set holds them still gives them to no job."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliResult, _assay_env, run_assay

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="capabilities are dropped for root only")

DROPPED_BITS = (1 << 1) | (1 << 3)  # dac_override, fowner
STATUS = "grep -h ^Cap /proc/self/status"  # one program: started directly, without bash

TWO = """
import assay

class Linked(assay.Test):
    sources = "data/"
    command = {status!r}

class Plain(assay.Test):
    command = {status!r}
"""

SUITE = """\
[suite]
name = "s"
cases = "cases/*"
command = "{command}"
"""


def _caps(case: dict[str, object]) -> dict[str, int]:
    text = (Path(str(case["output_dir"])) / "assay-run.out").read_text()
    return {line.split(":")[0]: int(line.split()[1], 16) for line in text.splitlines()}


def _without_them(caps: dict[str, int]) -> None:
    for name in ("CapBnd", "CapInh", "CapEff", "CapPrm", "CapAmb"):
        assert caps[name] & DROPPED_BITS == 0, (name, hex(caps[name]))
    assert caps["CapEff"] & 1, hex(caps["CapEff"])  # chown: the others stay


def test_the_linked_case_lacks_them_and_the_plain_case_of_the_same_run_keeps_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    (tmp_path / "test_two.py").write_text(TWO.format(status=STATUS))
    result = run_assay("run", "test_two.py", "--plain", cwd=tmp_path)
    assert result.code == 0, result
    _without_them(_caps(result.case("Linked")))
    plain = _caps(result.case("Plain"))
    assert plain["CapEff"] & DROPPED_BITS == DROPPED_BITS, hex(plain["CapEff"])
    assert plain["CapBnd"] & DROPPED_BITS == DROPPED_BITS, hex(plain["CapBnd"])


def test_eight_concurrent_jobs_all_start_without_them(tmp_path: Path) -> None:
    for n in range(8):
        case = tmp_path / "cases" / f"c{n}"
        case.mkdir(parents=True)
        (case / "in.txt").write_text(f"{n}\n" + "x" * (2 * 1024 * 1024))  # linked, not copied
    # Each job waits a moment, so that the eight run at once.
    command = "sh -c 'sleep 0.3; grep -h ^Cap /proc/self/status; echo more >> in.txt'"
    (tmp_path / "s.suite.toml").write_text(SUITE.format(command=command))
    result = run_assay("run", ".", "--plain", "--max-jobs", "8", cwd=tmp_path)
    for n in range(8):
        case = result.case(f"s[case=c{n}]")
        _without_them(_caps(case))
        err = (Path(str(case["output_dir"])) / "assay-run.err").read_text()
        assert "in.txt: Permission denied" in err, err
    for n in range(8):
        assert (tmp_path / "cases" / f"c{n}" / "in.txt").read_text().startswith(f"{n}\nxx")


@pytest.mark.skipif(
    shutil.which("setpriv") is None or shutil.which("strace") is None,
    reason="needs setpriv and strace",
)
def test_from_a_runner_that_can_inherit_them_the_case_is_still_one_exec_without_them(
    tmp_path: Path,
) -> None:
    """The runner's inheritable set holds them (an exec as root takes back what it holds):
    the thread drops them from that set too, and needs no setpriv of its own for it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data/input.txt").write_text("42\n")
    command = "grep -h ^Cap /proc/self/status"
    (tmp_path / "test_two.py").write_text(TWO.format(status=command))
    trace = tmp_path / "trace"
    strace = ["strace", "-f", "-qq", "-z", "-e", "trace=execve", "-o", str(trace)]
    inheriting = ["setpriv", "--inh-caps=+dac_override,+fowner"]
    argv = [*strace, *inheriting, sys.executable, "-m", "assay", "run", "test_two.py", "--plain"]
    env = _assay_env(tmp_path, {})
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    result = CliResult(("run",), proc.returncode, proc.stdout, proc.stderr, tmp_path)
    assert proc.returncode == 0, result
    linked = _caps(result.case("Linked"))
    _without_them(linked)
    plain = _caps(result.case("Plain"))  # the runner's own: what it can inherit, it has
    assert plain["CapInh"] & DROPPED_BITS == DROPPED_BITS, hex(plain["CapInh"])
    programs = [line.split('"')[1] for line in trace.read_text().splitlines() if 'execve("' in line]
    # The setpriv that started the runner, and no other.
    assert len([p for p in programs if p.endswith("/setpriv")]) == 1, programs
    assert len([p for p in programs if p.endswith("/grep")]) == 2, programs
