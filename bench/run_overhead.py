"""Figures 1-4 of the performance goals: assay's own overhead against floors, in one run.

    .venv/bin/python bench/run_overhead.py [--repeat N]

1. 200 run-only cases (``echo hello`` + a sanity regex), 8 slots: ``assay run`` process
   vs. the floor process (bench/floor.py), both timed from spawn to exit.
2. The same 200 cases with ``--serial`` vs. the floor with one slot.
3. ``assay list`` of 5,000 variants of one test, process wall time.
4. A ``sleep 2`` case: its run-stage time from the JSON report minus 2 s.

Each repetition runs assay and its floor back to back; ratios are medians of the
per-repetition ratios, times are medians. Everything runs in a temp dir that is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    PYTHON,
    Timed,
    assay_argv,
    fmt_s,
    fmt_spread,
    fresh_dir,
    machine,
    median,
    print_table,
    python_start,
    repeat,
    timed,
    workdir,
    write_assay_test,
)

FLOOR = Path(__file__).resolve().parent / "floor.py"
SLEEP = 2.0
INCLUDES = """What each number includes:
  1-2 assay: the `assay run` process from spawn to exit: interpreter start, imports, loading,
      planning, every case, report.json. floor: the `python bench/floor.py` process from
      spawn to exit: interpreter start, asyncio import, a job script per case, bash, the
      output files, a regex check; it waits on pidfds. Ratio: median over repetitions of
      assay/floor, each pair run back to back (order alternating).
  3   the `assay list` process from spawn to exit (one line per case to a pipe).
  4   timings["run"] of the case in report.json (script write, spawn, wait) minus the sleep;
      baseline: the same steps (asyncio.create_subprocess_exec) inside the bench process."""


@dataclass
class Pair:
    """One workload measured against its floors, over all repetitions (seconds)."""

    assay: list[float] = field(default_factory=list)  # process wall time
    assay_cpu: list[float] = field(default_factory=list)  # CPU of it and its jobs
    session: list[float] = field(default_factory=list)  # report duration: no start/load/plan
    floor: list[float] = field(default_factory=list)  # floor.py (pidfd) process wall time
    floor_cpu: list[float] = field(default_factory=list)
    floor_inner: list[float] = field(default_factory=list)  # floor.py after its imports
    floor_asyncio: list[float] = field(default_factory=list)  # floor.py asyncio, wall time

    @property
    def ratio(self) -> float:
        return median([a / f for a, f in zip(self.assay, self.floor, strict=True)])


def read_report(cwd: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cwd / ".assay/latest/report.json").read_text())
    return data


def run_pair(root: Path, tests: Path, cases: int, jobs: int, serial: bool, n: int) -> Pair:
    """Repetitions of assay run, floor (pidfd) and floor (asyncio), back to back."""
    pair = Pair()
    argv = [*assay_argv(), "run", str(tests), "--max-jobs", str(jobs), "--plain"]
    argv += ["--serial"] if serial else []

    def floor(mode: str) -> Timed:
        cwd = fresh_dir(root, "floor-cwd")
        return timed([PYTHON, str(FLOOR), str(cwd), str(cases), str(jobs), mode], cwd)

    def once(record: bool, assay_first: bool) -> None:
        if not assay_first:  # alternate the order: neither side always runs after the other
            fast, slow = floor("pidfd"), floor("asyncio")
        cwd = fresh_dir(root, "assay-cwd")
        run = timed(argv, cwd)
        report = read_report(cwd)
        assert report["summary"]["passed"] == cases, report["summary"]
        if assay_first:
            fast, slow = floor("pidfd"), floor("asyncio")
        if record:
            pair.assay.append(run.seconds)
            pair.assay_cpu.append(run.cpu)
            pair.session.append(float(report["session"]["duration"]))
            pair.floor.append(fast.seconds)
            pair.floor_cpu.append(fast.cpu)
            pair.floor_inner.append(float(fast.stdout.split()[-1]))
            pair.floor_asyncio.append(slow.seconds)

    once(record=False, assay_first=True)  # warm-up: page cache, bytecode caches
    for k in range(n):
        once(record=True, assay_first=k % 2 == 0)
    return pair


def list_time(root: Path, tests: Path, variants: int) -> float:
    cwd = fresh_dir(root, "list-cwd")
    result = timed([*assay_argv(), "list", str(tests)], cwd)
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{variants} case(s)"), last
    return result.seconds


def sleep_overhead(root: Path, tests: Path) -> float:
    """The run stage of a ``sleep 2`` case as assay reports it, minus the 2 s of sleep."""
    cwd = fresh_dir(root, "sleep-cwd")
    timed([*assay_argv(), "run", str(tests), "--plain"], cwd)
    cases = read_report(cwd)["cases"]
    assert len(cases) == 1 and cases[0]["status"] == "passed", cases
    return float(cases[0]["timings"]["run"]) - SLEEP


async def _floor_sleep(script: Path) -> float:
    start = time.perf_counter()
    script.write_text(f"#!/bin/bash\ncd {script.parent} || exit 97\nsleep {SLEEP:g}\n")
    with open(script.with_suffix(".out"), "wb") as out, open(script.with_suffix(".err"), "wb") as e:
        proc = await asyncio.create_subprocess_exec(
            "/bin/bash", str(script), cwd=script.parent, stdout=out, stderr=e
        )
    await proc.wait()
    return time.perf_counter() - start - SLEEP


def floor_sleep_overhead(root: Path) -> float:
    """The same figure for a bare script write + spawn + wait in this process."""
    return asyncio.run(_floor_sleep(fresh_dir(root, "sleep-floor") / "job.sh"))


def row(
    label: str,
    value: float,
    base_label: str,
    base: float | None,
    checked: float,
    unit: str,
    goal: float,
) -> list[str]:
    """A table row; ``checked`` (a ratio or seconds, per ``unit``) is held against ``goal``."""
    baseline = f"{base_label} {fmt_s(base)}" if base is not None else "-"
    if unit == "ratio":  # the median of per-repetition ratios, not a ratio of medians
        ratio, goal_text = f"{checked:.2f}x", f"<= {goal:.1f}x"
    else:
        ratio = f"{value / base:.1f}x" if base is not None else "-"
        goal_text = f"<= {goal * 1000:g} ms" if goal < 0.1 else f"<= {goal:g} s"
    met = "yes" if checked <= goal else f"NO (+{(checked / goal - 1) * 100:.0f}%)"
    return [label, fmt_s(value), baseline, ratio, goal_text, met]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--cases", type=int, default=200, help="cases of figures 1-2")
    parser.add_argument("--jobs", type=int, default=8, help="slots of figure 1")
    parser.add_argument("--variants", type=int, default=5000, help="variants of figure 3")
    parser.add_argument(
        "--tmpdir",
        type=Path,
        help="where the temp dirs go (default: the system's); e.g. /dev/shm to leave the disk out",
    )
    args = parser.parse_args()
    n = max(1, args.repeat)
    with workdir(parent=args.tmpdir) as root:
        print(f"assay overhead benchmark: {machine()}, {n} repetition(s), medians, in {root}")
        run_tests = root / "tests-run"
        write_assay_test(run_tests, "Trivial", args.cases, "echo hello", expect="hello")
        list_tests = root / "tests-list"
        write_assay_test(list_tests, "Many", args.variants, "echo hello", expect="hello")
        sleep_tests = root / "tests-sleep"
        write_assay_test(sleep_tests, "Sleep", 1, f"sleep {SLEEP:g}")

        print("figure 1: parallel run ...", file=sys.stderr)
        par = run_pair(root, run_tests, args.cases, args.jobs, serial=False, n=n)
        print("figure 2: serial run ...", file=sys.stderr)
        ser = run_pair(root, run_tests, args.cases, args.jobs, serial=True, n=n)
        print("figure 3: listing ...", file=sys.stderr)
        listing = repeat(n, lambda: list_time(root, list_tests, args.variants))
        start = repeat(n, lambda: python_start(root))
        print("figure 4: noticing a finished process ...", file=sys.stderr)
        notice = repeat(n, lambda: sleep_overhead(root, sleep_tests), warmup=False)
        notice_floor = repeat(n, lambda: floor_sleep_overhead(root), warmup=False)

    c, j, v = args.cases, args.jobs, args.variants
    list_s, notice_s, bare_s = median(listing), median(notice), median(notice_floor)
    rows = [
        row(f"1 run {c} echo cases, {j} slots", median(par.assay), "floor", median(par.floor),
            par.ratio, "ratio", 2.0),
        row("1 same, assay absolute", median(par.assay), "", None, median(par.assay), "s", 1.0),
        row(f"2 run {c} echo cases, --serial", median(ser.assay), "floor", median(ser.floor),
            ser.ratio, "ratio", 2.0),
        row(f"3 assay list, {v} variants", list_s, "python -c pass", median(start), list_s,
            "s", 0.5),
        row(f"4 sleep {SLEEP:g}: run stage - {SLEEP:g} s", notice_s, "bare spawn+wait", bare_s,
            notice_s, "s", 0.020),
    ]  # fmt: skip
    rows[-1][1] += f" (min {fmt_s(min(notice))})"
    print()
    print_table(["figure", "assay", "baseline", "ratio", "goal", "met"], rows)
    print()
    print(INCLUDES)
    print()
    print("Spread and breakdown (wall unless CPU is said; CPU includes bash and echo):")
    for label, pair in (("1 parallel", par), ("2 serial", ser)):
        print(f"  {label}: assay {fmt_spread(pair.assay)}")
        print(f"      floor {fmt_spread(pair.floor)}")
        print(
            f"      assay session only (report duration) {fmt_s(median(pair.session))}; "
            f"floor after imports {fmt_s(median(pair.floor_inner))}"
        )
        cpu, floor_cpu = median(pair.assay_cpu), median(pair.floor_cpu)
        print(f"      CPU: assay {fmt_s(cpu)}, floor {fmt_s(floor_cpu)} ({cpu / floor_cpu:.2f}x)")
        print(f"      floor with create_subprocess_exec {fmt_spread(pair.floor_asyncio)}")
    print(f"  3 list: {fmt_spread(listing)}")
    print(f"      python -c pass {fmt_spread(start)}")
    print(f"  4 notice: {fmt_spread(notice)}")
    print(f"      bare {fmt_spread(notice_floor)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
