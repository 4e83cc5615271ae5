"""The comparison engine as a job runs it: one file (the bundle) under ``python3 -I``, or ``-m``."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "assay" / "compare"


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def lone(tmp_path: Path) -> Path:
    """The engine's bundle, written by ``--bundle`` alone into an otherwise empty directory."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    made = run([sys.executable, "-m", "assay.compare", "--bundle", "compare.pyz"], folder)
    assert made.returncode == 0, made.stderr
    assert [p.name for p in folder.iterdir()] == ["compare.pyz"]
    return folder / "compare.pyz"


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
        "out/log.txt line 2, token 3: expected 1.0, got 1.1 (abs error 0.1 > atol 0, rel error "
        "0.1 > rtol 1e-06); r.csv line 2, column 'p': expected 1.0, got 1.1 (abs error 0.1 > "
        "atol 0, rel error 0.1 > rtol 1e-06)"
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
    code, peak_mb = peak_run([sys.executable, "-I", str(lone), str(spec), "-o", str(verdict_path)])
    assert code == 1
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


def peak_run(argv: list[str]) -> tuple[int, float]:
    """Exit code and peak RSS (MB) of one process.

    ru_maxrss counts a child from its fork, when it still shares this (big) pytest process's
    memory; a small wrapper process forks the command instead and reports its peak.
    """
    wrapper = (
        "import os, subprocess, sys\n"
        "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "_, status, usage = os.wait4(p.pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", wrapper, *argv], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1]) / 1024  # Linux: kilobytes


def number(i: int) -> str:
    return f"{i * 1.000001:.6e}"


@pytest.mark.slow
def test_one_huge_line_streams_in_bounded_memory(tmp_path, lone):
    tokens = 5_000_000  # about 65 MB on one line
    changed = {10: "9.5", 2_500_000: "1e300", tokens - 1: "-0.25"}  # 1-based token index
    for side in ("expected", "actual"):
        with open(tmp_path / f"{side}.txt", "w") as fh:
            for start in range(0, tokens, 100_000):
                cells = [number(i) for i in range(start + 1, start + 100_001)]
                if side == "actual":
                    for index, value in changed.items():
                        if start < index <= start + 100_000:
                            cells[index - start - 1] = value
                fh.write(" ".join(cells) + (" " if start + 100_000 < tokens else "\n"))
            fh.write("second line 1.5\n")
    size = (tmp_path / "expected.txt").stat().st_size
    assert size > 60_000_000
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "version": 1,
                "expected": str(tmp_path / "expected.txt"),
                "actual": str(tmp_path / "actual.txt"),
                "rtol": 1e-9,
            }
        )
    )
    verdict_path = tmp_path / "verdict.json"
    code, peak_mb = peak_run([sys.executable, "-I", str(lone), str(spec), "-o", str(verdict_path)])
    assert code == 1
    assert peak_mb < 40, f"peak RSS {peak_mb:.1f} MB for a {size / 1e6:.0f} MB line"
    result = json.loads(verdict_path.read_text())["files"][0]
    assert (result["lines"], result["differing_lines"], result["differing_values"]) == (2, 1, 3)
    assert result["values"] == tokens
    assert [(d["line"], d["token"]) for d in result["differences"]] == [
        (1, index) for index in changed
    ]
    # Each difference is shown in its place in the line, found by reading it again in pieces.
    for diff, value in zip(result["differences"], changed.values(), strict=True):
        assert diff["actual_line"][diff["actual_mark"] :].startswith(value)
        assert len(diff["actual_line"]) <= 206
    assert [d["actual"] for d in result["differences"]] == list(changed.values())
    assert [d["expected"] for d in result["differences"]] == [number(i) for i in changed]


def interpreters() -> dict[tuple[int, int], str]:
    """One interpreter per Python version >= 3.7 on this machine (pyenv's, the system's)."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    candidates += [*sorted(glob.glob("/usr/bin/python3.*[0-9]")), sys.executable]
    found: dict[tuple[int, int], str] = {}
    for path in candidates:
        probe = subprocess.run(
            [path, "-I", "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0:
            major, minor = map(int, probe.stdout.split())
            if (major, minor) >= (3, 7):
                found.setdefault((major, minor), path)
    return found


def test_the_bundle_runs_on_every_python_from_3_7(lone, tmp_path):
    found = interpreters()
    assert (sys.version_info.major, sys.version_info.minor) in found
    spec = write_case(tmp_path / "c", "1.1")
    for version, python in sorted(found.items()):
        proc = run([python, "-I", "-S", str(lone), str(spec)], tmp_path)
        assert proc.returncode == 1, (version, proc.stderr)
        verdict = json.loads(proc.stdout)
        rel = [f["max_rel_error"] for f in verdict["files"]]
        assert rel == [pytest.approx(0.1), pytest.approx(0.1)], version
        again = tmp_path / f"again-{version}.pyz"  # the bundle writes itself
        assert run([python, "-I", str(lone), "--bundle", str(again)], tmp_path).returncode == 0
        assert again.read_bytes() == lone.read_bytes(), version


def test_the_bundle_holds_the_engine_and_nothing_else_and_is_reproducible(lone, tmp_path):
    with zipfile.ZipFile(lone) as zf:
        names = sorted(zf.namelist())
    modules = sorted(f"assay_compare/{p.name}" for p in PACKAGE.glob("*.py"))
    assert names == sorted(["__main__.py", *(m for m in modules if not m.endswith("__main__.py"))])
    again = tmp_path / "again.pyz"
    assert (
        run([sys.executable, "-m", "assay.compare", "--bundle", str(again)], tmp_path).returncode
        == 0
    )
    assert again.read_bytes() == lone.read_bytes()
