"""Pushing a build to the local S3 server against ``rclone``, in one run.

    .venv/bin/python bench/s3.py [--small] [--size-mb 1024] [--files 10000] [--repeat 3]

Starts an S3 server of its own with ``scripts/s3-ci`` (SeaweedFS on port 18433, data under
/tmp/assay-s3-bench, stopped and removed at the end) and needs ``rclone`` (Debian: ``apt-get
install rclone``; the bench installs it with apt-get when it is missing and it runs as root,
else it says how and stops). About 3 x SIZE of disk for the trees and the store, and
2 x SIZE x REPEAT for the server (removed at the end).

1. First push of a build of SIZE in FILES files (100 directories) into an empty prefix:
   ``assay store push s3://...`` of the stored version vs ``rclone copy`` of the tree
   (goal: time <= 1.3x).
2. Second push after 1% of the files got new content (as a rebuild writes them):
   ``assay store push`` of the new version onto the first vs ``rclone sync`` of the new
   tree onto the first: bytes on the wire, both ways, requests, headers and listings
   included (goal <= 1.1x), counted by a TCP relay in front of the S3 endpoint
   (bench/_tcprelay.py) that both tools are pointed at.

Each repetition pushes into fresh prefixes; the order of the tools alternates; a ratio is
the median of per-repetition ratios. First pushes go to the server directly (timed), second
pushes through the relay (counted; their times are printed for information).
``assay store put`` of each version happens before (the store holds a build once it is
built).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from _common import (
    CHILD_ENV,
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
from _tcprelay import TcpRelay

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
# The bench's own server: its venv (SeaweedFS) is kept under /tmp for the next run, its data
# removed by `scripts/s3-ci down` at the end.
SERVER = {"S3_CI_DIR": "/tmp/assay-s3-bench", "S3_CI_PORT": "18433", "S3_CI_BUCKET": "bench"}


def note(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def s3_server(size_mb: int, repeat: int) -> dict[str, str]:
    """Start a SeaweedFS of the bench's own with ``scripts/s3-ci`` (not the tests' server,
    which holds 1 GiB: this one gets room for every push of the run, as deleted objects'
    space comes back only when SeaweedFS vacuums); its settings."""
    volumes = 16 + (3 * size_mb * repeat) // 64
    env = {**os.environ, **SERVER, "S3_CI_VOLUMES": str(volumes)}
    script = str(ROOT / "scripts" / "s3-ci")
    subprocess.run([script, "up"], check=True, env=env, stdout=sys.stderr)
    out = subprocess.run([script, "env"], capture_output=True, text=True, check=True, env=env)
    found = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        found[key.removeprefix("ASSAY_TEST_S3_")] = value
    return found


def server_cpu() -> float:
    """CPU seconds (user + system) the bench's SeaweedFS has used so far (0 if unknown)."""
    try:
        pid = (Path(SERVER["S3_CI_DIR"]) / "weed.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, ValueError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server() -> None:
    env = {**os.environ, **SERVER}
    subprocess.run([str(ROOT / "scripts" / "s3-ci"), "down"], env=env, stdout=sys.stderr)


def ensure_rclone() -> str:
    found = shutil.which("rclone")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        note("installing rclone with apt-get (Debian's package)")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "rclone"],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("rclone")
    if not found:
        raise SystemExit(
            "rclone is not installed; the bench compares assay with `rclone copy`/`sync`: "
            "install it (Debian: apt-get install rclone) and run again"
        )
    return found


def remove_prefix(s3: dict[str, str], prefix: str) -> None:
    """Every object and unfinished upload under ``prefix`` (cleanup, not timed)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3["ENDPOINT"],
        aws_access_key_id=s3["ACCESS_KEY"],
        aws_secret_access_key=s3["SECRET_KEY"],
        region_name="us-east-1",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3["BUCKET"], Prefix=prefix)
    for page in pages:
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=s3["BUCKET"], Delete={"Objects": keys, "Quiet": True})
    uploads = client.list_multipart_uploads(Bucket=s3["BUCKET"], Prefix=prefix)
    for upload in uploads.get("Uploads", []):
        client.abort_multipart_upload(
            Bucket=s3["BUCKET"], Key=upload["Key"], UploadId=upload["UploadId"]
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=None, help="default 1024 (100: --small)")
    parser.add_argument("--files", type=int, default=None, help="default 10000 (1000: --small)")
    parser.add_argument(
        "--small", action="store_true", help="a quick look: 100 MiB in 1,000 files (same file size)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmpdir", type=Path, default=None)
    args = parser.parse_args()
    args.size_mb = args.size_mb or (100 if args.small else 1024)
    args.files = args.files or (1_000 if args.small else 10_000)
    rclone = ensure_rclone()
    s3 = s3_server(args.size_mb, args.repeat)
    version = subprocess.run([rclone, "version"], capture_output=True, text=True).stdout
    base = f"assay-bench-{secrets.token_hex(4)}"
    print(
        f"# S3 bench: {args.size_mb} MiB in {args.files:,} files, {machine()}, "
        f"{version.splitlines()[0] if version else 'rclone'}"
    )
    try:
        with workdir(parent=args.tmpdir) as work:
            return run(args, work, s3, rclone, base)
    finally:
        stop_server()


def run(args: argparse.Namespace, work: Path, s3: dict[str, str], rclone: str, base: str) -> int:
    rng = random.Random(10)
    first_tree = work / "v1"
    paths = make_tree(first_tree, args.size_mb * MiB, args.files, rng)
    store = work / "store"
    env = {
        **{k: v for k, v in CHILD_ENV.items() if not k.startswith("AWS_")},
        "ASSAY_STORE": str(store),
        "AWS_ACCESS_KEY_ID": s3["ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": s3["SECRET_KEY"],
        "HOME": str(work / "home"),  # no ~/.aws, no ~/.config/rclone of the caller's
    }
    put1 = timed([*assay_argv(), "store", "put", "build", str(first_tree)], work, env)
    second_tree = work / "v2"
    subprocess.run(["cp", "-al", str(first_tree), str(second_tree)], check=True)
    changed = rebuild([second_tree / p.relative_to(first_tree) for p in paths], rng)
    put2 = timed([*assay_argv(), "store", "put", "build", str(second_tree)], work, env)
    server = urlsplit(s3["ENDPOINT"])
    host, port = server.hostname or "127.0.0.1", server.port or 80

    cpu: dict[str, list[float]] = {"assay": [], "rclone": []}

    def assay_push(ref: str, prefix: str, endpoint: str) -> float:
        url = f"s3://{s3['BUCKET']}/{base}/{prefix}"
        push_env = {**env, "AWS_ENDPOINT_URL_S3": endpoint}
        done = timed([*assay_argv(), "store", "push", "-q", url, ref], work, push_env)
        cpu["assay"].append(done.cpu)
        return done.seconds

    def rclone_run(verb: str, tree: Path, prefix: str, endpoint: str) -> float:
        rclone_env = {
            **env,
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "SeaweedFS",
            "RCLONE_CONFIG_BENCH_ENDPOINT": endpoint,
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": s3["ACCESS_KEY"],
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": s3["SECRET_KEY"],
            "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        }
        target = f"bench:{s3['BUCKET']}/{base}/{prefix}"
        done = timed([rclone, verb, f"{tree}/", target], work, rclone_env)
        cpu["rclone"].append(done.cpu)
        return done.seconds

    direct = s3["ENDPOINT"]
    first: dict[str, list[float]] = {"assay": [], "rclone": []}
    second: dict[str, list[float]] = {"assay": [], "rclone": []}
    wire: dict[str, list[int]] = {"assay": [], "rclone": []}
    first_cpu: dict[str, list[float]] = {"assay": [], "rclone": []}
    first_server: dict[str, list[float]] = {"assay": [], "rclone": []}
    with TcpRelay(host, port) as relay:
        counted = f"http://127.0.0.1:{relay.port}"
        for rep in range(args.repeat):
            pushes: list[tuple[str, Callable[[], float]]] = [
                ("assay", lambda r=rep: assay_push("build@1", f"a{r}", direct)),
                ("rclone", lambda r=rep: rclone_run("copy", first_tree, f"r{r}", direct)),
            ]
            for tool, push in pushes if rep % 2 == 0 else pushes[::-1]:
                serving = server_cpu()
                first[tool].append(push())
                first_server[tool].append(server_cpu() - serving)
                first_cpu[tool].append(cpu[tool][-1])
                note(
                    f"repetition {rep + 1}: first push, {tool}: {fmt_s(first[tool][-1])} "
                    f"(CPU {fmt_s(cpu[tool][-1])})"
                )
            pushes = [
                ("assay", lambda r=rep: assay_push("build@2", f"a{r}", counted)),
                ("rclone", lambda r=rep: rclone_run("sync", second_tree, f"r{r}", counted)),
            ]
            for tool, push in pushes if rep % 2 == 0 else pushes[::-1]:
                relay.take()
                second[tool].append(push())
                wire[tool].append(sum(relay.take()))
                note(
                    f"repetition {rep + 1}: second push, {tool}: {wire[tool][-1]:,} B, "
                    f"{fmt_s(second[tool][-1])}"
                )
            remove_prefix(s3, f"{base}/a{rep}/")
            remove_prefix(s3, f"{base}/r{rep}/")

    first_ratio = median([a / r for a, r in zip(first["assay"], first["rclone"], strict=True)])
    bytes_ratio = median([a / r for a, r in zip(wire["assay"], wire["rclone"], strict=True)])
    print_table(
        ["figure", "assay", "rclone", "ratio", "goal", "met"],
        [
            [
                "first push, time (rclone copy)",
                fmt_s(median(first["assay"])),
                fmt_s(median(first["rclone"])),
                f"{first_ratio:.2f}",
                "<= 1.3",
                met(first_ratio <= 1.3),
            ],
            [
                "second push (1% new), bytes on the wire (rclone sync)",
                f"{int(median(wire['assay'])):,}",
                f"{int(median(wire['rclone'])):,}",
                f"{bytes_ratio:.3f}",
                "<= 1.1",
                met(bytes_ratio <= 1.1),
            ],
        ],
    )
    print()
    print(f"changed content: {changed:,} bytes in {len(paths[::100])} files")
    print(
        f"assay store put: first version {fmt_s(put1.seconds)}, "
        f"after the rebuild {fmt_s(put2.seconds)}"
    )
    runs = (
        ("first push", first),
        ("first push, CPU time of the tool (not the server)", first_cpu),
        ("first push, CPU time of the server (SeaweedFS) meanwhile", first_server),
        ("second push (through the relay)", second),
    )
    for name, values in runs:
        for tool in ("assay", "rclone"):
            print(f"{name}, {tool}: {', '.join(fmt_s(v) for v in values[tool])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
