"""The artifact store's goals, each a ratio measured in one run.

    .venv/bin/python bench/store.py [--size-mb 1024] [--files 10000] [--copies 100]

1. Put a synthetic build tree (SIZE, FILES files), then a second version where 1% of the
   files changed: bytes newly stored vs bytes changed (goal <= 1.05) and the second put's
   time vs the first's (goal <= 0.3).
2. Stage that tree into COPIES case directories (hard links) vs ``cp -r`` of it COPIES times
   (goal <= 0.05; ``cp -r`` runs a few times and is scaled to COPIES, so the bench does not
   need COPIES x SIZE of disk), and the disk space of the staged copies vs one copy
   (``du``, which counts a hard-linked file once; goal <= 1.05).
3. A file of 2 x SIZE with one 1 MiB region changed: bytes newly stored vs the region
   (goal <= 4).
4. Hash throughput through the store (``hash_file``) vs the blake3 library on the same
   bytes in memory (goal: within 2x).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from _common import fmt_s, machine, met, print_table, workdir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from assay.store import Store
from assay.store.objects import hash_file

MiB = 2**20


def make_tree(root: Path, size: int, files: int, rng: random.Random) -> list[Path]:
    """FILES files of SIZE/FILES bytes each, in 100 directories."""
    each = size // files
    paths = []
    for i in range(files):
        path = root / f"d{i % 100:02d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(each))
        paths.append(path)
    return paths


def timed(work: object) -> tuple[float, object]:
    os.sync()
    start = time.perf_counter()
    result = work()  # type: ignore[operator]
    return time.perf_counter() - start, result


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--cp-samples", type=int, default=3, help="cp -r runs to scale from")
    parser.add_argument("--tmpdir", type=Path, default=None)
    args = parser.parse_args()
    size = args.size_mb * MiB
    rng = random.Random(42)
    print(
        f"store benchmark: {args.size_mb} MiB in {args.files:,} files, {args.copies} copies; "
        f"{machine()}"
    )
    rows = []
    with workdir(parent=args.tmpdir) as base:
        store = Store(base / "store")
        tree_dir = base / "build"
        paths = make_tree(tree_dir, size, args.files, rng)

        # 1. incremental put
        first_time, _ = timed(lambda: store.put("build", tree_dir))
        changed = rng.sample(paths, max(1, len(paths) // 100))
        changed_bytes = 0
        for path in changed:
            data = bytearray(path.read_bytes())
            data[: len(data) // 2] = rng.randbytes(len(data) // 2)
            path.write_bytes(bytes(data))
            changed_bytes += len(data)
        second_time, second = timed(lambda: store.put("build", tree_dir))
        stored = second.imported.new_bytes  # type: ignore[attr-defined]
        ratio1 = stored / changed_bytes
        ratio2 = second_time / first_time
        rows.append(
            [
                "1 bytes stored by v2 / bytes changed",
                f"{stored / MiB:.1f} MiB",
                f"changed {changed_bytes / MiB:.1f} MiB",
                f"{ratio1:.3f}",
                "<= 1.05",
                met(ratio1 <= 1.05),
            ]
        )
        rows.append(
            [
                "1 time of put v2 / put v1",
                fmt_s(second_time),
                f"v1 {fmt_s(first_time)}",
                f"{ratio2:.3f}",
                "<= 0.3",
                met(ratio2 <= 0.3),
            ]
        )

        # 2. staging into many case dirs vs cp -r
        tree = second.version.tree  # type: ignore[attr-defined]
        stages = base / "stages"
        stages.mkdir()
        store.checkout(tree)  # not timed: staging hard-links objects that already exist
        stage_time, _ = timed(
            lambda: [store.stage(tree, stages / f"case{i:03d}") for i in range(args.copies)]
        )
        copies = base / "copies"
        copies.mkdir()
        cp_times = []
        for i in range(args.cp_samples):
            t, _ = timed(
                lambda i=i: subprocess.run(  # type: ignore[misc]
                    ["cp", "-r", str(tree_dir), str(copies / f"c{i}")], check=True
                )
            )
            cp_times.append(t)
        cp_total = sum(cp_times) / len(cp_times) * args.copies
        ratio3 = stage_time / cp_total
        rows.append(
            [
                f"2 stage into {args.copies} dirs / cp -r x{args.copies}",
                fmt_s(stage_time),
                f"cp {fmt_s(cp_total)} (from {args.cp_samples} runs)",
                f"{ratio3:.4f}",
                "<= 0.05",
                met(ratio3 <= 0.05),
            ]
        )
        space = du(stages)
        one = du(copies / "c0")
        ratio4 = space / one
        rows.append(
            [
                f"2 disk of {args.copies} staged dirs / one copy",
                f"{space / MiB:.1f} MiB",
                f"one copy {one / MiB:.1f} MiB",
                f"{ratio4:.3f}",
                "<= 1.05",
                met(ratio4 <= 1.05),
            ]
        )
        for folder in (stages, copies):
            subprocess.run(["rm", "-rf", str(folder)], check=True)

        # 3. a big file with one changed region
        big_dir = base / "big"
        big_dir.mkdir()
        big = big_dir / "data.bin"
        with open(big, "wb") as fh:
            for _ in range(2 * size // (64 * MiB)):
                fh.write(rng.randbytes(64 * MiB))
        store.put("bigfile", big_dir)
        with open(big, "r+b") as fh:
            fh.seek(big.stat().st_size // 3)
            fh.write(rng.randbytes(MiB))
        third = store.put("bigfile", big_dir)
        ratio5 = third.imported.new_bytes / MiB
        rows.append(
            [
                f"3 {2 * args.size_mb} MiB file, 1 MiB changed: stored / changed",
                f"{third.imported.new_bytes / MiB:.2f} MiB",
                "changed 1.00 MiB",
                f"{ratio5:.2f}",
                "<= 4",
                met(ratio5 <= 4),
            ]
        )

        # 4. hashing through the store vs the library
        import blake3

        data = big.read_bytes()
        lib_time, _ = timed(lambda: blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest())
        ours_time, _ = timed(lambda: hash_file(big))
        mb = len(data) / 1e6
        ratio6 = ours_time / lib_time
        rows.append(
            [
                "4 hash_file / blake3 in memory",
                f"{mb / ours_time:.0f} MB/s",
                f"library {mb / lib_time:.0f} MB/s",
                f"{ratio6:.2f}",
                "<= 2.0",
                met(ratio6 <= 2.0),
            ]
        )
    print_table(["figure", "measured", "baseline", "ratio", "goal", "met"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
