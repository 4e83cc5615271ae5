"""Run a command between this process's stdin/stdout and count the bytes each way.

    python3 bench/_relay.py COUNTFILE COMMAND [ARGS...]

The benchmark puts it in front of ``ssh`` for both tools it compares (assay's ``ASSAY_SSH``,
rsync's ``-e``), so that both are counted the same way: the bytes handed to ssh and received
from it (before encryption). Bytes move with plain ``read``/``write`` of up to 1 MiB:
``splice`` would save the copies, but rsync hands its remote shell a socket pair, and a
blocking ``splice`` from a unix socket stalled rsync's handshake. Only the counting passes go
through the relay; timed runs go without it. At exit it appends ``SENT RECEIVED`` to COUNTFILE.
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
            data = os.read(source, _CHUNK)
            if not data:
                break
            counts[index] += len(data)
            view = memoryview(data)
            while view:
                view = view[os.write(target, view) :]
    except OSError:  # the other side went away: stop counting this direction
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
