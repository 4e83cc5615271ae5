"""Pushing a build to a store over SSH against ``rsync -a`` over the same SSH, in one run.

    .venv/bin/python bench/transfer.py [--small] [--size-mb 1024] [--files 10000] [--repeat 3]

Needs the SSH server of ``scripts/sshd-ci up`` (its settings are read from ``scripts/sshd-ci
env``, or from ``ASSAY_TEST_SSH_CONFIG``), ``rsync`` on both sides and about 4 x SIZE of disk.
Both tools use the same ssh client, configuration, account and host.

1. First push of a build of SIZE in FILES files (100 directories): ``assay store push`` of
   the stored version into an empty remote store vs ``rsync -a`` of the tree into an empty
   remote directory (goal: time <= 1.2x).
2. Second push after 1% of the files got new content (as a rebuild does): ``assay store
   push`` of the new version vs ``rsync -a`` of the new tree onto the first one: bytes on the
   wire (goal <= 1.1x; counted for both by bench/_relay.py in front of ssh: what each hands
   to ssh and gets back) and time (goal <= 1.2x; runs without the relay).

With ``--cpu``, one more pass of both pushes (not timed) says where the CPU goes: the sender
(assay, or rsync), the ssh client, and the receiver on the far side (assay's store agent, or
rsync's server), each in seconds of user + system time (bench/_cpu.py in front of ssh).

Each repetition pushes into empty remote directories; the second push runs on hard-linked
copies of the first push's result, so every second push sees the same state. One
unrecorded repetition comes first (warm-up), then ``--repeat`` (default 5) recorded ones;
the order of the tools alternates. A ratio is the median of per-repetition ratios, printed
with their spread. Nothing is deleted on the remote side before the end (ext4 skips the
inodes freed in the last minute when it makes a file, at a cost to whoever makes files
next); ``sync`` runs between pushes, untimed, and its time after each first push is
printed for information: rsync leaves its writes in the page cache, assay's agent has its
store's file system write them back before it records the version (a version never names
an object a power cut could lose). ``assay store put`` of each version happens before (its
time is printed for information: the store holds a build once it is built, and a run puts
what it uses).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import (
    CHILD_ENV,
    Timed,
    assay_argv,
    fmt_s,
    machine,
    make_tree,
    median,
    met,
    print_table,
    rebuild,
    timed,
    workdir,
)

ROOT = Path(__file__).resolve().parent.parent
RELAY = Path(__file__).resolve().parent / "_relay.py"
CPU = Path(__file__).resolve().parent / "_cpu.py"
MiB = 2**20


def note(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def ssh_config() -> str:
    config = os.environ.get("ASSAY_TEST_SSH_CONFIG")
    if config:
        return config
    out = subprocess.run(
        [str(ROOT / "scripts" / "sshd-ci"), "env"], capture_output=True, text=True, check=True
    )
    for line in out.stdout.splitlines():
        if line.startswith("ASSAY_TEST_SSH_CONFIG="):
            return line.split("=", 1)[1]
    raise SystemExit("no SSH server: run scripts/sshd-ci up")


class Remote:
    """Commands on the remote host as the remote account (setup and cleanup, not timed)."""

    def __init__(self, config: str, host: str = "assay-ci") -> None:
        self.config, self.host = config, host
        self.base = f"assay-bench-{secrets.token_hex(4)}"  # under the remote home

    def ssh(self) -> list[str]:
        return ["ssh", "-F", self.config]

    def run(self, command: str) -> str:
        out = subprocess.run(
            [*self.ssh(), self.host, command], capture_output=True, text=True, check=True
        )
        return out.stdout

    def path(self, name: str) -> str:
        return f"{self.base}/{name}"

    def clone(self, source: str, target: str) -> None:
        """A copy of a remote directory whose files are hard links (cheap, and safe: rsync
        and assay replace files, they never write into them), but whose append-only files
        (assay's sha256/ records) are copies."""
        src, dst = shlex.quote(self.path(source)), shlex.quote(self.path(target))
        self.run(
            f"cp -al {src} {dst} && if [ -d {src}/sha256 ]; then rm -rf {dst}/sha256 && "
            f"cp -a {src}/sha256 {dst}/sha256; fi"
        )

    def cleanup(self) -> None:
        self.run(f"rm -rf {shlex.quote(self.base)}")


def count(file: Path) -> int:
    """Bytes the relay counted (both ways, every connection of the run)."""
    total = sum(int(n) for line in file.read_text().split("\n") if line for n in line.split())
    file.unlink()
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=None, help="default 1024 (100: --small)")
    parser.add_argument("--files", type=int, default=None, help="default 10000 (1000: --small)")
    parser.add_argument(
        "--small", action="store_true", help="a quick look: 100 MiB in 1,000 files (same file size)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument(
        "--cpu", action="store_true", help="one more pass: CPU time of each process of a push"
    )
    args = parser.parse_args()
    args.size_mb = args.size_mb or (100 if args.small else 1024)
    args.files = args.files or (1_000 if args.small else 10_000)
    if shutil.which("rsync") is None:
        raise SystemExit(
            "rsync is not installed on this machine; the bench compares assay with `rsync -a`: "
            "install it (Debian: apt-get install rsync) and run again"
        )
    config = ssh_config()
    remote = Remote(config)
    # Before anything is made there (cleanup only removes the bench's own folder).
    need = 2 * args.size_mb * (args.repeat + 1) + 256  # MiB: every first push is kept
    free = int(remote.run("df -Pk . | tail -n 1").split()[3]) // 1024
    if free < need:
        raise SystemExit(
            f"the SSH server's side has {free:,} MiB free in the remote account's home; the "
            f"bench keeps every repetition's pushes there until its end ({need:,} MiB with "
            f"--repeat {args.repeat}): free some space or lower --repeat"
        )
    try:
        remote.run(f"mkdir -p {remote.base} && command -v rsync >/dev/null")
    except subprocess.CalledProcessError:
        raise SystemExit(
            "rsync is not installed on the SSH server's side (assay-ci in "
            f"{config}): install it there too and run again"
        ) from None
    print(f"# transfer bench: {args.size_mb} MiB in {args.files:,} files, {machine()}")
    try:
        with workdir(parent=args.tmpdir) as work:
            return run(args, work, remote, config)
    finally:
        remote.cleanup()


def run(args: argparse.Namespace, work: Path, remote: Remote, config: str) -> int:
    rng = random.Random(10)
    first_tree = work / "v1"
    paths = make_tree(first_tree, args.size_mb * MiB, args.files, rng)
    store = work / "store"
    env = {**CHILD_ENV, "ASSAY_STORE": str(store)}
    put1 = timed([*assay_argv(), "store", "put", "build", str(first_tree)], work, env)
    # The rebuild: the first tree is kept for rsync's first push; the second is a copy that
    # shares the unchanged files (same inodes, same times: rsync and assay's stat cache see
    # them unchanged) with 1% replaced.
    second_tree = work / "v2"
    subprocess.run(["cp", "-al", str(first_tree), str(second_tree)], check=True)
    changed = rebuild([second_tree / p.relative_to(first_tree) for p in paths], rng)
    put2 = timed([*assay_argv(), "store", "put", "build", str(second_tree)], work, env)

    def assay_push(
        ref: str, target: str, relay: Path | None = None, wrapper: Path = RELAY
    ) -> Timed:
        url = f"ssh://assay-ci/~/{remote.path(target)}"
        push_env = dict(env)
        if relay is not None:
            push_env["ASSAY_SSH"] = shlex.join([sys.executable, str(wrapper), str(relay), "ssh"])
        argv = [*assay_argv(), "store", "push", url, ref, "--ssh-config", config, "-q"]
        return timed(argv, work, push_env)

    def rsync(tree: Path, target: str, relay: Path | None = None, wrapper: Path = RELAY) -> Timed:
        ssh = shlex.join(remote.ssh())
        if relay is not None:
            ssh = shlex.join([sys.executable, str(wrapper), str(relay), *remote.ssh()])
        argv = ["rsync", "-a", "-e", ssh, f"{tree}/", f"assay-ci:{remote.path(target)}/"]
        return timed(argv, work)

    first: dict[str, list[float]] = {"assay": [], "rsync": []}
    second: dict[str, list[float]] = {"assay": [], "rsync": []}
    flushed: dict[str, list[float]] = {"assay": [], "rsync": []}  # the sync after a first push
    wire: dict[str, int] = {}

    def pair(
        rep: int,
        name: str,
        record: dict[str, list[float]],
        sides: list[tuple[str, Callable[[], float]]],
    ) -> None:
        """One push of each tool, the order alternating (repetition -1: not recorded); the
        ``sync`` after a first push is timed too (what rsync leaves to the kernel)."""
        for tool, push in sides if rep % 2 == 0 else sides[::-1]:
            seconds = push()
            started = time.perf_counter()
            os.sync()
            synced = time.perf_counter() - started
            if rep < 0:
                continue
            record[tool].append(seconds)
            if record is first:
                flushed[tool].append(synced)
            note(f"repetition {rep + 1}: {name}, {tool}: {fmt_s(seconds)}")

    # Repetition -1 is the warm-up (not recorded): the agent's compiled-module cache there,
    # ssh's and rsync's first start, the page cache of both sources. Nothing is deleted
    # on the remote side until the end: on ext4 a new file's inode is not taken from those
    # freed in the last minute, and skipping them costs the creator up to 0.4 ms of CPU per
    # file (measured here: the agent's CPU for 300 MB went 0.65 s -> 2.2-3.5 s right after
    # an `rm -rf` of a previous push), so a deletion between repetitions made whichever tool
    # came next pay for it.
    for rep in range(-1, args.repeat):
        tag = "w" if rep < 0 else str(rep)
        pair(
            rep,
            "first push",
            first,
            [
                ("assay", lambda t=tag: assay_push("build@1", f"a{t}").seconds),
                ("rsync", lambda t=tag: rsync(first_tree, f"r{t}").seconds),
            ],
        )
        remote.clone(f"a{tag}", f"a{tag}-2")
        remote.clone(f"r{tag}", f"r{tag}-2")
        pair(
            rep,
            "second push",
            second,
            [
                ("assay", lambda t=tag: assay_push("build@2", f"a{t}-2").seconds),
                ("rsync", lambda t=tag: rsync(second_tree, f"r{t}-2").seconds),
            ],
        )
        if rep == 0:  # bytes on the wire: the same update again, through the relay
            remote.clone("a0", "a0-3")
            remote.clone("r0", "r0-3")
            relay = work / "relay-count"
            assay_push("build@2", "a0-3", relay)
            wire["assay"] = count(relay)
            rsync(second_tree, "r0-3", relay)
            wire["rsync"] = count(relay)
            note(
                f"bytes on the wire, second push: assay {wire['assay']:,}, rsync {wire['rsync']:,}"
            )

    cpu_rows = cpu_pass(args, work, remote, assay_push, rsync, first_tree, second_tree)

    def ratios(values: dict[str, list[float]]) -> list[float]:
        return [a / r for a, r in zip(values["assay"], values["rsync"], strict=True)]

    def spread(values: list[float]) -> str:
        return f"{min(values):.2f}-{max(values):.2f}"

    first_ratios, second_ratios = ratios(first), ratios(second)
    then_sync = {
        tool: [p + f for p, f in zip(first[tool], flushed[tool], strict=True)] for tool in first
    }
    first_ratio, second_ratio = median(first_ratios), median(second_ratios)
    bytes_ratio = wire["assay"] / wire["rsync"]
    print_table(
        ["figure", "assay", "rsync -a", "ratio", "ratios", "goal", "met"],
        [
            [
                "first push, time",
                fmt_s(median(first["assay"])),
                fmt_s(median(first["rsync"])),
                f"{first_ratio:.2f}",
                spread(first_ratios),
                "<= 1.2",
                met(first_ratio <= 1.2),
            ],
            [
                "second push (1% new), bytes on the wire",
                f"{wire['assay']:,}",
                f"{wire['rsync']:,}",
                f"{bytes_ratio:.3f}",
                "-",
                "<= 1.1",
                met(bytes_ratio <= 1.1),
            ],
            [
                "second push (1% new), time",
                fmt_s(median(second["assay"])),
                fmt_s(median(second["rsync"])),
                f"{second_ratio:.2f}",
                spread(second_ratios),
                "<= 1.2",
                met(second_ratio <= 1.2),
            ],
            [
                "first push, then `sync` (information)",
                fmt_s(median(then_sync["assay"])),
                fmt_s(median(then_sync["rsync"])),
                f"{median(ratios(then_sync)):.2f}",
                spread(ratios(then_sync)),
                "-",
                "-",
            ],
        ],
    )
    print()
    print(f"changed content: {changed:,} bytes in {len(paths[::100])} files")
    print(
        f"assay store put: first version {fmt_s(put1.seconds)}, "
        f"after the rebuild {fmt_s(put2.seconds)}"
    )
    print(f"{args.repeat} repetitions after one warm-up; ratios: median, then min-max of pairs")
    for name, values, each in (
        ("first push", first, first_ratios),
        ("second push", second, second_ratios),
    ):
        for tool in ("assay", "rsync"):
            print(f"{name}, {tool}: {', '.join(fmt_s(v) for v in values[tool])}")
        print(f"{name}, ratio per pair: {', '.join(f'{r:.2f}' for r in each)}")
    for tool in ("assay", "rsync"):
        print(f"sync after the first push, {tool}: {', '.join(fmt_s(v) for v in flushed[tool])}")
    if cpu_rows:
        print()
        print_table(["CPU (user + system)", "sender", "ssh client", "receiver", "total"], cpu_rows)
    return 0


def cpu_pass(
    args: argparse.Namespace,
    work: Path,
    remote: Remote,
    assay_push: Callable[..., Timed],
    rsync: Callable[..., Timed],
    first_tree: Path,
    second_tree: Path,
) -> list[list[str]]:
    """With ``--cpu``: both pushes of both tools once more, each process's CPU time."""
    if not args.cpu:
        return []
    file = work / "cpu-count"

    def split(run: Timed) -> list[str]:
        ssh, far, wrapper = (float(n) for n in file.read_text().split())
        file.unlink()
        sender = run.cpu - ssh - wrapper
        return [fmt_s(sender), fmt_s(ssh), fmt_s(far), fmt_s(sender + ssh + far)]

    rows = [["first push, assay", *split(assay_push("build@1", "ac", file, CPU))]]
    rows.append(["first push, rsync", *split(rsync(first_tree, "rc", file, CPU))])
    remote.clone("ac", "ac-2")
    remote.clone("rc", "rc-2")
    rows.append(["second push, assay", *split(assay_push("build@2", "ac-2", file, CPU))])
    rows.append(["second push, rsync", *split(rsync(second_tree, "rc-2", file, CPU))])
    remote.run(f"rm -rf {remote.path('ac')}* {remote.path('rc')}*")
    return rows


if __name__ == "__main__":
    sys.exit(main())
