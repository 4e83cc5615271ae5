"""assay's own overhead against floors measured in the same run, interleaved.

    .venv/bin/python bench/run_overhead.py [--repeat N] [--big-cases 2000] [--tmpdir DIR]

1. 200 run-only cases (``echo hello`` + a sanity regex), 8 slots: the ``assay run`` process
   vs. the floor process (bench/floor.py: a minimal asyncio program doing the same work).
2. The same 200 cases with ``--serial`` vs. the floor with one slot.
3. ``assay list`` of 5,000 variants of one test, process wall time.
4. A lone ``sleep 2`` case: the whole ``assay run`` process wall time vs. ``sleep 2``.
5. ``assay --version`` vs. ``python -c "import assay"`` (same interpreter, same venv).
6. 2,000 of the cases of figure 1: peak memory of the assay process, and the per-case time
   of 2,000 over that of 200, divided by the same quotient of the floor (which writes the
   same files per case: the filesystem slows down as files pile up).

Every group of commands runs interleaved: each repetition runs each command once, the
order rotated; ratios are medians of per-repetition ratios. Floors start the interpreter
by its real path (no venv, no version-manager shim). Everything runs in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import (
    FLOOR_ARGV,
    PYTHON,
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
    paired_ratio,
    print_table,
    timed,
    walls,
    workdir,
    write_assay_test,
)

FLOOR = Path(__file__).resolve().parent / "floor.py"
SLEEP = 2.0
INCLUDES = """What each number includes (every one a whole process from spawn to exit):
  1-2 assay: `assay run`: interpreter start, imports, loading, planning, every case,
      report.json. floor: `python -S bench/floor.py`: interpreter start, asyncio, a job script
      per case, bash, the output files, a regex check; it waits on pidfds.
  3   `assay list` (one line per case to a pipe).
  4   `assay run` of one `sleep 2` case, minus the wall time of a `sleep 2` process.
  5   `assay --version` and `python -c "import assay"` with the venv's interpreter.
  6   peak RSS of the `assay run` process of 2,000 cases (its largest process); scaling:
      (assay 2,000 / assay 200) / (floor 2,000 / floor 200), 1.0 = per-case cost constant."""


def read_report(cwd: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cwd / ".assay/latest/report.json").read_text())
    return data


def assay_run(root: Path, name: str, tests: Path, argv: Sequence[str], cases: int) -> Timed:
    cwd = fresh_dir(root, name)
    run = timed([*assay_argv(), "run", str(tests), "--plain", *argv], cwd)
    summary = read_report(cwd)["summary"]
    assert summary["passed"] == cases, summary
    return run


def floor_run(root: Path, name: str, cases: int, jobs: int) -> Timed:
    cwd = fresh_dir(root, name)
    return timed([*FLOOR_ARGV, str(FLOOR), str(cwd), str(cases), str(jobs)], cwd)


def goal_row(
    label: str,
    value: str,
    base: str,
    measured: float,
    goal: float,
    unit: str,
    phase: FilePhase | None = None,
) -> list[str]:
    """A table row: ``measured`` (in ``unit``: x, s or MiB) held against ``goal``; ``phase``:
    a ratio against a floor that a slow disk phase favours (see :func:`judged`)."""
    shown = {"x": f"{measured:.2f}x", "s": fmt_s(measured), "MiB": f"{measured:.1f} MiB"}[unit]
    goal_text = {"x": f"<= {goal:g}x", "s": f"<= {fmt_s(goal)}", "MiB": f"<= {goal:g} MiB"}[unit]
    missed = f"NO (+{(measured / goal - 1) * 100:.0f}%)"
    met = judged(True, phase) if measured <= goal else missed
    return [label, value, base, shown, goal_text, met]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--cases", type=int, default=200, help="cases of figures 1-2")
    parser.add_argument("--jobs", type=int, default=8, help="slots of figure 1")
    parser.add_argument("--variants", type=int, default=5000, help="variants of figure 3")
    parser.add_argument("--big-cases", type=int, default=2000, help="cases of figure 6")
    parser.add_argument("--big-repeat", type=int, default=3, help="repetitions of figure 6")
    parser.add_argument(
        "--tmpdir",
        type=Path,
        help="where the temp dirs go (default: the system's); e.g. /dev/shm to leave the disk out",
    )
    args = parser.parse_args()
    n, c, j, v, big = max(1, args.repeat), args.cases, args.jobs, args.variants, args.big_cases
    with workdir(parent=args.tmpdir) as root:
        print(f"assay overhead: {machine()}, {n} repetition(s), interleaved, medians, in {root}")
        run_tests = root / "tests-run"
        write_assay_test(run_tests, "Trivial", c, "echo hello", expect="hello")
        big_tests = root / "tests-big"
        write_assay_test(big_tests, "Trivial", big, "echo hello", expect="hello")
        list_tests = root / "tests-list"
        write_assay_test(list_tests, "Many", v, "echo hello", expect="hello")
        sleep_tests = root / "tests-sleep"
        write_assay_test(sleep_tests, "Sleep", 1, f"sleep {SLEEP:g}")
        jobs = ["--max-jobs", str(j)]

        def side(fn: Callable[..., Timed], *a: Any) -> Callable[[], Timed]:
            return lambda: fn(*a)

        cost_before = file_cost(root)
        print("figures 1, 6: 200 and 2,000 cases, 8 slots ...", file=sys.stderr)
        scale = interleaved(
            args.big_repeat,
            {
                "assay": side(assay_run, root, "a", run_tests, jobs, c),
                "floor": side(floor_run, root, "f", c, j),
                "assay-big": side(assay_run, root, "ab", big_tests, jobs, big),
                "floor-big": side(floor_run, root, "fb", big, j),
            },
        )
        print("figure 1: 200 cases, 8 slots ...", file=sys.stderr)
        par = interleaved(
            n,
            {
                "assay": side(assay_run, root, "a", run_tests, jobs, c),
                "floor": side(floor_run, root, "f", c, j),
            },
        )
        print("figure 2: 200 cases, serial ...", file=sys.stderr)
        ser = interleaved(
            n,
            {
                "assay": side(assay_run, root, "a", run_tests, [*jobs, "--serial"], c),
                "floor": side(floor_run, root, "f", c, 1),
            },
        )
        phase = FilePhase(cost_before, file_cost(root))
        print("figures 3-5: list, lone sleep, start-up ...", file=sys.stderr)
        small = interleaved(
            n,
            {
                "list": side(timed, [*assay_argv(), "list", str(list_tests)], root),
                "sleep": side(assay_run, root, "s", sleep_tests, [], 1),
                "bare-sleep": side(timed, ["sleep", f"{SLEEP:g}"], root),
                "version": side(timed, [*assay_argv(), "--version"], root),
                "import": side(timed, [PYTHON, "-c", "import assay"], root),
                "pass": side(timed, [*FLOOR_ARGV, "-c", "pass"], root),
            },
        )
        last = small["list"][-1].stdout.strip().splitlines()[-1]
        assert last.startswith(f"{v} case(s)"), last

    def med(values: Sequence[Timed]) -> float:
        return median(walls(values))

    scaling = median(
        [
            (ab.seconds / a.seconds) / (fb.seconds / f.seconds)
            for a, f, ab, fb in zip(
                scale["assay"], scale["floor"], scale["assay-big"], scale["floor-big"], strict=True
            )
        ]
    )
    notice = median(
        [s.seconds - b.seconds for s, b in zip(small["sleep"], small["bare-sleep"], strict=True)]
    )
    peak = max(t.peak_mib for t in scale["assay-big"])
    rows = [
        goal_row(f"1 run {c} echo cases, {j} slots", fmt_s(med(par["assay"])),
                 f"floor {fmt_s(med(par['floor']))}", paired_ratio(par["assay"], par["floor"]),
                 1.2, "x", phase),
        goal_row(f"2 run {c} echo cases, --serial", fmt_s(med(ser["assay"])),
                 f"floor {fmt_s(med(ser['floor']))}", paired_ratio(ser["assay"], ser["floor"]),
                 1.2, "x", phase),
        goal_row(f"3 assay list, {v} variants", fmt_s(med(small["list"])),
                 f"python -S -c pass {fmt_s(med(small['pass']))}", med(small["list"]), 0.5, "s"),
        goal_row(f"4 lone sleep {SLEEP:g} case, wall - sleep", fmt_s(med(small["sleep"])),
                 f"sleep {SLEEP:g} {fmt_s(med(small['bare-sleep']))}", notice, 0.100, "s"),
        goal_row("5 assay --version", fmt_s(med(small["version"])),
                 f"import assay {fmt_s(med(small['import']))}",
                 paired_ratio(small["version"], small["import"]), 2.0, "x"),
        goal_row(f"6 run {big} echo cases: peak memory", fmt_s(med(scale["assay-big"])), "-",
                 peak, 60.0, "MiB"),
        goal_row(f"6 per case, {big} vs {c}, over floor's", fmt_s(med(scale["assay-big"]) / big),
                 f"floor {fmt_s(med(scale['floor-big']) / big)}/case", scaling, 1.1, "x",
                 phase),
    ]  # fmt: skip
    print()
    print_table(["figure", "assay", "floor", "measured", "goal", "met"], rows)
    print(f"  figures 1, 2, 6: {phase.line()}")
    print()
    print(INCLUDES)
    print()
    print("Spread (wall):")
    for label, group in (("1", par), ("2", ser), ("6", scale), ("3-5", small)):
        for name, values in group.items():
            print(f"  {label} {name}: {fmt_spread(walls(values))}")
    for label, group in (("1", par), ("2", ser)):
        cpu = median([t.cpu for t in group["assay"]])
        floor_cpu = median([t.cpu for t in group["floor"]])
        print(f"  {label} CPU (with bash): assay {fmt_s(cpu)}, floor {fmt_s(floor_cpu)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
