"""A user's own comparison: a shell command that says equal by exiting 0."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

from .result import Result

if TYPE_CHECKING:
    from collections.abc import Mapping

TAIL_LINES = 20


def run_command(
    template: str, values: Mapping[str, str], cwd: str, timeout: float
) -> tuple[int | None, str]:
    """Exit status (None: timed out) and the last lines of stdout + stderr of a command.
    ``{tools}`` is left as written when ``values`` has no tools (the spec refused that)."""
    words = "expected|actual|file|tools" if "tools" in values else "expected|actual|file"
    command = re.sub(rf"\{{({words})\}}", lambda m: shlex.quote(values[m.group(1)]), template)
    env = None
    if "tools" in values:  # (also for a script the command runs, which no {tools} reaches)
        env = {**os.environ, "ASSAY_COMPARE_TOOLS": values["tools"]}
    # A group of its own, so a timeout kills whatever the command started; on Python 3.11+
    # (the runner's own) the group stays in the runner's session, where assay's reaper of
    # adopted orphans never takes a child that someone is still waiting for.
    group = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            **group,
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the shell and whatever it started
            except ProcessLookupError:
                pass
            proc.wait()
            code = None
        size = out.seek(0, os.SEEK_END)
        out.seek(max(0, size - 64 * 1024))
        lines = out.read().decode("utf-8", "replace").splitlines()
    return code, "\n".join(lines[-TAIL_LINES:])


def command_result(
    name: str,
    template: str,
    expected: str,
    actual: str,
    rel: str,
    limit: int,
    timeout: float,
    tools: str | None = None,
) -> Result:
    res = Result(name, "command", limit, counts="")
    cwd = actual if os.path.isdir(actual) else os.path.dirname(actual) or "."
    values = {"expected": expected, "actual": actual, "file": rel}
    if tools is not None:
        values["tools"] = tools
    try:
        code, tail = run_command(template, values, cwd, timeout)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command
        res.fail(f"cannot run {template!r}: {exc}")
        return res
    if code == 0:
        return res
    what = f"timed out after {timeout:g} s" if code is None else f"exited {code}"
    last = tail.strip().split("\n")[-1] if tail.strip() else ""
    res.fail(f"command {what}: {template}\n{tail}".rstrip(), f"command {what}: {last}".rstrip())
    return res
