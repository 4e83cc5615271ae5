"""Run ``ssh`` and note the CPU time of it and of the command it runs on the far side.

    python3 bench/_cpu.py CPUFILE ssh [OPTIONS...] HOST COMMAND

The benchmark puts it in front of ``ssh`` for both tools it compares (assay's ``ASSAY_SSH``,
rsync's ``-e``), in a pass of its own (not timed), to say where the CPU of a push goes. The
remote command runs under ``/usr/bin/time`` there, which reports on stderr behind a marker;
this wrapper takes that line out of the stream and appends ``SSH_CPU REMOTE_CPU SELF_CPU``
(seconds of user + system time: the ssh client, the far side's command and everything it
waited for, this wrapper itself) to CPUFILE. The caller's own CPU is then the whole tree's
minus these (it waited for the wrapper, which waited for ssh).
"""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys
import threading

MARKER = b"ASSAY-BENCH-CPU "


def _filter(source: int, found: list[float]) -> None:
    """Copy the remote stderr to ours, keeping the marker's line out of it."""
    rest = b""
    with os.fdopen(source, "rb", buffering=0) as stream:
        while data := stream.read(65536):
            rest += data
            *lines, rest = rest.split(b"\n")
            for line in lines:
                if line.startswith(MARKER):
                    user, system = line[len(MARKER) :].split()
                    found.append(float(user) + float(system))
                else:
                    os.write(2, line + b"\n")
    if rest:
        os.write(2, rest)


_WITH_VALUE = set("BbcDEeFIiJLlmOoPpQRSWw")  # ssh's options that take an argument


def split_ssh(argv: list[str]) -> tuple[list[str], str]:
    """``ssh OPTIONS HOST WORDS...``: (everything up to the host, the remote command line,
    which ssh makes of the words joined by spaces)."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-"):
            break
        i += 2 if len(arg) == 2 and arg[1] in _WITH_VALUE else 1
    return argv[: i + 1], " ".join(argv[i + 1 :])


def main() -> int:
    cpu_file, argv = sys.argv[1], sys.argv[2:]
    ssh, command = split_ssh(argv)
    report = shlex.quote(MARKER.decode() + "%U %S")
    timed = f"/usr/bin/time -f {report} sh -c {shlex.quote(command)}"
    proc = subprocess.Popen([*ssh, timed], stderr=subprocess.PIPE)
    assert proc.stderr is not None
    found: list[float] = []
    reader = threading.Thread(target=_filter, args=(os.dup(proc.stderr.fileno()), found))
    proc.stderr.close()
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    reader.join()
    me = resource.getrusage(resource.RUSAGE_SELF)
    with open(cpu_file, "a") as fh:
        ssh = usage.ru_utime + usage.ru_stime
        fh.write(f"{ssh} {sum(found)} {me.ru_utime + me.ru_stime}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
