"""Run a command between this process's stdin/stdout and count the bytes each way.

    python3 bench/_relay.py COUNTFILE COMMAND [ARGS...]

The benchmark puts it in front of ``ssh`` for both tools it compares (assay's ``ASSAY_SSH``,
rsync's ``-e``), so that both are counted the same way: the bytes handed to ssh and received
from it (before encryption). Bytes move with ``splice`` between pipes (no copies through
Python), so the relay costs little. At exit it appends ``SENT RECEIVED`` to COUNTFILE.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

_CHUNK = 1 << 20


def _pump(source: int, target: int, counts: list[int], index: int) -> None:
    try:
        while True:
            try:
                moved = os.splice(source, target, _CHUNK)
            except OSError:
                data = os.read(source, _CHUNK)
                moved = len(data)
                view = memoryview(data)
                while view:
                    view = view[os.write(target, view) :]
            if not moved:
                break
            counts[index] += moved
    except (BrokenPipeError, OSError):
        pass
    finally:
        os.close(target)


def main() -> int:
    count_file, argv = sys.argv[1], sys.argv[2:]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    counts = [0, 0]
    up = threading.Thread(
        target=_pump, args=(0, os.dup(proc.stdin.fileno()), counts, 0), daemon=True
    )
    down = threading.Thread(
        target=_pump, args=(proc.stdout.fileno(), os.dup(1), counts, 1), daemon=True
    )
    proc.stdin.close()
    up.start()
    down.start()
    down.join()
    code = proc.wait()
    up.join(timeout=5)
    with open(count_file, "a") as fh:
        fh.write(f"{counts[0]} {counts[1]}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
