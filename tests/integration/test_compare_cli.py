"""The comparison engine as a job runs it: a lone file under ``python3 -I``, or ``-m``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

MODULE = ROOT / "src" / "assay" / "compare.py"


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def lone(tmp_path: Path) -> Path:
    """compare.py copied alone into an otherwise empty directory."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    shutil.copy(MODULE, folder / "compare.py")
    return folder / "compare.py"


def write_case(root: Path, actual_value: str) -> Path:
    for side, value in (("expected", "1.0"), ("actual", actual_value)):
        (root / side / "out").mkdir(parents=True)
        (root / side / "out" / "log.txt").write_text(f"# run at noon\nenergy = {value}\n")
        (root / side / "r.csv").write_text(f"id,p\n1,{value}\n")
    spec = {
        "version": 1,
        "expected": str(root / "expected"),
        "actual": str(root / "actual"),
        "ignore": ["^# run at .*"],
        "rtol": 1e-6,
        "complete": ["out"],
    }
    path = root / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_lone_file_in_isolated_mode_without_assay(lone, tmp_path):
    # Control: in this mode (-I: no env, no script dir; -S: no site-packages) there is no
    # assay to import, so whatever the lone file does, it does with the stdlib alone.
    control = run([sys.executable, "-I", "-S", "-c", "import assay"], lone.parent)
    assert control.returncode == 1 and "No module named 'assay'" in control.stderr
    spec = write_case(tmp_path / "same", "1.0000000001")
    verdict_path = tmp_path / "verdict.json"
    argv = [sys.executable, "-I", "-S", "-X", "importtime", str(lone), str(spec)]
    same = run([*argv, "-o", str(verdict_path)], lone.parent)
    assert same.returncode == 0, same.stderr
    assert same.stdout == "equal: 2 files compared\n"
    assert json.loads(verdict_path.read_text())["ok"] is True
    imported = [line.rsplit("|", 1)[-1].strip() for line in same.stderr.splitlines()]
    assert "json" in imported and not any(m.split(".")[0] == "assay" for m in imported)


def test_lone_file_exit_codes_and_verdict_on_stdout(lone, tmp_path):
    spec = write_case(tmp_path / "diff", "1.1")
    different = run([sys.executable, "-I", str(lone), str(spec)], tmp_path)
    assert different.returncode == 1
    verdict = json.loads(different.stdout)  # no -o: the verdict on stdout, summary on stderr
    assert verdict["summary"] == different.stderr.strip()
    assert verdict["summary"] == (
        "out/log.txt: 1 value differs (max rel error 1.0e-01 at line 2, token 3); "
        "r.csv: 1 value differs (max rel error 1.0e-01 at line 2, column 'p')"
    )
    (spec.parent / "actual" / "out" / "new.txt").write_text("x\n")
    assert json.loads(run([sys.executable, "-I", str(lone), str(spec)], tmp_path).stdout)[
        "extra"
    ] == ["out/new.txt"]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "expected": str(tmp_path), "actual": "x", "x": 1}))
    error = run(
        [sys.executable, "-I", str(lone), str(bad), "-o", str(tmp_path / "v.json")], tmp_path
    )
    assert error.returncode == 2
    assert error.stdout.startswith("spec error: x: unknown key")
    unreadable = run([sys.executable, "-I", str(lone), str(tmp_path / "nope.json")], tmp_path)
    assert unreadable.returncode == 2
    assert json.loads(unreadable.stdout)["errors"][0].startswith("spec: cannot read")


def test_module_through_the_venv(tmp_path):
    spec = write_case(tmp_path / "m", "1.0")
    proc = run([sys.executable, "-m", "assay.compare", str(spec), "-o", "v.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "equal: 2 files compared\n"
    assert json.loads((tmp_path / "v.json").read_text())["files"][0]["file"] == "out/log.txt"


def row(i: int, factor: float = 1.0) -> str:
    return f"{i:8d} {i * 0.001 * factor:.15e} {i % 97} value\n"


def write_big(path: Path, lines: int, changed: dict[int, float]) -> None:
    """A numeric text file; ``changed`` maps line numbers (1-based) to a factor for a value."""
    block = "".join(row(i) for i in range(10_000))
    with open(path, "w") as fh:
        for start in range(0, lines, 10_000):
            rows = block.splitlines(keepends=True)
            for n, factor in changed.items():
                if start < n <= start + 10_000:
                    rows[n - start - 1] = row(n - start - 1, factor)
            fh.write("".join(rows))


@pytest.mark.slow
def test_memory_stays_flat_on_big_files(tmp_path, lone):
    lines = 1_300_000  # about 52 MB each
    write_big(tmp_path / "expected.txt", lines, {})
    changes = {11: 1.1, 500_002: 1.01, 1_299_999: 1.001}
    write_big(tmp_path / "actual.txt", lines, changes)
    assert (tmp_path / "expected.txt").stat().st_size > 50_000_000
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "version": 1,
                "expected": str(tmp_path / "expected.txt"),
                "actual": str(tmp_path / "actual.txt"),
            }
        )
    )
    verdict_path = tmp_path / "verdict.json"
    # ru_maxrss counts a child from its fork, when it still shares this (big) pytest process's
    # memory; a small wrapper process forks the compare instead and reports its peak.
    wrapper = (
        "import os, subprocess, sys\n"
        "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "_, status, usage = os.wait4(p.pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            wrapper,
            sys.executable,
            "-I",
            str(lone),
            str(spec),
            "-o",
            str(verdict_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    code, peak_kb = int(out[0]), int(out[1])
    assert code == 1
    peak_mb = peak_kb / 1024  # Linux: kilobytes
    assert peak_mb < 64, f"peak RSS {peak_mb:.1f} MB"
    verdict = json.loads(verdict_path.read_text())
    result = verdict["files"][0]
    assert (result["lines"], result["differing_lines"], result["differing_values"]) == (
        lines,
        3,
        3,
    )
    assert [d["line"] for d in result["differences"]] == [11, 500_002, 1_299_999]
    assert result["max_rel_error"] == pytest.approx(0.1)
    assert len(verdict_path.read_text()) < 10_000  # the verdict does not grow with the files
