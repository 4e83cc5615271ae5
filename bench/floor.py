"""The floor of figures 1 and 2: the least an asyncio program can do for the same cases.

``python bench/floor.py ROOT COUNT JOBS [pidfd|asyncio]`` makes, for each of COUNT cases,
``ROOT/output/case-N/`` with a job script like assay's (``cd``, the builtin environment's
exports, ``echo hello``), runs it as ``/bin/bash SCRIPT`` in its own session with stdout and
stderr going to files, at most JOBS at once, and checks the stdout for ``hello``. It
prints the seconds it spent after its imports (so: no interpreter start, no imports).

How it waits for a process: ``pidfd`` (default) spawns with ``subprocess.Popen`` and waits
on a pidfd in the event loop, the cheapest way asyncio offers; ``asyncio`` uses
``asyncio.create_subprocess_exec``, whose default child watcher on Python 3.11 starts a
thread per process and is slower with several jobs at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """#!/bin/bash
# floor run: case {i}
cd {dir} || exit 97
export CC="cc"
export CXX="c++"
export FC="gfortran"
echo hello
"""


async def spawn_pidfd(script: Path, out: int, err: int) -> int:
    proc = subprocess.Popen(
        ["/bin/bash", str(script)],
        cwd=script.parent,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    os.close(out)
    os.close(err)
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    pidfd = os.pidfd_open(proc.pid)
    loop.add_reader(pidfd, exited.set_result, None)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return proc.wait()


async def spawn_asyncio(script: Path, out: int, err: int) -> int:
    proc = await asyncio.create_subprocess_exec(
        "/bin/bash",
        str(script),
        cwd=script.parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    os.close(out)
    os.close(err)
    return await proc.wait()


async def one(root: Path, i: int, slots: asyncio.Semaphore, mode: str) -> None:
    async with slots:
        case = root / "output" / f"case-{i}"
        case.mkdir()
        script = case / "assay-run.sh"
        script.write_text(SCRIPT.format(i=i, dir=case))
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        out = os.open(case / "assay-run.out", flags, 0o644)
        err = os.open(case / "assay-run.err", flags, 0o644)
        spawn = spawn_pidfd if mode == "pidfd" else spawn_asyncio
        code = await spawn(script, out, err)
        if code != 0 or not re.search(r"hello", (case / "assay-run.out").read_text()):
            raise SystemExit(f"floor: case {i} failed (exit code {code})")


async def main(root: Path, count: int, jobs: int, mode: str) -> None:
    (root / "output").mkdir(parents=True)
    slots = asyncio.Semaphore(jobs)
    await asyncio.gather(*(one(root, i, slots, mode) for i in range(count)))


if __name__ == "__main__":
    start = time.perf_counter()
    root_arg, count_arg, jobs_arg = sys.argv[1:4]
    mode_arg = sys.argv[4] if len(sys.argv) > 4 else "pidfd"
    if mode_arg not in ("pidfd", "asyncio"):
        raise SystemExit(f"floor: unknown mode {mode_arg!r} (pidfd or asyncio)")
    asyncio.run(main(Path(root_arg).absolute(), int(count_arg), int(jobs_arg), mode_arg))
    print(f"{time.perf_counter() - start:.6f}")
