"""Slurm goals, against the real local cluster (scripts/slurm-ci up), each a ratio.

    .venv/bin/python bench/slurm.py [--cases 200]

1. CASES trivial cases (``true``, a 1-minute time limit, so they are short) run by assay
   with packing (the default) vs. the same with packing and arrays off (one job per case),
   and vs. a minimal floor script that submits CASES ``sbatch --wrap true`` jobs and waits
   for them with ``squeue``: goals <= 0.25 and <= 0.5.
2. Scheduler queries during the one-job-per-case run (the most jobs in flight), counted by
   wrappers put first on PATH: the most ``squeue``/``sacct`` calls in any minute vs.
   60 / poll_min (one query per poll, whatever the number of jobs).
3. Completion noticed: for jobs of ``sleep 3``, the run stage's end in assay's report vs.
   the end time Slurm records (``sacct``), with the poll interval fixed at 1 s: goal
   <= interval + 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from _common import CHILD_ENV, assay_argv, fmt_s, machine, median, met, print_table, workdir

CONFIG = """
[systems.ci]
[systems.ci.partitions.debug]
scheduler = "slurm"
launcher = "none"
max_jobs = 500
resources = {{ nodes = 2, cpus_per_node = 4 }}
slurm = {{ partition = "debug", {slurm} }}
"""


def write_project(root: Path, cases: int, slurm: str, command: str, limit: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "assay.toml").write_text(CONFIG.format(slurm=slurm))
    (root / "test_trivial.py").write_text(
        "import assay\n\nclass Trivial(assay.Test):\n"
        f"    i = assay.parameter(range({cases}))\n"
        f"    command = {command!r}\n"
        f"    time_limit = {limit!r}\n"
    )


def wrappers(folder: Path, log: Path) -> dict[str, str]:
    """PATH wrappers that log each Slurm command's start time, then run the real one."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("squeue", "sacct", "sbatch", "scancel", "scontrol"):
        real = subprocess.run(["which", name], capture_output=True, text=True).stdout.strip()
        wrapper = folder / name
        wrapper.write_text(f'#!/bin/sh\necho "{name} $(date +%s.%N)" >> {log}\nexec {real} "$@"\n')
        wrapper.chmod(0o755)
    return {**CHILD_ENV, "PATH": f"{folder}:{os.environ['PATH']}"}


def run_assay(root: Path, *args: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [*assay_argv(), "run", ".", "--plain", *args],
        cwd=root,
        env=env or CHILD_ENV,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"assay failed in {root}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return seconds


def floor(cases: int) -> float:
    """The least a script can do: submit every job at once, wait with squeue."""
    start = time.perf_counter()
    ids = []
    for _ in range(cases):
        out = subprocess.run(
            ["sbatch", "--parsable", "-p", "debug", "-o", "/dev/null", "--wrap", "true"],
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(out.stdout.strip())
    while True:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True, text=True
        ).stdout.split()
        if not out:
            break
        time.sleep(0.5)
    return time.perf_counter() - start


def busiest_minute(log: Path) -> tuple[int, float]:
    """The most squeue/sacct calls in any 60 s window, and the span of the log."""
    times = sorted(
        float(line.split()[1])
        for line in log.read_text().splitlines()
        if line.split()[0] in ("squeue", "sacct")
    )
    if not times:
        return 0, 0.0
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - 60:
            j += 1
        best = max(best, i - j + 1)
    return best, times[-1] - times[0]


def notice_delays(root: Path) -> list[float]:
    report = json.loads((root / ".assay" / "latest" / "report.json").read_text())
    delays = []
    for case in report["cases"]:
        job = case["job_id"]
        out = (
            subprocess.run(
                ["sacct", "-X", "-n", "-P", "-o", "End", "-j", job], capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()
        )
        if not out or out[0] in ("", "Unknown"):
            continue
        slurm_end = datetime.fromisoformat(out[0]).timestamp()
        # The run stage ended when assay noticed the job's end: started + setup + run.
        started = datetime.fromisoformat(case["started"]).timestamp()
        noticed = started + case["timings"]["setup"] + case["timings"]["run"]
        delays.append(noticed - slurm_end)
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    args = parser.parse_args()
    if subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        print("no Slurm cluster answers; run scripts/slurm-ci up first")
        return 2
    print(f"Slurm benchmark: {args.cases} cases; {machine()}")
    rows = []
    with workdir() as base:
        packed = base / "packed"
        write_project(packed, args.cases, "poll_min = 0.5, poll_max = 10", "true", "1m")
        t_pack = run_assay(packed)
        single = base / "single"
        write_project(
            single, args.cases, "poll_min = 0.5, poll_max = 10, arrays = false", "true", "1m"
        )
        log = base / "calls.log"
        env = wrappers(base / "bin", log)
        t_single = run_assay(single, "--no-pack", env=env)
        t_floor = floor(args.cases)
        rows.append(
            [
                f"1 {args.cases} cases packed / one job each",
                fmt_s(t_pack),
                f"one job each {fmt_s(t_single)}",
                f"{t_pack / t_single:.3f}",
                "<= 0.25",
                met(t_pack / t_single <= 0.25),
            ]
        )
        rows.append(
            [
                f"1 {args.cases} cases packed / sbatch --wrap floor",
                fmt_s(t_pack),
                f"floor {fmt_s(t_floor)}",
                f"{t_pack / t_floor:.3f}",
                "<= 0.5",
                met(t_pack / t_floor <= 0.5),
            ]
        )
        busiest, span = busiest_minute(log)
        allowed = 60 / 0.5
        rows.append(
            [
                "2 squeue+sacct calls in the busiest minute",
                str(busiest),
                f"60 / poll_min = {allowed:.0f} (with {args.cases} jobs)",
                f"{busiest / allowed:.2f}",
                "<= 1.0",
                met(busiest <= allowed),
            ]
        )
        timed = base / "notice"
        write_project(
            timed,
            8,
            "poll_min = 1.0, poll_max = 1.0, pack = false, arrays = false",
            "sleep 3",
            "1m",
        )
        run_assay(timed)
        delays = notice_delays(timed)
        worst = max(delays) if delays else float("nan")
        rows.append(
            [
                "3 completion noticed after Slurm's end (max of 8)",
                f"{worst:.2f} s (median {median(delays):.2f} s)" if delays else "-",
                "poll interval 1.0 s",
                "-",
                "<= 2.0 s",
                met(worst <= 2.0),
            ]
        )
        print(f"  (query log: {span:.0f} s of calls; Slurm's end times have 1 s resolution)")
    print_table(["figure", "measured", "baseline", "ratio", "goal", "met"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
