"""Suite cases: a tiny suite against shell floors, and the comparison step inside a run.

    .venv/bin/python bench/suite_overhead.py [--tiny 200] [--cases 500] [--repeat 3]

Tiny suite (goals of issue 12): TINY reference cases whose command is ``cp in.txt out.txt``
with an exact comparison of ``out.txt``, run with 2 slots against ``xargs -P2`` of the same
command plus ``cmp`` in each case's directory, and with ``--serial`` against a serial shell
loop doing the same. Each repetition runs the four commands once, order rotated; every
floor works in a fresh copy of the cases (made before its clock starts).

Comparison step:
a generated suite has CASES case directories, each with an input file and expected
outputs (a small text file with numbers and a CSV). The command copies the input to the
outputs, so every comparison passes. The same suite is run twice: with ``[suite.compare]``
and without it. The sanity stage of a case is where its comparison runs; the figure is the
median sanity-stage time per case with comparison (goal <= 5 ms), printed beside the same
median without comparison and the whole-run times of both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from _common import (
    FilePhase,
    Timed,
    assay_argv,
    file_cost,
    fmt_s,
    fmt_spread,
    fresh_dir,
    interleaved,
    judged,
    machine,
    median,
    met,
    paired_ratio,
    print_table,
    timed,
    walls,
    workdir,
)

SUITE = """\
[suite]
name = "trivial"
cases = "cases/*"
command = "cp input.txt log.txt && cp table.csv result.csv"
{compare}
"""
COMPARE = """
[suite.compare]
files = ["log.txt", "result.csv"]
rtol = 1e-6
ignore = ["^# run at .*"]
"""


TINY = """\
[suite]
name = "tiny"
cases = "cases/*"
command = "cp in.txt out.txt"

[suite.compare]
files = ["out.txt"]
"""
# The floors: in each case's directory, the command and a byte comparison with the expected
# file; 2 at once (xargs) or one after another (a loop in one shell).
XARGS = (
    "printf '%s\\n' cases/* | xargs -P2 -I{} sh -c "
    "'cd \"$1\" && cp in.txt out.txt && cmp -s out.txt expected/out.txt' _ {}"
)
LOOP = (
    'for d in cases/*; do (cd "$d" && cp in.txt out.txt && cmp -s out.txt expected/out.txt)'
    " || exit 1; done"
)


def make_tiny(root: Path, cases: int) -> None:
    for i in range(cases):
        case = root / "cases" / f"c{i:04d}"
        (case / "expected").mkdir(parents=True)
        (case / "in.txt").write_text(f"value {i}\n")
        (case / "expected" / "out.txt").write_text(f"value {i}\n")
    (root / "tiny.suite.toml").write_text(TINY)


def tiny_assay(base: Path, source: Path, cases: int, extra: list[str]) -> Timed:
    root = fresh_dir(base, "assay")
    (root / "tiny.suite.toml").write_text(TINY)
    # Copied, not linked (not timed, as the floors' copy): a suite reads only what lies
    # inside its own directory, links resolved, and refuses a linked tree of cases.
    shutil.copytree(source / "cases", root / "cases")
    run = timed([*assay_argv(), "run", ".", "--max-jobs", "2", "--plain", *extra], root)
    summary = json.loads((root / ".assay" / "latest" / "report.json").read_text())["summary"]
    if summary["passed"] != cases:
        raise RuntimeError(f"not every tiny case passed in {root}: {summary}")
    return run


def tiny_floor(base: Path, source: Path, script: str) -> Timed:
    root = fresh_dir(base, "floor")
    shutil.copytree(source / "cases", root / "cases")  # not timed: a clean tree each time
    return timed(["sh", "-c", script], root)


def files_kept(base: Path) -> str:
    """How many entries each side keeps per case: context for the figures."""
    output = base / "assay" / ".assay" / "latest" / "output"
    cases = [p for p in output.iterdir() if p.is_dir()] if output.is_dir() else []
    kept = sum(len(os.listdir(p)) + 1 for p in cases) / len(cases) if cases else 0.0
    return f"per case, assay keeps {kept:.0f} entries (its output dir and files), the floors 1"


def tiny_figures(base: Path, cases: int, n: int) -> list[list[str]]:
    source = base / "tiny-source"
    make_tiny(source, cases)
    before = file_cost(base)
    runs = interleaved(
        n,
        {
            "assay": lambda: tiny_assay(base, source, cases, []),
            "xargs": lambda: tiny_floor(base, source, XARGS),
            "assay-serial": lambda: tiny_assay(base, source, cases, ["--serial"]),
            "loop": lambda: tiny_floor(base, source, LOOP),
        },
    )
    for name, values in runs.items():
        # CPU beside the wall time: on a loaded machine the wall times move with the load,
        # the CPU (user + system of the process and every child) much less.
        cpu = median([v.cpu for v in values])
        print(f"  tiny {name}: {fmt_spread(walls(values))}; CPU median {fmt_s(cpu)}")
    for a, b in (("assay", "xargs"), ("assay-serial", "loop")):
        cpu_a, cpu_b = median([v.cpu for v in runs[a]]), median([v.cpu for v in runs[b]])
        print(f"  tiny {a} / {b} CPU: {cpu_a / cpu_b:.2f}x")
    phase = FilePhase(before, file_cost(base))
    print(f"  {phase.line()}")
    print(f"  {files_kept(base)}")
    rows = []
    for label, a, b, goal in (
        (f"tiny suite, {cases} cases, 2 slots", "assay", "xargs", 1.5),
        (f"tiny suite, {cases} cases, --serial", "assay-serial", "loop", 1.3),
    ):
        ratio = paired_ratio(runs[a], runs[b])
        rows.append(
            [
                label,
                fmt_s(median(walls(runs[a]))),
                f"{'xargs -P2' if b == 'xargs' else 'shell loop'} {fmt_s(median(walls(runs[b])))}",
                f"{ratio:.2f}x",
                f"<= {goal:g}x",
                judged(ratio <= goal, phase),
            ]
        )
    return rows


def make_suite(root: Path, cases: int, compare: bool) -> None:
    for i in range(cases):
        case = root / "cases" / f"c{i:04d}"
        (case / "expected").mkdir(parents=True)
        text = f"# run at 0\nenergy = {1.0 + i * 1e-3:.9f}\niterations: {i}\n"
        table = "x,y\n" + "".join(f"{j},{j * 0.5 + i:.6f}\n" for j in range(20))
        (case / "input.txt").write_text(text)
        (case / "table.csv").write_text(table)
        (case / "expected" / "log.txt").write_text(text)
        (case / "expected" / "result.csv").write_text(table)
    (root / "trivial.suite.toml").write_text(SUITE.format(compare=COMPARE if compare else ""))


def run_once(root: Path) -> tuple[float, float]:
    """(whole run wall time, median sanity-stage time per case)."""
    result = timed([*assay_argv(), "run", ".", "--max-jobs", "8", "--plain"], root)
    report = json.loads((root / ".assay" / "latest" / "report.json").read_text())
    cases = report["cases"]
    if report["summary"]["passed"] != len(cases):
        raise RuntimeError(f"not every case passed in {root}: {report['summary']}")
    return result.seconds, median([c["timings"]["sanity"] for c in cases])


def measure(base: Path, cases: int, compare: bool) -> tuple[float, float]:
    root = fresh_dir(base, f"suite-{compare}")
    make_suite(root, cases, compare)
    return run_once(root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", type=int, default=200, help="cases of the tiny suite")
    parser.add_argument("--cases", type=int, default=500, help="cases of the compare suite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"suite overhead: {machine()}; {args.repeat} repetition(s), interleaved, medians")
    figures: dict[bool, tuple[list[float], list[float]]] = {}
    with workdir() as base:
        rows = tiny_figures(base, args.tiny, args.repeat)
        for compare in (True, False):
            runs = [measure(base, args.cases, compare) for _ in range(args.repeat + 1)]
            runs = runs[1:]  # the first is a warm-up (page cache, bytecode caches)
            figures[compare] = ([w for w, _ in runs], [s for _, s in runs])
    with_compare, without = figures[True], figures[False]
    per_case = median(with_compare[1])
    rows.append(
        [
            f"sanity stage per case, {args.cases} cases, 8 slots",
            fmt_s(per_case),
            f"without compare {fmt_s(median(without[1]))}",
            "-",
            "<= 5 ms",
            met(per_case <= 0.005),
        ]
    )
    rows.append(
        [
            f"whole run of {args.cases} cases",
            fmt_s(median(with_compare[0])),
            f"without compare {fmt_s(median(without[0]))}",
            "-",
            "-",
            "-",
        ]
    )
    print()
    print_table(["figure", "assay", "floor", "measured", "goal", "met"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
