"""Longest-expected-first scheduling from recorded durations, against the best possible.

    .venv/bin/python bench/scheduling.py [--repeat N] [--slots N]

A suite whose long cases are declared last (24 cases of 0.5 s, then 2 of 6 s, no declared
time limits) runs twice on 4 slots, in a fresh prefix each repetition:

* first run: nothing recorded, so cases start in declaration order: the long ones start
  last and run alone at the end;
* second run: the durations the first run recorded put them first (LPT).

Each run's makespan (first case start to last case end, from report.json) is held against
the lower bound of any schedule of those cases on those slots, ``max(total/slots,
longest)``, computed from the durations the same run measured (so per-case overhead counts
in the bound as in the makespan). No schedule beats the bound, so makespan/bound is an
upper bound of makespan/optimum. Goal: the second run within 1.05 of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from _common import assay_argv, fmt_s, fresh_dir, machine, median, met, print_table, timed, workdir

SUITE = """import assay


class Short(assay.Test):
    i = assay.parameter(range({shorts}))
    command = "sleep {short}"


class Long(assay.Test):
    i = assay.parameter(range({longs}))
    command = "sleep {long}"
"""


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def schedule(report: dict[str, Any], slots: int) -> tuple[float, float, list[str]]:
    """(makespan, lower bound, the order cases started in) of one run."""
    cases = report["cases"]
    starts = [_epoch(c["started"]) for c in cases]
    ends = [_epoch(c["finished"]) for c in cases]
    makespan = max(ends) - min(starts)
    durations = [e - s for s, e in zip(starts, ends, strict=True)]
    bound = max(sum(durations) / slots, max(durations))
    order = [c["test"] for _, c in sorted(zip(starts, cases, strict=True), key=lambda p: p[0])]
    return makespan, bound, order


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--shorts", type=int, default=24)
    parser.add_argument("--longs", type=int, default=2)
    parser.add_argument("--short", type=float, default=0.5)
    parser.add_argument("--long", type=float, default=6.0)
    args = parser.parse_args()
    print(f"bench/scheduling.py on {machine()}")
    print(
        f"{args.shorts} cases of {args.short} s declared first, {args.longs} of {args.long} s "
        f"last, {args.slots} slots, {args.repeat} repetitions (fresh prefix each)"
    )
    first: list[tuple[float, float]] = []
    second: list[tuple[float, float]] = []
    with workdir() as root:
        (root / "test_suite.py").write_text(
            SUITE.format(shorts=args.shorts, longs=args.longs, short=args.short, long=args.long)
        )
        argv = [*assay_argv(), "run", "test_suite.py", "--plain", "--max-jobs", str(args.slots)]
        for i in range(args.repeat):
            prefix = fresh_dir(root, f"p{i}")
            for runs in (first, second):
                timed([*argv, "--prefix", str(prefix)], root)
                report = json.loads((prefix / "latest" / "report.json").read_text())
                makespan, bound, order = schedule(report, args.slots)
                runs.append((makespan, bound))
                if runs is second:
                    longs_first = order[: args.longs] == ["Long"] * args.longs
                    assert longs_first, f"second run started {order[: args.longs]} first"
    rows = []
    for label, runs in (
        ("first run (declared order)", first),
        ("second run (recorded, LPT)", second),
    ):
        ratio = median([m / b for m, b in runs])
        goal = "<= 1.05" if runs is second else ""
        rows.append(
            [
                label,
                fmt_s(median([m for m, _ in runs])),
                fmt_s(median([b for _, b in runs])),
                f"{ratio:.3f}",
                goal,
                met(ratio <= 1.05) if runs is second else "",
            ]
        )
    print_table(["run", "makespan", "lower bound", "ratio", "goal", "met"], rows)
    gain = median([f[0] / s[0] for f, s in zip(first, second, strict=True)])
    print(f"second run against the first: {1 / gain:.3f} of its makespan ({gain:.2f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
