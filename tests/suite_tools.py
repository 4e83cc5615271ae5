"""A suite whose comparison command runs a script shipped with the suite (``[suite.compare]
tools``), in a directory whose name holds a blank and a quote: the local, Slurm and SSH
tests run it where their cases run."""

from __future__ import annotations

import shlex
from pathlib import Path

CMP = """\
#!/bin/sh
# The suite's own comparison: out.txt's number on both sides, as numbers ("1.0" is "1.00").
e=$(cat "$1/out.txt"); a=$(cat "$2/out.txt")
if [ "$(awk -v x="$e" 'BEGIN { print x + 0 }')" != "$(awk -v x="$a" 'BEGIN { print x + 0 }')" ]
then
    echo "out.txt: expected $e, got $a"
    exit 1
fi
# The directory is also the command's variable (for scripts that call each other).
[ -f "$ASSAY_COMPARE_TOOLS/cmp.sh" ] || { echo "no ASSAY_COMPARE_TOOLS"; exit 2; }
"""


def tools_suite(base: Path, *, elsewhere: bool = False) -> Path:
    """The suite's directory under ``base``: cases ``same`` (1.00 for 1.0: passes) and
    ``other`` (2 for 1.0: fails naming both). ``elsewhere``: the command also checks that
    ``{tools}`` is not this machine's directory (it was checked out on the job's host)."""
    suite = base / "su it's"
    (suite / "tools").mkdir(parents=True)
    (suite / "tools" / "cmp.sh").write_text(CMP)
    for case, value in (("same", "1.00"), ("other", "2")):
        (suite / "cases" / case / "expected").mkdir(parents=True)
        (suite / "cases" / case / "expected" / "out.txt").write_text("1.0\n")
        (suite / "cases" / case / "value").write_text(value + "\n")
    command = "sh {tools}/cmp.sh {expected} {actual}"
    if elsewhere:
        local = shlex.quote(str(suite / "tools"))
        command = f"test {{tools}} != {local} && {command}"
    (suite / "t.suite.toml").write_text(
        "[suite]\n"
        'name = "tl"\n'
        'cases = "cases/*"\n'
        'command = "cat value > out.txt"\n\n'
        "[suite.compare]\n"
        'tools = "tools"\n'
        f"command = {_toml(command)}\n"
    )
    return suite


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
