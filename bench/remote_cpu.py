"""Where the CPU of a run over SSH goes (issue 10): assay, the sshd, the host agent.

    .venv/bin/python bench/remote_cpu.py [--cases 200] [--repeat 3]

Needs scripts/sshd-ci (its keys, config and account; the script is not changed). Each
measured run gets an sshd of its own (``sshd -d``: the CI server's config and host key, one
connection, in the foreground). The CPU of its process tree (sshd's processes, the shell
and the agent's connector) is sampled from /proc every 20 ms, the last figure of each
process kept. The host agent's daemon leaves that tree: its CPU is its own count, in the
run's report (``session.remote.HOST.agent.cpu``), as are the requests it served and the
channel writes that carried them. The jobs' own CPU is in none of these.

One line per side: CASES trivial cases (``echo hello`` and ``out.expect``, 8 at a time) on
the direct scheduler over SSH, and the same on this machine (assay only: the jobs are its
children there, so their CPU is in its figure). The median of REPEAT runs, after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import CHILD_ENV, _wait4, assay_argv, machine, median, print_table, timed, workdir

from remote import project, ssh_table, sshd_ci_env

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TreeCpu:
    """The CPU seconds of a process and its descendants, sampled from /proc until stopped
    (the last figure of each process; a process's time after its last sample is lost)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self.stop.wait(0.02):
            parents: dict[int, int] = {}
            cpu: dict[int, float] = {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry)] = int(fields[1])
                cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
            for pid, seconds in cpu.items():
                up = pid
                while up in parents and up != self.root:
                    up = parents[up]
                if up == self.root:
                    self.seen[pid] = max(self.seen.get(pid, 0.0), seconds)

    def total(self) -> float:
        self.stop.set()
        self.thread.join()
        return sum(self.seen.values())


def one_run(root: Path, ci: dict[str, str], base: Path, remote_dir: str) -> dict[str, float]:
    """A run against an sshd of its own: CPU seconds of assay, of the sshd, of the agent;
    the agent's requests, the channel writes; wall seconds."""
    port = free_port()
    config = Path(ci["ASSAY_TEST_SSH_CONFIG"]).parent / "sshd_config"
    key = Path(ci["ASSAY_TEST_SSH_KNOWN_HOSTS"]).read_text().split()[1:3]
    known = base / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key[0]} {key[1]}\n")
    partition = (
        '[systems.ci.partitions.p]\nmax_jobs = 8\ntransport = "ssh"\n'
        f"ssh = {ssh_table(ci, port, known, remote_dir)}\n"
    )
    (root / "assay.toml").write_text(partition)
    log = base / "sshd.log"
    sshd = subprocess.Popen(
        ["/usr/sbin/sshd", "-d", "-f", str(config), "-o", f"Port={port}", "-E", str(log)],
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "Server listening" in (log.read_text() if log.exists() else ""):
            break
        time.sleep(0.02)
    tree = TreeCpu(sshd.pid)
    try:
        run = timed([*assay_argv(), "run", ".", "--plain"], root)
    finally:
        try:
            _wait4(sshd.pid, 30)
        except subprocess.TimeoutExpired:
            sshd.kill()
            raise
    sshd_cpu = tree.total()
    report = json.loads((root / ".assay" / "latest" / "report.json").read_text())
    (remote,) = report["session"]["remote"].values()
    agent = remote["agent"]
    return {
        "wall": run.seconds,
        "assay": run.cpu,
        "sshd": sshd_cpu,
        "agent": float(agent["cpu"]),
        "requests": float(sum(agent["requests"].values())),
        "writes": float(agent["writes"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ci = sshd_ci_env()
    home = Path(os.path.expanduser(f"~{ci['ASSAY_TEST_SSH_USER']}"))
    remote_dir = f".assay-bench-{os.getpid()}-cpu"
    print(f"Remote CPU: {args.cases} cases, median of {args.repeat}; {machine()}")
    rows = []
    try:
        with workdir() as base:
            away = base / "ssh"
            project(away, "", args.cases, "echo hello", "hello")
            runs = [one_run(away, ci, base, remote_dir) for _ in range(args.repeat + 1)][1:]
            here = base / "here"
            project(
                here, "[systems.ci.partitions.p]\nmax_jobs = 8\n", args.cases, "echo hello", "hello"
            )
            timed([*assay_argv(), "run", ".", "--plain"], here, CHILD_ENV)
            local = [
                timed([*assay_argv(), "run", ".", "--plain"], here) for _ in range(args.repeat)
            ]
    finally:
        folder = home / remote_dir  # only the benchmark's own, in the remote home
        if folder.parent == home and folder.name.startswith(".assay-bench-"):
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=False)
            shutil.rmtree(folder, ignore_errors=True)

    def m(key: str) -> float:
        return median([r[key] for r in runs])

    rows.append(
        [
            f"{args.cases} cases direct over SSH",
            f"{m('wall'):.3f} s",
            f"{m('assay'):.3f} s",
            f"{m('sshd'):.3f} s",
            f"{m('agent'):.3f} s",
            f"{m('requests'):.0f}",
            f"{m('writes'):.0f}",
        ]
    )
    rows.append(
        [
            f"{args.cases} cases here",
            f"{median([t.seconds for t in local]):.3f} s",
            f"{median([t.cpu for t in local]):.3f} s",
            "-",
            "-",
            "-",
            "-",
        ]
    )
    print_table(["run", "wall", "assay CPU", "sshd CPU", "agent CPU", "requests", "writes"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
