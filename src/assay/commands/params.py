"""The parameters of ``assay run`` and ``assay list``, declared once, and the light parser.

:mod:`assay.commands.runs` makes the click commands of these declarations (their help
included); :func:`parse` reads the command lines most runs are started with from the same
declarations without importing click (which, with the command groups, costs every run
about 15 ms before its first case). It reads a command line exactly as click would, or not
at all: whatever it is not sure of (``--help``, an unknown or repeated option, a value
click would refuse or convert otherwise, ``--``, a value attached to a short option) it
leaves to click, which reads it and says what is wrong as always. No click here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

_INT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


class Param:
    """One option (or the paths argument) of a command, as click is given it. (A plain
    class: a dataclass costs ten times as much to define, before every run's first case.)"""

    def __init__(
        self,
        name: str,  # the keyword the command function gets
        decls: tuple[str, ...] = (),  # "-n", "--name" (none: the PATHS argument)
        help: str = "",
        *,
        metavar: str | None = None,
        flag: bool = False,
        multiple: bool = False,
        kind: type = str,  # str, int (click.IntRange(low)) or float (click.FloatRange(low))
        low: float | None = None,  # the range's lower bound (int and float only)
        high: float | None = None,  # its upper bound
        default: Any = None,
        show_default: bool = False,
    ) -> None:
        self.name, self.decls, self.help, self.metavar = name, decls, help, metavar
        self.flag, self.multiple, self.kind, self.low = flag, multiple, kind, low
        self.high = high
        self.default, self.show_default = default, show_default

    def __repr__(self) -> str:
        return f"Param({self.name!r}, {self.decls!r})"

    @property
    def argument(self) -> bool:
        """The PATHS argument (any number of them)."""
        return not self.decls

    def missing(self) -> Any:
        """What the command gets when the command line does not give this parameter."""
        if self.argument or self.multiple:
            return ()
        return False if self.flag else self.default

    def convert(self, value: str) -> Any:
        """``value`` as click's type converts it, or None if it might not (click says)."""
        if self.kind is str:
            return value
        if self.kind is int and _INT.fullmatch(value):
            number: float = int(value)
        elif self.kind is float and _FLOAT.fullmatch(value):
            number = float(value)
        else:
            return None
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            return None  # (click says what the range is)
        return number


MAX_REPEAT = 10_000  # --repeat's most: samples enough for any statistic, and a bound on the plan

SELECTION: tuple[Param, ...] = (
    Param("paths"),
    Param(
        "config",
        ("-c", "--config"),
        "Config file (default: ./assay.toml, else the embedded default).",
        metavar="FILE",
    ),
    Param(
        "system",
        ("--system",),
        "Use this system of the config instead of matching the hostname.",
        metavar="NAME",
    ),
    Param(
        "names",
        ("-n", "--name"),
        "Only variants whose name matches (repeat for alternatives).",
        metavar="REGEX",
        multiple=True,
    ),
    Param(
        "exclude",
        ("-x", "--exclude"),
        "Leave out variants whose name matches.",
        metavar="REGEX",
        multiple=True,
    ),
    Param(
        "tags",
        ("-t", "--tag"),
        "Only tests with this tag (repeat: all must hold).",
        metavar="TAG",
        multiple=True,
    ),
    Param(
        "exclude_tags",
        ("-T", "--exclude-tag"),
        "Leave out tests with this tag.",
        metavar="TAG",
        multiple=True,
    ),
    Param(
        "params",
        ("-P", "--param"),
        "Only variants with this parameter value.",
        metavar="NAME=VALUE",
        multiple=True,
    ),
    Param(
        "partitions",
        ("-p", "--partition"),
        "Only these partitions (NAME or SYSTEM:NAME, globs allowed).",
        metavar="PATTERN",
        multiple=True,
    ),
    Param(
        "environments",
        ("-e", "--env"),
        "Only these environments (globs allowed).",
        metavar="PATTERN",
        multiple=True,
    ),
    Param(
        "ids",
        ("--case",),
        "Only the case with this id (or prefix), as shown by list and failure summaries.",
        metavar="ID",
        multiple=True,
    ),
    Param(
        "settings",
        ("-S", "--setting"),
        "Set a variable or field, e.g. -S n=100 or -S Stream.threads=4.",
        metavar="[TEST.]NAME=VALUE",
        multiple=True,
    ),
)

RUN: tuple[Param, ...] = (
    *SELECTION,
    Param(
        "max_retries",
        ("--max-retries",),
        "Run a failed case again up to N times.",
        kind=int,
        low=0,
        default=0,
        show_default=True,
    ),
    Param("serial", ("--serial",), "Run one case at a time.", flag=True),
    Param(
        "no_pack",
        ("--no-pack",),
        "Give every case a batch job of its own (no packing of short cases).",
        flag=True,
    ),
    Param(
        "failed",
        ("--failed",),
        "Only the cases that failed or were aborted last time.",
        flag=True,
    ),
    Param(
        "resume",
        ("--resume",),
        "Finish the newest session: keep its results, follow its jobs still queued or "
        "running, run the rest. Without PATHS: with the arguments it was started with.",
        flag=True,
    ),
    Param("keep_stage", ("--keep-stage",), "Keep the stage dirs of passed cases too.", flag=True),
    Param(
        "max_jobs",
        ("--max-jobs",),
        "Run at most N cases at once per partition (overrides the config).",
        kind=int,
        low=1,
    ),
    Param(
        "max_cases",
        ("--max-cases",),
        "Run at most N cases at once in all (across partitions) [default: no cap].",
        kind=int,
        low=1,
    ),
    Param(
        "exit_first",
        ("--exit-first",),
        "Start no more cases after the first failure; those running finish.",
        flag=True,
    ),
    Param(
        "cancel_running",
        ("--cancel-running",),
        "With --exit-first: also cancel the cases running at the first failure.",
        flag=True,
    ),
    Param(
        "max_local",
        ("--max-local",),
        "Run at most N builds at once on this machine [default: CPU count].",
        kind=int,
        low=1,
    ),
    Param(
        "prefix",
        ("--prefix",),
        "Where sessions (outputs, stage dirs, reports) go [default: .assay].",
        metavar="DIR",
    ),
    Param(
        "store",
        ("--store",),
        "The artifact store to use [default: see docs/store.md].",
        metavar="DIR",
    ),
    Param("report", ("--report",), "Also write the JSON run report to FILE.", metavar="FILE"),
    Param("junit", ("--junit",), "Write a JUnit XML report to FILE.", metavar="FILE"),
    Param(
        "html",
        ("--html",),
        "Write a self-contained HTML report with plots to FILE.",
        metavar="FILE",
    ),
    Param(
        "repeat",
        ("--repeat",),
        "Run each selected case N times, interleaved, to collect samples of its metrics.",
        kind=int,
        low=1,
        high=MAX_REPEAT,
        default=1,
        show_default=True,
    ),
    Param(
        "fail_on_regression",
        ("--fail-on-regression",),
        "Fail when a metric's newest values are significantly worse than its history.",
        flag=True,
    ),
    Param(
        "plain",
        ("--plain",),
        "One line per event instead of the live display.",
        flag=True,
    ),
    Param(
        "full",
        ("--full",),
        "Print every failure in full at the end (default: as much as fits the screen; "
        "the rest is in the session's summary.txt).",
        flag=True,
    ),
    Param(
        "grace",
        ("--grace",),
        "Seconds between SIGTERM and SIGKILL when stopping a case.",
        kind=float,
        low=0,
        default=2.0,
        show_default=True,
    ),
)

LIST: tuple[Param, ...] = (
    *SELECTION,
    Param(
        "verbose",
        ("-v", "--verbose"),
        "Show file, tags, parameters and dependencies.",
        flag=True,
    ),
    Param("as_json", ("--json",), "Print the cases as JSON.", flag=True),
)


def parse(args: Sequence[str], params: Sequence[Param]) -> dict[str, Any] | None:
    """The keywords click would call the command with for ``args`` (what follows the
    command's name), or None: click is to read them."""
    if "_ASSAY_COMPLETE" in os.environ:  # shell completion: click's to answer
        return None
    by_decl = {d: p for p in params for d in p.decls}
    given: dict[str, Any] = {}
    paths: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg or arg == "-" or arg == "--":
            return None
        if not arg.startswith("-"):
            paths.append(arg)
            continue
        decl, sep, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        param = by_decl.get(decl)
        if param is None or (param.name in given and not param.multiple):
            return None  # unknown (--help too), a cluster of short options, or repeated
        if param.flag:
            if sep:
                return None
            given[param.name] = True
            continue
        if sep:
            raw = attached
        elif i < len(args):
            raw, i = args[i], i + 1
        else:
            return None
        if not raw or raw.startswith("-"):
            return None
        value = param.convert(raw)
        if value is None:
            return None
        if param.multiple:
            given[param.name] = (*given.get(param.name, ()), value)
        else:
            given[param.name] = value
    out: dict[str, Any] = {}
    for param in params:
        if param.argument:
            out[param.name] = tuple(paths)
        else:
            out[param.name] = given.get(param.name, param.missing())
    if paths and not any(p.argument for p in params):
        return None
    return out
