"""Figure 5: assay next to ReFrame on the same workloads, measured in one run.

    .venv/bin/python bench/reframe_compare.py [--repeat N] [--venv DIR]

Installs ``reframe-hpc`` into a throwaway venv (or into --venv DIR, kept for next time),
writes equivalent tests for both tools, and times whole processes (interpreter start
included) for: 200 run-only ``echo hello`` cases with 8 slots (ReFrame
``--exec-policy=async``, partition ``max_jobs`` 8), the same with ReFrame's builtin logging,
the same serially (``--exec-policy=serial`` and ``assay run --serial``), and listing 5,000
variants of one test (``-l``, ``assay list``).

Each side runs as its users run it:

- assay: its console script (``.venv/bin/assay``), bytecode written by the unrecorded round.
- ReFrame: its console script from a venv that ``pip`` filled (pip writes the bytecode), with
  its documented asynchronous policy (its default) and the partition's ``max_jobs``; in the
  caller's environment and HOME (ReFrame keeps the processor topology it detects on its first
  run under ``~/.reframe``; a fresh HOME would make it detect again each time), except
  ``TMPDIR``, which points into the bench's temp dir so that the log files ReFrame makes
  there are removed with it. One unrecorded run of each workload first.
- ReFrame's config sets the logger's own level to ``info``, as its handlers (stdout at
  ``info``). Left at its default, ``undefined``, the logger hands on every ``debug`` and
  ``debug2`` record, and for each of the ~44 per case that concern a case ReFrame fills the
  record's check fields first: one of them is the deprecated alias ``variables``, and
  reading it makes ReFrame walk the whole stack with ``inspect.stack()`` (source lines and
  code positions of ~20 frames) to place a warning it then suppresses. For these cases that
  is ~7 times the CPU (38.1 s against 5.3 s for 200 cases, measured side by side; see
  bench/README.md). ReFrame's builtin logging (no ``logging`` section: stdout at ``info``
  and a ``debug2`` log file) keeps the logger at ``undefined``, which is how a user without
  a logging section runs it: the second row shows that run.

Stage and output dirs (``--prefix``) and the report go to a temp dir. assay and ReFrame
alternate, one run of each per repetition, the order rotating.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _common import (
    CHILD_ENV,
    PYTHON,
    Timed,
    assay_argv,
    fmt_s,
    fmt_spread,
    fresh_dir,
    interleaved,
    machine,
    median,
    paired_ratio,
    print_table,
    timed,
    walls,
    workdir,
    write_assay_test,
)

REFRAME_TEST = """\
import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.builtins import parameter, sanity_function


@rfm.simple_test
class {name}(rfm.RunOnlyRegressionTest):
    i = parameter(range({count}))
    valid_systems = ["*"]
    valid_prog_environs = ["*"]
    executable = "echo"
    executable_opts = ["hello"]

    @sanity_function
    def validate(self):
        return sn.assert_found(r"hello", self.stdout)
"""

# One local system, one partition (local scheduler and launcher, 8 jobs), ReFrame's own
# "builtin" environment.
REFRAME_SYSTEM = """\
    "systems": [{
        "name": "bench",
        "descr": "assay benchmark",
        "hostnames": [".*"],
        "modules_system": "nomod",
        "partitions": [{
            "name": "default",
            "scheduler": "local",
            "launcher": "local",
            "environs": ["builtin"],
            "max_jobs": %d,
        }],
    }],
"""

# Log to stdout at info, no perflog files, and the logger's own level at info too: at its
# default ("undefined") ReFrame builds every debug record for handlers that drop it, and each
# build walks the stack for a deprecated attribute (most of its CPU here; see the docstring).
REFRAME_LOGGING = """\
    "logging": [{
        "level": "info",
        "handlers": [{"type": "stream", "name": "stdout", "level": "info",
                      "format": "%(message)s"}],
        "handlers_perflog": [],
    }],
"""


def reframe_config(jobs: int, logging: bool) -> str:
    """The site configuration: with this bench's logging section, or without one (ReFrame's
    builtin logging then applies: stdout at info, a debug2 log file, logger level undefined)."""
    return (
        "site_configuration = {\n"
        + REFRAME_SYSTEM % jobs
        + (REFRAME_LOGGING if logging else "")
        + "}\n"
    )


def install_reframe(venv: Path, version: str) -> Path | None:
    """``venv/bin/reframe`` at ``version``, installing it if needed; None if that fails."""
    reframe = venv / "bin" / "reframe"
    if reframe.exists():
        found = subprocess.run([str(reframe), "-V"], capture_output=True, text=True, check=False)
        if found.stdout.strip() == version:
            return reframe
    print(f"installing reframe-hpc=={version} into {venv} ...")
    start = time.perf_counter()
    try:
        subprocess.run([PYTHON, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"reframe-hpc=={version}"],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = (getattr(exc, "stderr", None) or str(exc)).strip().splitlines() or ["?"]
        print(f"ReFrame: could not install reframe-hpc=={version}, skipping it: {detail[-1]}")
        return None
    print(f"  installed in {time.perf_counter() - start:.1f} s (not part of any figure)")
    return reframe


def reframe_env(tmp: Path) -> dict[str, str]:
    """The caller's environment (its HOME too, as a user's run has), without RFM_* settings
    that would make this ReFrame differ from a default one; TMPDIR in the bench's temp dir,
    where ReFrame's log files (``rfm-*.log``, one per run) go and are removed with it."""
    env = {k: v for k, v in CHILD_ENV.items() if not k.startswith("RFM_")}
    env["TMPDIR"] = str(tmp)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--venv", type=Path, help="venv for ReFrame, kept (default: a temp dir)")
    parser.add_argument("--reframe-version", default="4.10.4")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--variants", type=int, default=5000)
    args = parser.parse_args()
    n, c, j, v = max(1, args.repeat), args.cases, args.jobs, args.variants
    print(f"assay vs ReFrame {args.reframe_version}: {machine()}, {n} repetition(s), medians")
    load_before = os.getloadavg()[0]
    with workdir("assay-bench-rfm-") as root:
        venv = args.venv.absolute() if args.venv else root / "venv"
        reframe = install_reframe(venv, args.reframe_version)
        for name, count in (("run", c), ("list", v)):
            write_assay_test(root / f"assay-{name}", "Trivial", count, "echo hello", "hello")
            checks = root / f"reframe-{name}"
            checks.mkdir()
            (checks / "trivial.py").write_text(REFRAME_TEST.format(name="Trivial", count=count))
        config = root / "config.py"
        config.write_text(reframe_config(j, logging=True))
        builtin_logging = root / "config-builtin-logging.py"
        builtin_logging.write_text(reframe_config(j, logging=False))
        rfm_tmp = root / "reframe-tmp"
        rfm_tmp.mkdir()
        env = reframe_env(rfm_tmp)

        def assay_run(extra: Sequence[str]) -> Callable[[], Timed]:
            def measure() -> Timed:
                cwd = fresh_dir(root, "assay-cwd")
                argv = [*assay_argv(), "run", str(root / "assay-run"), "--max-jobs", str(j)]
                run = timed([*argv, "--plain", *extra], cwd)
                report = json.loads((cwd / ".assay/latest/report.json").read_text())
                assert report["summary"]["passed"] == c, report["summary"]
                return run

            return measure

        def assay_list() -> Timed:
            out = timed([*assay_argv(), "list", str(root / "assay-list")], fresh_dir(root, "cwd"))
            assert out.stdout.strip().splitlines()[-1].startswith(f"{v} case(s)"), out.stdout[-300:]
            return out

        def rfm(
            checks: str, action: Sequence[str], expect: str, conf: Path = config
        ) -> Callable[[], Timed]:
            def measure() -> Timed:
                assert reframe is not None
                cwd = fresh_dir(root, "reframe-cwd")
                argv = [str(reframe), "-C", str(conf), "-c", str(root / checks), *action]
                argv += ["--prefix", str(cwd / "prefix"), "--report-file", str(cwd / "r.json")]
                out = timed([*argv, "--nocolor"], cwd, env=env)
                assert expect in out.stdout, out.stdout[-1000:]
                return out

            return measure

        ran = f"Ran {c}/{c} test case(s) from {c} check(s) (0 failure(s)"
        workloads: list[tuple[str, Callable[[], Timed], Callable[[], Timed]]] = [
            (f"run {c} echo cases, {j} slots (async)", assay_run([]),
             rfm("reframe-run", ["-r", "--exec-policy=async"], ran)),
            (f"the same, ReFrame's builtin logging ({j} slots)", assay_run([]),
             rfm("reframe-run", ["-r", "--exec-policy=async"], ran, builtin_logging)),
            (f"run {c} echo cases, serial", assay_run(["--serial"]),
             rfm("reframe-run", ["-r", "--exec-policy=serial"], ran)),
            (f"list {v} variants", assay_list,
             rfm("reframe-list", ["-l"], f"Found {v} check(s)")),
        ]  # fmt: skip
        rows, spreads = [], []
        for label, assay_measure, rfm_measure in workloads:
            print(f"{label} ...", file=sys.stderr)
            sides = {"assay": assay_measure}
            if reframe is not None:
                sides["ReFrame"] = rfm_measure
            runs = interleaved(n, sides)  # a first unrecorded round: ReFrame's first-run work
            assay_times = walls(runs["assay"])
            assay_cpu = fmt_s(median([t.cpu for t in runs["assay"]]))
            spreads.append(f"  {label}:\n    assay   {fmt_spread(assay_times)}")
            if reframe is not None:
                rfm_times = walls(runs["ReFrame"])
                rfm_cpu = fmt_s(median([t.cpu for t in runs["ReFrame"]]))
                ratio = f"{paired_ratio(runs['ReFrame'], runs['assay']):.1f}x"
                rows.append(
                    [label, fmt_s(median(assay_times)), fmt_s(median(rfm_times)), ratio,
                     assay_cpu, rfm_cpu]
                )  # fmt: skip
                spreads.append(f"    ReFrame {fmt_spread(rfm_times)}")
            else:
                rows.append(
                    [label, fmt_s(median(assay_times)), "not installed", "-", assay_cpu, "-"]
                )
    print()
    print_table(["workload", "assay", "ReFrame", "ReFrame/assay", "assay CPU", "ReFrame CPU"], rows)
    print()
    print("Each number: one whole process (`assay run|list` or `reframe -r|-l`) from spawn to")
    print("exit, interpreter start included; both on the same Python interpreter. CPU: user +")
    print("system time of the process and its children (median).")
    print("ReFrame's logger level is info (as its handlers); with its builtin logging (second")
    print("row: stdout at info, a debug2 log file, logger level undefined) it builds every debug")
    print("record, and each one walks the whole stack for a deprecated attribute (variables):")
    print("that is the difference between the first two rows' ReFrame CPU.")
    print("ReFrame's wall time is its CPU time plus its polling sleeps: up to 1/poll_rate_max =")
    print("0.1 s after it starts polling, then 10% longer per poll that finds jobs still running.")
    print("Serially it starts polling anew for each case and its first look finds the job")
    print("running, so it sleeps ~0.1 s per case: ~20 s of the serial row's wall time.")
    print("Ratio: median of per-repetition ratios, the two run back to back, order rotating.")
    print("Spread:")
    print("\n".join(spreads))
    # Other work on the machine stretches ReFrame's wall time (and, on a VM, CPU time too).
    print(
        f"Load average (1 min): {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
