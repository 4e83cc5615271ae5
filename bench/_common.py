"""Shared helpers of the benchmarks: temp dirs, timed processes, medians, test files, tables.

Every figure is a wall time measured with ``time.perf_counter`` around a whole child
process (interpreter start included), repeated and summarised by the median.
"""

from __future__ import annotations

import os
import random
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
# Floors start the interpreter itself, by its real path: not through a venv (whose site
# packages, editable-install hooks included, a floor does not need) and never through a
# version manager's shim (pyenv's adds ~30 ms to every start). And with -S: a floor needs only
# the standard library, and the base interpreter's own site-packages run whatever .pth files
# a machine put there (this project's VM has one that imports certifi at every start: +30-45
# ms), which is no part of the floor's work.
FLOOR_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
FLOOR_ARGV = [FLOOR_PYTHON, "-S"]
# Children write bytecode caches as on a user's machine (this sandbox sets the variable, which
# would make every start compile whatever has no fresh cache yet).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def assay_argv() -> list[str]:
    """How a user starts assay: the console script next to this interpreter, else ``-m``."""
    script = Path(PYTHON).parent / "assay"
    return [str(script)] if script.exists() else [PYTHON, "-m", "assay"]


@contextmanager
def workdir(prefix: str = "assay-bench-", parent: Path | None = None) -> Iterator[Path]:
    """A temp dir in ``parent`` (default: the system's), removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Timed:
    seconds: float  # wall time, spawn to exit
    cpu: float  # user + system CPU of the process and every descendant it waited for
    stdout: str
    stderr: str
    peak_mib: float = 0.0  # peak RSS of the largest single process among them (MiB)


def timed(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> Timed:
    """Run ``argv`` to completion; its wall time from spawn to exit; fail loudly on non-zero.

    Dirty files of earlier steps are flushed first (``sync``, not timed), so that their
    writeback does not land on whichever measurement comes next.
    """
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(CHILD_ENV if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        try:
            # wait4: this child's own accounting (CPU and peak RSS of it and what it waited
            # for), not the running maximum over every child this bench ever had.
            _, status, usage = _wait4(proc.pid, timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode} in {cwd}\n"
            f"--- stdout (tail)\n{stdout[-2000:]}\n--- stderr (tail)\n{stderr[-2000:]}"
        )
    return Timed(seconds, cpu, stdout, stderr, usage.ru_maxrss / 1024)


def _wait4(pid: int, timeout: float) -> tuple[int, int, resource.struct_rusage]:
    """``os.wait4`` with a time bound: a pidfd says when the child exited (no polling)."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        raise subprocess.TimeoutExpired(str(pid), timeout)
    return os.wait4(pid, 0)


def interleaved(
    n: int, sides: Mapping[str, Callable[[], Timed]], warmup: bool = True
) -> dict[str, list[Timed]]:
    """``n`` repetitions of every side, one of each per repetition, the order rotated from
    one repetition to the next (so no side always runs right after the same other side);
    one unrecorded round first (page cache, bytecode caches)."""
    names = list(sides)
    if warmup:
        for name in names:
            sides[name]()
    results: dict[str, list[Timed]] = {name: [] for name in names}
    for k in range(n):
        shift = k % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(sides[name]())
    return results


def paired_ratio(a: Sequence[Timed], b: Sequence[Timed]) -> float:
    """The median of the per-repetition ratios a/b of wall times (pairs from one round)."""
    return median([x.seconds / y.seconds for x, y in zip(a, b, strict=True)])


def walls(values: Sequence[Timed]) -> list[float]:
    return [t.seconds for t in values]


def repeat(n: int, measure: Callable[[], float], warmup: bool = True) -> list[float]:
    """``n`` measurements after one discarded warm-up (page cache, .pyc files)."""
    if warmup:
        measure()
    return [measure() for _ in range(n)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fresh_dir(parent: Path, name: str) -> Path:
    """An empty dir ``parent/name`` (emptied if it exists): each repetition starts clean."""
    path = parent / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def write_assay_test(
    directory: Path, name: str, count: int, command: str, expect: str | None = None
) -> Path:
    """A test file with one ``assay.Test`` of ``count`` variants running ``command``."""
    directory.mkdir(parents=True, exist_ok=True)
    sanity = f"\n    def sanity(self, out):\n        out.expect(r{expect!r})\n" if expect else ""
    source = textwrap.dedent(
        f"""\
        import assay


        class {name}(assay.Test):
            i = assay.parameter(range({count}))
            command = {command!r}
        """
    )
    path = directory / f"test_{name.lower()}.py"
    path.write_text(source + sanity)
    return path


def python_start(cwd: Path) -> float:
    """Wall time of ``python -c pass`` with this interpreter: the floor of any Python CLI."""
    return timed([PYTHON, "-c", "pass"], cwd).seconds


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if abs(seconds) < 0.1 else f"{seconds:.3f} s"


def fmt_spread(values: Sequence[float]) -> str:
    return f"min {fmt_s(min(values))}, median {fmt_s(median(values))}, max {fmt_s(max(values))}"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain left-aligned table: readable in a terminal and in a CI log."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def machine() -> str:
    return f"{os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, {sys.platform}"


def met(ok: bool) -> str:
    """The "met" column of a result table."""
    return "yes" if ok else "NO"


# What one new file or directory costs on a disk in a normal phase: 20-60 us of CPU. This
# project's VM has minutes-long phases in which it costs 300-1,000 us in some directories
# of the same ext4 file system (and 50 in others); floors that mostly make files then slow
# down more than assay, and a ratio that falls then is the disk's, not the code's.
SLOW_FILE_US = 150.0


def file_cost(parent: Path, count: int = 200) -> float:
    """CPU seconds that making one new directory or file costs in a fresh dir in
    ``parent`` (where the cases run): context for the figures, not part of them."""
    root = Path(tempfile.mkdtemp(prefix="file-cost-", dir=parent))
    try:
        start = time.thread_time()
        for i in range(count):
            os.mkdir(root / f"d{i}")
            os.close(os.open(root / f"d{i}" / "f", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
        return (time.thread_time() - start) / (2 * count)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class FilePhase:
    """What a new file cost before and after a group of figures (see :func:`file_cost`)."""

    before: float
    after: float

    @property
    def slow(self) -> bool:
        return max(self.before, self.after) * 1e6 > SLOW_FILE_US

    def line(self) -> str:
        text = (
            f"a new file or directory cost {self.before * 1e6:.0f} us of CPU before these runs "
            f"and {self.after * 1e6:.0f} us after them"
        )
        if self.slow:
            text += (
                f" (over {SLOW_FILE_US:.0f}: a slow phase of this disk, in which the floors, "
                "mostly new files, slow down more than assay; a goal that reads as met is "
                "marked 'not judged': rerun in a normal phase, or with --tmpdir /dev/shm)"
            )
        return text


def judged(ok: bool, phase: FilePhase | None) -> str:
    """The "met" column of a figure that a slow disk phase favours: a goal met while new
    files were slow is not counted (one missed stays missed)."""
    if ok and phase is not None and phase.slow:
        return "not judged"
    return met(ok)


def make_tree(root: Path, size: int, files: int, rng: random.Random) -> list[Path]:
    """FILES files of SIZE/FILES bytes each, in 100 directories: a build to push or store."""
    each = size // files
    paths = []
    for i in range(files):
        path = root / f"d{i % 100:02d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(each))
        paths.append(path)
    return paths


def rebuild(paths: list[Path], rng: random.Random) -> int:
    """Replace 1% of the files with new content, as a rebuild writes them (new files)."""
    changed = 0
    for path in paths[::100]:
        size = path.stat().st_size
        path.unlink()
        path.write_bytes(rng.randbytes(size))
        changed += size
    return changed
