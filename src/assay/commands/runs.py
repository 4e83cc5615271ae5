"""``assay run``, ``assay list`` and ``assay bless``: the commands that load tests (and the
selection options they share)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from assay.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def _selection_options(func: F) -> F:
    options = [
        click.argument("paths", nargs=-1, type=click.Path()),
        click.option(
            "-c",
            "--config",
            metavar="FILE",
            help="Config file (default: ./assay.toml, else the embedded default).",
        ),
        click.option(
            "--system",
            metavar="NAME",
            help="Use this system of the config instead of matching the hostname.",
        ),
        click.option(
            "-n",
            "--name",
            "names",
            multiple=True,
            metavar="REGEX",
            help="Only variants whose name matches (repeat for alternatives).",
        ),
        click.option(
            "-x",
            "--exclude",
            "exclude",
            multiple=True,
            metavar="REGEX",
            help="Leave out variants whose name matches.",
        ),
        click.option(
            "-t",
            "--tag",
            "tags",
            multiple=True,
            metavar="TAG",
            help="Only tests with this tag (repeat: all must hold).",
        ),
        click.option(
            "-T",
            "--exclude-tag",
            "exclude_tags",
            multiple=True,
            metavar="TAG",
            help="Leave out tests with this tag.",
        ),
        click.option(
            "-P",
            "--param",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            help="Only variants with this parameter value.",
        ),
        click.option(
            "-p",
            "--partition",
            "partitions",
            multiple=True,
            metavar="PATTERN",
            help="Only these partitions (NAME or SYSTEM:NAME, globs allowed).",
        ),
        click.option(
            "-e",
            "--env",
            "environments",
            multiple=True,
            metavar="PATTERN",
            help="Only these environments (globs allowed).",
        ),
        click.option(
            "--case",
            "ids",
            multiple=True,
            metavar="ID",
            help="Only the case with this id (or prefix), as shown by list and failure summaries.",
        ),
        click.option(
            "-S",
            "--setting",
            "settings",
            multiple=True,
            metavar="[TEST.]NAME=VALUE",
            help="Set a variable or field, e.g. -S n=100 or -S Stream.threads=4.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _request(**kw: Any) -> Any:
    from assay.select import Selection  # lazy: start-up time (2 ms)
    from assay.session import Request  # lazy: start-up time (the session: 125 ms)

    selection = Selection(
        names=kw.pop("names"),
        exclude=kw.pop("exclude"),
        tags=kw.pop("tags"),
        exclude_tags=kw.pop("exclude_tags"),
        params=kw.pop("params"),
        partitions=kw.pop("partitions"),
        environments=kw.pop("environments"),
        ids=kw.pop("ids"),
    )
    return Request(selection=selection, **kw)


@click.command()
@_selection_options
@click.option(
    "--max-retries",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Run a failed case again up to N times.",
)
@click.option("--serial", is_flag=True, help="Run one case at a time.")
@click.option(
    "--no-pack",
    is_flag=True,
    help="Give every case a batch job of its own (no packing of short cases).",
)
@click.option(
    "--failed", is_flag=True, help="Only the cases that failed or were aborted last time."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Finish the newest session: keep its results, follow its jobs still queued or "
    "running, run the rest. Without PATHS: with the arguments it was started with.",
)
@click.option("--keep-stage", is_flag=True, help="Keep the stage dirs of passed cases too.")
@click.option(
    "--max-jobs",
    type=click.IntRange(1),
    help="Run at most N cases at once per partition (overrides the config).",
)
@click.option(
    "--max-cases",
    type=click.IntRange(1),
    help="Run at most N cases at once in all (across partitions) [default: no cap].",
)
@click.option(
    "--exit-first",
    is_flag=True,
    help="Start no more cases after the first failure; those running finish.",
)
@click.option(
    "--cancel-running",
    is_flag=True,
    help="With --exit-first: also cancel the cases running at the first failure.",
)
@click.option(
    "--max-local",
    type=click.IntRange(1),
    help="Run at most N builds at once on this machine [default: CPU count].",
)
@click.option(
    "--prefix",
    metavar="DIR",
    help="Where sessions (outputs, stage dirs, reports) go [default: .assay].",
)
@click.option(
    "--store", metavar="DIR", help="The artifact store to use [default: see docs/store.md]."
)
@click.option("--report", metavar="FILE", help="Also write the JSON run report to FILE.")
@click.option("--junit", metavar="FILE", help="Write a JUnit XML report to FILE.")
@click.option(
    "--html", metavar="FILE", help="Write a self-contained HTML report with plots to FILE."
)
@click.option(
    "--repeat",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Run each selected case N times, interleaved, to collect samples of its metrics.",
)
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Fail when a metric's newest values are significantly worse than its history.",
)
@click.option("--plain", is_flag=True, help="One line per event instead of the live display.")
@click.option(
    "--full",
    is_flag=True,
    help="Print every failure in full at the end (default: as much as fits the screen; "
    "the rest is in the session's summary.txt).",
)
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL when stopping a case.",
)
def run(**kw: Any) -> int:
    """Run the tests in PATHS (files or directories) and report the results."""
    cancel_alone = kw["cancel_running"] and not kw["exit_first"]
    # SSH hosts are connected to while the session's modules load and the tests are read.
    early = _early_hosts(kw) if kw["paths"] and not cancel_alone else None
    try:
        return _run(early, **kw)
    except BaseException:
        if early is not None:
            early.abandon()  # (once the session has it, it closes it itself)
        raise


def _run(early: Any, **kw: Any) -> int:
    from assay import session  # lazy: start-up time (the session: 125 ms)
    from assay.run.runner import RunOptions  # lazy: start-up time (with the session)
    from assay.ui import RerunHint, make_display  # lazy: start-up time (ui: 28 ms)

    if kw["resume"] and not kw["paths"]:
        original = session.resume_arguments(Path(kw["prefix"] or ".assay"))
        from assay.cli import main  # the whole command line again, as first given

        return main(["run", "--resume", *original[1:]])
    if kw["cancel_running"] and not kw["exit_first"]:
        raise UsageError(
            "--cancel-running without --exit-first: it says what the first failure does to "
            "the cases running then",
            hint="add --exit-first, or drop --cancel-running",
        )
    kw["options"] = RunOptions(
        max_retries=kw.pop("max_retries"),
        serial=kw.pop("serial"),
        keep_stage=kw.pop("keep_stage"),
        max_cases=kw.pop("max_cases"),
        exit_first=kw.pop("exit_first"),
        cancel_running=kw.pop("cancel_running"),
    )
    display = make_display(kw.pop("plain"), kw.pop("full"))
    request = _request(**kw)
    hint = RerunHint(request.config, request.system, request.settings, request.prefix)
    return session.run(request, display, hint, early)


def _early_hosts(kw: dict[str, Any]) -> Any:
    """The run's SSH hosts, connected to while it loads (:mod:`assay.transports.ssh_early`)."""
    from assay.select import Selection  # lazy: start-up time (2 ms)
    from assay.transports.ssh_early import early_hosts

    wanted = Selection(partitions=kw["partitions"])
    return early_hosts(kw["config"], kw["system"], wanted.partition_ok)


@click.command(name="list")
@_selection_options
@click.option("-v", "--verbose", is_flag=True, help="Show file, tags, parameters and dependencies.")
@click.option("--json", "as_json", is_flag=True, help="Print the cases as JSON.")
def list_cases(verbose: bool, as_json: bool, **kw: Any) -> int:
    """List the cases PATHS would run, without running them."""
    from assay import listing, session  # lazy: start-up time (the session: 125 ms)

    prepared = session.prepare(_request(**kw))
    return listing.show(prepared, verbose=verbose, as_json=as_json)


@click.command()
@click.option(
    "-n",
    "--name",
    "names",
    multiple=True,
    metavar="REGEX",
    help="Only variants whose name matches.",
)
@click.option(
    "--case", "ids", multiple=True, metavar="ID", help="Only the case with this id (or prefix)."
)
@click.option(
    "--passed",
    "include_passed",
    is_flag=True,
    help="Also bless cases that passed (take their actual values).",
)
@click.option(
    "--prefix", metavar="DIR", default=".assay", show_default=True, help="Where sessions are."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def bless(
    names: tuple[str, ...], ids: tuple[str, ...], include_passed: bool, prefix: str, yes: bool
) -> int:
    """Accept the actual outputs of the last session's differing cases as the new expected."""
    from assay import bless as bless_mod  # lazy: start-up time (7 ms)

    return bless_mod.run(Path(prefix), names, ids, include_passed, yes)
