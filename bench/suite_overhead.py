"""The comparison step inside a real run: 500 reference cases of a trivial command, 8 slots.

    .venv/bin/python bench/suite_overhead.py [--cases 500] [--repeat 3]

A generated suite has CASES case directories, each with an input file and expected
outputs (a small text file with numbers and a CSV). The command copies the input to the
outputs, so every comparison passes. The same suite is run twice: with ``[suite.compare]``
and without it. The sanity stage of a case is where its comparison runs; the figure is the
median sanity-stage time per case with comparison (goal <= 5 ms), printed beside the same
median without comparison and the whole-run times of both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import (
    assay_argv,
    fmt_s,
    fresh_dir,
    machine,
    median,
    met,
    print_table,
    timed,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"suite overhead: {args.cases} cases, 8 slots; {machine()}; {args.repeat} repetition(s)")
    rows = []
    figures: dict[bool, tuple[list[float], list[float]]] = {}
    with workdir() as base:
        for compare in (True, False):
            runs = [measure(base, args.cases, compare) for _ in range(args.repeat + 1)]
            runs = runs[1:]  # the first is a warm-up (page cache, bytecode caches)
            figures[compare] = ([w for w, _ in runs], [s for _, s in runs])
    with_compare, without = figures[True], figures[False]
    per_case = median(with_compare[1])
    rows.append(
        [
            "sanity stage per case, with compare",
            fmt_s(per_case),
            f"without compare {fmt_s(median(without[1]))}",
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
        ]
    )
    print_table(["figure", "measured", "baseline", "goal", "met"], rows)


if __name__ == "__main__":
    sys.exit(main())
