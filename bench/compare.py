"""Benchmark of the comparison engine (``assay.compare``): big-file throughput and per-case cost.

``python bench/compare.py [--size-mb 200] [--line-mb 64] [--repeat 3] [--cases 500]``
measures, in one run:

1. two SIZE MB numeric text files differing in 3 values, compared by ``compare.pyz SPEC``
   (the engine's one-file bundle) run by path (as a remote job runs it; interpreter start
   included), against the baseline
   ``cmp -l`` (which reads both files whole, unlike plain ``cmp`` that stops at the first
   difference) plus a Python process reading both files line by line in lockstep with the
   same 1 MiB buffers (a floor of the engine's own loop). Goal: ratio <= 3.0.
2. the peak RSS of that compare process (``os.wait4``, the child alone). Goal: < 64 MB.
3. one line of about LINE_MB MB of numbers on each side, differing in 3 values, compared by
   the bundle: wall time and peak RSS. Goal: peak RSS < 64 MB whatever the line length.
4. the median wall time of ``compare()`` in-process over CASES small cases (a 40-line
   text log, a 20-row CSV and a small JSON each; every fourth case has numbers that differ
   within tolerance, so the slow path runs too). Goal: <= 5 ms.
5. numbers that moved in their last digits: two files of WITHIN lines of 6 numbers each,
   every number of the actual file moved by up to 1e-9 (relative), compared under rtol 1e-6
   by ``python -m assay.compare SPEC`` (interpreter start included), and the same with 1%
   of the lines failing (one number moved by 1e-3). The CPU time (user + system) per line,
   against a floor measured in the same run, interleaved: a Python process (``-S``) reading
   both files line by line in lockstep, splitting each line and reading every field with
   ``float()`` (the least any tolerance check of these lines does). Goal: <= 2.5x the floor.

``--only N`` runs figure N alone (1-2 are one figure: 1).

Every figure is the median of REPEAT runs after one discarded warm-up. Files are generated
in a temp dir that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CHILD_ENV,
    FLOOR_ARGV,
    PYTHON,
    fmt_s,
    interleaved,
    machine,
    median,
    met,
    print_table,
    repeat,
    timed,
    workdir,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from assay.compare import compare  # noqa: E402
from assay.compare.bundle import write_bundle  # noqa: E402

# A floor of the line-by-line work: both files in lockstep, 1 MiB buffers, in a function
# (fast locals).
READ_BOTH = """
import sys
from itertools import zip_longest

def read(expected, actual):
    n = 0
    with open(expected, "rb", buffering=1 << 20) as fe, open(actual, "rb", buffering=1 << 20) as fa:
        for n, _pair in enumerate(zip_longest(fe, fa), 1):
            pass
    return n

print(read(sys.argv[1], sys.argv[2]))
"""


# The floor of figure 5: both files in lockstep, every field of every line read as a float.
FLOATS_BOTH = """
import sys

def floats(expected, actual):
    n = 0
    with open(expected, "rb", buffering=1 << 20) as fe, open(actual, "rb", buffering=1 << 20) as fa:
        for n, (le, la) in enumerate(zip(fe, fa), 1):
            list(map(float, le.split()))
            list(map(float, la.split()))
    return n

print(floats(sys.argv[1], sys.argv[2]))
"""
# Figure 5's comparison, as ``python -m assay.compare SPEC -o VERDICT`` but exiting 0 when
# the files differ (timed() fails a process on any other status).
COMPARE_MAIN = "import sys; from assay.compare.cli import main; main(sys.argv[1:])"


def run_measured(argv: list[str], cwd: Path, ok_codes: tuple[int, ...]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process, waited for with wait4.

    Its stdout goes to a file: GNU cmp with stdout on /dev/null acts like ``cmp -s`` and
    stops at the first difference.
    """
    os.sync()
    with open(cwd / "stdout.txt", "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=CHILD_ENV, stdin=subprocess.DEVNULL, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return seconds, usage.ru_maxrss * 1024


def make_big_pair(folder: Path, size_mb: int) -> tuple[Path, Path]:
    """Two numeric text files of about ``size_mb`` MB that differ in 3 values."""
    rng = random.Random(7)
    block_lines = [
        f"{i:8d} {rng.uniform(-1e3, 1e3):.15e} {rng.uniform(0, 1):.12f} {rng.randint(0, 10**6)}\n"
        for i in range(12_000)
    ]
    block = "".join(block_lines).encode()
    blocks = max(1, size_mb * 1024 * 1024 // len(block))
    changed = {blocks // 10: 5, blocks // 2: 6000, blocks - 1: 11_999}  # block -> line
    expected, actual = folder / "expected.txt", folder / "actual.txt"
    with open(expected, "wb") as fe, open(actual, "wb") as fa:
        for b in range(blocks):
            fe.write(block)
            if b in changed:
                lines = list(block_lines)
                old = lines[changed[b]].split()[1]
                new = f"{float(old) * 1.001:.15e}"  # one value, rel error 1e-3, same width
                lines[changed[b]] = lines[changed[b]].replace(old, new.rjust(len(old)), 1)
                fa.write("".join(lines).encode())
            else:
                fa.write(block)
    return expected, actual


def big_files(size_mb: int, n: int) -> None:
    with workdir("assay-bench-compare-") as tmp:
        expected, actual = make_big_pair(tmp, size_mb)
        spec = tmp / "spec.json"
        spec.write_text(
            json.dumps({"version": 1, "expected": str(expected), "actual": str(actual)})
        )
        copy = Path(write_bundle(str(tmp / "compare.pyz")))  # run alone by path, as a job does
        reader = tmp / "read_both.py"
        reader.write_text(READ_BOTH)
        runs = {"compare": [], "cmp": [], "read": [], "rss": []}

        def one() -> float:
            seconds, rss = run_measured(
                [PYTHON, "-I", str(copy), str(spec), "-o", str(tmp / "verdict.json")], tmp, (1,)
            )
            runs["compare"].append(seconds)
            runs["rss"].append(rss)
            runs["cmp"].append(
                run_measured(["cmp", "-l", str(expected), str(actual)], tmp, (1,))[0]
            )
            runs["read"].append(
                run_measured([PYTHON, "-I", str(reader), str(expected), str(actual)], tmp, (0,))[0]
            )
            return seconds

        one()  # warm-up: page cache, bytecode
        for values in runs.values():
            values.clear()
        repeat(n, one, warmup=False)
        verdict = json.loads((tmp / "verdict.json").read_text())
        size = expected.stat().st_size
    got = verdict["files"][0]["differing_values"]
    assert got == 3 and not verdict["ok"], verdict["summary"]
    compare_s, cmp_s, read_s = (median(runs[k]) for k in ("compare", "cmp", "read"))
    ratio = median(
        [c / (m + r) for c, m, r in zip(runs["compare"], runs["cmp"], runs["read"], strict=True)]
    )
    rss = max(runs["rss"])
    print(f"Big text files: 2 x {size / 1e6:.0f} MB, 3 values differ; {machine()}")
    print_table(
        ["figure", "measured", "baseline", "ratio", "goal", "met"],
        [
            [
                "compare.pyz vs cmp -l + Python read",
                fmt_s(compare_s),
                f"{fmt_s(cmp_s)} + {fmt_s(read_s)}",
                f"{ratio:.2f}",
                "ratio <= 3.0",
                met(ratio <= 3.0),
            ],
            [
                "peak RSS of compare.pyz",
                f"{rss / 2**20:.1f} MB",
                "-",
                "-",
                "< 64 MB",
                met(rss < 64 * 2**20),
            ],
        ],
    )
    print(f"compare.pyz throughput: {2 * size / 1e6 / compare_s:.0f} MB/s (both files read)")
    print(f"verdict: {verdict['summary']}")


def make_long_line_pair(folder: Path, size_mb: int) -> tuple[Path, Path, int]:
    """Two files of one line of about ``size_mb`` MB of numbers, 3 of them different."""
    count = size_mb * 1_000_000 // 13
    changed = {10: "9.5", count // 2: "1e300", count - 1: "-0.25"}  # 1-based token index
    expected, actual = folder / "long_e.txt", folder / "long_a.txt"
    with open(expected, "w") as fe, open(actual, "w") as fa:
        for start in range(0, count, 100_000):
            cells = [
                f"{i * 1.000001:.6e}" for i in range(start + 1, min(start + 100_001, count + 1))
            ]
            end = " " if start + 100_000 < count else "\n"
            fe.write(" ".join(cells) + end)
            for index, value in changed.items():
                if start < index <= start + len(cells):
                    cells[index - start - 1] = value
            fa.write(" ".join(cells) + end)
    return expected, actual, count


def long_line(size_mb: int, n: int) -> None:
    with workdir("assay-bench-compare-") as tmp:
        expected, actual, count = make_long_line_pair(tmp, size_mb)
        spec = tmp / "spec.json"
        spec.write_text(
            json.dumps({"version": 1, "expected": str(expected), "actual": str(actual)})
        )
        bundle = Path(write_bundle(str(tmp / "compare.pyz")))
        argv = [PYTHON, "-I", str(bundle), str(spec), "-o", str(tmp / "verdict.json")]
        runs = [run_measured(argv, tmp, (1,)) for _ in range(n)]
        verdict = json.loads((tmp / "verdict.json").read_text())
        size = expected.stat().st_size
    result = verdict["files"][0]
    assert result["differing_values"] == 3 and result["values"] == count, verdict["summary"]
    seconds, rss = median([r[0] for r in runs]), max(r[1] for r in runs)
    print()
    print(f"One long line: 2 x {size / 1e6:.0f} MB on one line, 3 values differ")
    print_table(
        ["figure", "measured", "goal", "met"],
        [
            ["wall time of compare.pyz", fmt_s(seconds), "-", "-"],
            ["peak RSS of compare.pyz", f"{rss / 2**20:.1f} MB", "< 64 MB", met(rss < 64 * 2**20)],
        ],
    )


def make_case(folder: Path, i: int, rng: random.Random) -> dict[str, object]:
    expected, actual = folder / "expected", folder / "actual"
    expected.mkdir(parents=True)
    actual.mkdir(parents=True)
    wobble = 1 + 1e-9 if i % 4 == 0 else 1.0
    values = [rng.uniform(0, 100) for _ in range(40)]
    for side, factor in ((expected, 1.0), (actual, wobble)):
        log = [f"step {k} energy = {v * factor:.12e} converged\n" for k, v in enumerate(values)]
        (side / "log.txt").write_text("".join(log))
        rows = [f"{k},{v * factor:.10f},label{k}\n" for k, v in enumerate(values[:20])]
        (side / "result.csv").write_text("id,pressure,name\n" + "".join(rows))
        doc = {"results": {"energy": values[0] * factor, "items": [{"t": v} for v in values[:5]]}}
        (side / "data.json").write_text(json.dumps(doc))
    return {
        "version": 1,
        "expected": str(expected),
        "actual": str(actual),
        "rtol": 1e-6,
        "ignore": ["^# generated at .*"],
        "rules": [{"match": "*.csv", "columns": {"pressure": {"rtol": 1e-6}}}],
    }


def small_cases(count: int, n: int) -> None:
    rng = random.Random(11)
    with workdir("assay-bench-compare-") as tmp:
        specs = [make_case(tmp / f"case-{i}", i, rng) for i in range(count)]

        def one_pass() -> float:
            times = []
            for spec in specs:
                start = time.perf_counter()
                verdict = compare(spec)
                times.append(time.perf_counter() - start)
                assert verdict["ok"], verdict["summary"]
            return median(times)

        medians = repeat(n, one_pass)
    value = median(medians)
    print()
    print(f"Small cases: {count} cases x 3 files (text, CSV, JSON), compare() in-process")
    print_table(
        ["figure", "measured", "goal", "met"],
        [["median per-case compare()", fmt_s(value), "<= 5 ms", met(value <= 0.005)]],
    )


def make_within_pair(folder: Path, lines: int, failing: float) -> tuple[Path, Path, int]:
    """Two files of ``lines`` lines of 6 numbers, every number of the actual file moved by
    up to 1e-9 (relative); a ``failing`` share of the lines has one moved by 1e-3 instead.
    The files, and how many lines fail."""
    rng = random.Random(5)
    expected, actual = folder / "within_e.txt", folder / "within_a.txt"
    bad = 0
    with open(expected, "w") as fe, open(actual, "w") as fa:
        for _ in range(lines):
            values = [rng.uniform(-1e3, 1e3) for _ in range(6)]
            fails = rng.random() < failing
            bad += fails
            moved = [v * (1 + rng.uniform(-1e-9, 1e-9)) for v in values]
            if fails:
                moved[2] = values[2] * 1.001
            fe.write(" ".join(f"{v:.15e}" for v in values) + "\n")
            fa.write(" ".join(f"{v:.15e}" for v in moved) + "\n")
    return expected, actual, bad


def within_tolerance(lines: int, n: int) -> None:
    rows = []
    with workdir("assay-bench-compare-") as tmp:
        floor_script = tmp / "floats_both.py"
        floor_script.write_text(FLOATS_BOTH)
        for failing in (0.0, 0.01):
            expected, actual, bad = make_within_pair(tmp, lines, failing)
            spec = tmp / "spec.json"
            spec.write_text(
                json.dumps(
                    {"version": 1, "expected": str(expected), "actual": str(actual), "rtol": 1e-6}
                )
            )
            verdict_path = tmp / "verdict.json"
            compare_argv = [PYTHON, "-c", COMPARE_MAIN, str(spec), "-o", str(verdict_path)]
            floor_argv = [*FLOOR_ARGV, str(floor_script), str(expected), str(actual)]
            runs = interleaved(
                n,
                {
                    "compare": partial(timed, compare_argv, tmp),
                    "floor": partial(timed, floor_argv, tmp),
                },
            )
            result = json.loads(verdict_path.read_text())["files"][0]
            assert result["lines"] == lines and result["differing_values"] == bad, result
            assert result["values"] == 6 * lines, result
            cpu = median([t.cpu for t in runs["compare"]])
            floor = median([t.cpu for t in runs["floor"]])
            ratio = median(
                [c.cpu / f.cpu for c, f in zip(runs["compare"], runs["floor"], strict=True)]
            )
            rows.append(
                [
                    f"{lines:,} lines, {'1% failing' if failing else 'all within'}",
                    f"{cpu / lines * 1e6:.1f} us",
                    f"{floor / lines * 1e6:.1f} us",
                    f"{ratio:.2f}x",
                    f"{fmt_s(cpu)} / {fmt_s(floor)}",
                    "<= 2.5x",
                    met(ratio <= 2.5),
                ]
            )
    print()
    print(
        f"Numbers moved in their last digits: {lines:,} lines of 6 numbers, rtol 1e-6, "
        "CPU per line (interpreter start included), vs split + float() of both files"
    )
    print_table(
        ["figure", "compare", "floor", "ratio", "CPU (whole)", "goal", "met"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--line-mb", type=int, default=64)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--within", type=int, default=150_000, help="lines of figure 5")
    parser.add_argument("--only", type=int, choices=[1, 3, 4, 5], help="run this figure alone")
    args = parser.parse_args()
    if args.only in (None, 1):
        big_files(args.size_mb, args.repeat)
    if args.only in (None, 3):
        long_line(args.line_mb, args.repeat)
    if args.only in (None, 4):
        small_cases(args.cases, args.repeat)
    if args.only in (None, 5):
        within_tolerance(args.within, args.repeat)


if __name__ == "__main__":
    main()
