"""Shared helpers of the benchmarks: temp dirs, timed processes, medians, test files, tables.

Every figure is a wall time measured with ``time.perf_counter`` around a whole child
process (interpreter start included), repeated and summarised by the median.
"""

from __future__ import annotations

import os
import resource
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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(CHILD_ENV if env is None else env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode} in {cwd}\n"
            f"--- stdout (tail)\n{proc.stdout[-2000:]}\n--- stderr (tail)\n{proc.stderr[-2000:]}"
        )
    return Timed(seconds, cpu, proc.stdout, proc.stderr)


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
