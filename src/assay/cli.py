"""Command-line parsing only: every command calls into the modules that do the work.

Exit codes: 0 everything passed, 1 some case failed or a test file could not be
loaded, 2 a usage or configuration error, 3 a bug in assay itself, 128+N when
interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from assay._version import __version__
from assay.errors import AssayError, UsageError
from assay.guard import Interrupted

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INTERNAL = 3


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="assay")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (for reporting bugs).")
def cli(debug: bool) -> None:
    """Run regression and performance tests where they must run, and report what broke."""


@cli.command()
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
    from assay import session  # lazy: start-up time (the session: 125 ms)
    from assay.run.runner import RunOptions  # lazy: start-up time (with the session)
    from assay.ui import RerunHint, make_display  # lazy: start-up time (ui: 28 ms)

    if kw["resume"] and not kw["paths"]:
        original = session.resume_arguments(Path(kw["prefix"] or ".assay"))
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
    return session.run(request, display, hint)


@cli.command(name="report")
@click.argument("session", required=False)
@click.option("--html", metavar="FILE", required=True, help="Write the HTML report to FILE.")
@click.option(
    "--prefix", metavar="DIR", default=".assay", show_default=True, help="Where sessions are."
)
@click.option(
    "-c",
    "--config",
    metavar="FILE",
    help="Config file whose [detection] settings to use (default: ./assay.toml, else the "
    "embedded default).",
)
def report_cmd(session: str | None, html: str, prefix: str, config: str | None) -> int:
    """Write the report of SESSION (an id, a prefix of one, or a session directory; default:
    the newest) as a self-contained HTML file with plots."""
    from pathlib import Path

    from assay.config import load_config
    from assay.results import html as html_mod
    from assay.results.recorder import database_target

    loaded = load_config(config)
    system, _ = loaded.system(None)
    target = database_target(loaded, system, Path(prefix))
    return html_mod.command(Path(prefix), session, html, loaded.detection.settings(), target)


@cli.command(name="list")
@_selection_options
@click.option("-v", "--verbose", is_flag=True, help="Show file, tags, parameters and dependencies.")
@click.option("--json", "as_json", is_flag=True, help="Print the cases as JSON.")
def list_cases(verbose: bool, as_json: bool, **kw: Any) -> int:
    """List the cases PATHS would run, without running them."""
    from assay import listing, session  # lazy: start-up time (the session: 125 ms)

    prepared = session.prepare(_request(**kw))
    return listing.show(prepared, verbose=verbose, as_json=as_json)


@cli.command()
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


def _where_options(func: F) -> F:
    """Which results database: the config's system (its ``results``), else the prefix's."""
    options = [
        click.option(
            "-c",
            "--config",
            metavar="FILE",
            help="Config file (default: ./assay.toml, else the embedded default).",
        ),
        click.option("--system", metavar="NAME", help="Use this system of the config."),
        click.option(
            "--prefix",
            metavar="DIR",
            help="Where sessions are [default: the system's prefix, else .assay].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@click.option(
    "-n",
    "--name",
    "names",
    multiple=True,
    metavar="REGEX",
    help="Only cases whose variant matches.",
)
@click.option("-x", "--exclude", multiple=True, metavar="REGEX", help="Leave out these variants.")
@click.option(
    "-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Only this value."
)
@click.option("-p", "--partition", "partitions", multiple=True, metavar="PATTERN")
@click.option("-e", "--env", "environments", multiple=True, metavar="PATTERN")
@click.option("--case", "ids", multiple=True, metavar="ID", help="Only this case (id or prefix).")
@click.option(
    "-l",
    "--last",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Runs shown per case.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.option(
    "--import",
    "reimport",
    is_flag=True,
    help="Import every session directory under the prefix again (new ones are imported "
    "on their own), then stop.",
)
@_where_options
def history(
    names: tuple[str, ...],
    exclude: tuple[str, ...],
    params: tuple[str, ...],
    partitions: tuple[str, ...],
    environments: tuple[str, ...],
    ids: tuple[str, ...],
    last: int,
    as_json: bool,
    reimport: bool,
    config: str | None,
    system: str | None,
    prefix: str | None,
) -> int:
    """Show each recorded case's last verdicts, durations and metric values."""
    from assay.results import history as history_mod
    from assay.select import Selection

    selection = Selection(
        names=names,
        exclude=exclude,
        params=params,
        partitions=partitions,
        environments=environments,
        ids=ids,
    )
    return history_mod.run(selection, last, as_json, reimport, config, system, prefix)


@cli.command(name="compare")
@click.argument("first", metavar="[A]", required=False)
@click.argument("second", metavar="[B]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--all", "show_all", is_flag=True, help="Show every metric, not the 50 largest changes."
)
@_where_options
def compare_sessions(
    first: str | None,
    second: str | None,
    as_json: bool,
    show_all: bool,
    config: str | None,
    system: str | None,
    prefix: str | None,
) -> int:
    """Compare two recorded sessions (ids or their starts): new failures, fixed cases,
    cases that appeared or disappeared, metric changes. Default: the newest session
    against the newest earlier one that ran the same cases; with A alone, A against the
    newest."""
    from assay.results import sessions

    return sessions.run(first, second, as_json, show_all, config, system, prefix)


@cli.command()
@click.argument("case_id", metavar="CASE_ID")
@click.option(
    "--prefix", metavar="DIR", default=".assay", show_default=True, help="Where sessions are."
)
@click.option(
    "-c",
    "--config",
    metavar="FILE",
    help="Config file with the case's SSH partition (default: as `assay run` finds it).",
)
def fetch(case_id: str, prefix: str, config: str | None) -> int:
    """Bring the stage dir a case kept on a remote host into its local output dir."""
    from assay import fetching  # lazy: start-up time (asyncssh: ~100 ms)

    target = fetching.fetch(Path(prefix), case_id, config)
    click.echo(f"fetched into {target}")
    return 0


@cli.group()
@click.option(
    "--store",
    "root",
    metavar="DIR",
    help="The store [default: $ASSAY_STORE, else ./.assay/store beside an assay.toml, "
    "else the user data dir].",
)
@click.pass_context
def store(ctx: click.Context, root: str | None) -> None:
    """Put, list, fetch and clean up builds and reference data in the artifact store."""
    from assay.store import Store, default_root  # lazy: start-up time (the store: 60 ms)

    ctx.obj = Store(Path(root) if root else default_root())
    ctx.call_on_close(ctx.obj.close)  # ends the stat cache's write-ahead log, and any lease


@store.command(name="put")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "--overlay",
    "overlays",
    multiple=True,
    type=click.Path(exists=True),
    help="Lay this archive or directory over PATH (repeatable, in order).",
)
@click.option("-m", "--message", help="A note kept with the version.")
@click.option("--tag", "tags", multiple=True, help="Tag the new version.")
@click.pass_context
def store_put(
    ctx: click.Context,
    name: str,
    path: str,
    overlays: tuple[str, ...],
    message: str | None,
    tags: tuple[str, ...],
) -> int:
    """Store a directory or archive as a new version of NAME (nothing if unchanged)."""
    from assay.store import commands  # lazy: start-up time (the store: 60 ms)

    return commands.put(ctx.obj, name, Path(path), [Path(o) for o in overlays], message, tags)


@store.command(name="ls")
@click.argument("names", nargs=-1)
@click.pass_context
def store_ls(ctx: click.Context, names: tuple[str, ...]) -> int:
    """List names with their versions, sizes, unique bytes and tags (of the store in a
    bucket, with s3://BUCKET/PREFIX first)."""
    from assay.store import commands  # lazy: start-up time (the store: 60 ms)

    if names and names[0].startswith("s3://"):
        from assay.store import transfer_commands

        return transfer_commands.ls_s3(names[0], names[1:])
    return commands.ls(ctx.obj, names)


@store.command(name="show")
@click.argument("ref")
@click.option(
    "--diff", "against", metavar="REF", help="Compare with another version: @2, #tag or NAME@N."
)
@click.option("--files", is_flag=True, help="List every file.")
@click.pass_context
def store_show(ctx: click.Context, ref: str, against: str | None, files: bool) -> int:
    """Show a version (NAME, NAME@N, NAME#tag): provenance, and what changed."""
    from assay.store import commands  # lazy: start-up time (the store: 60 ms)

    return commands.show(ctx.obj, ref, against, files)


@store.command(name="get")
@click.argument("ref")
@click.argument("directory", type=click.Path())
@click.pass_context
def store_get(ctx: click.Context, ref: str, directory: str) -> int:
    """Write a version's files into DIRECTORY (ordinary, writable copies)."""
    from assay.store import commands  # lazy: start-up time (the store: 60 ms)

    return commands.get(ctx.obj, ref, Path(directory))


@store.command(name="tag")
@click.argument("ref")
@click.argument("tag")
@click.pass_context
def store_tag(ctx: click.Context, ref: str, tag: str) -> int:
    """Give a version a name: assay store tag solver-build@3 release-1.4."""
    from assay.store import commands  # lazy: start-up time (the store: 60 ms)

    return commands.tag(ctx.obj, ref, tag)


@store.command(name="gc")
@click.option(
    "--keep",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Versions kept per name (tagged ones are always kept).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.pass_context
def store_gc(ctx: click.Context, keep: int, dry_run: bool) -> int:
    """Remove old versions and every object no kept version uses."""
    from assay.store import commands  # lazy: start-up time (the store: 60 ms)

    return commands.gc(ctx.obj, keep, dry_run)


@store.command(name="verify")
@click.option(
    "--repair",
    is_flag=True,
    help="Remove corrupt objects and damaged checkouts (then put the damaged versions again).",
)
@click.option("--full", is_flag=True, help="List every damaged path (default: the first 20).")
@click.pass_context
def store_verify(ctx: click.Context, repair: bool, full: bool) -> int:
    """Re-hash every object, check every checkout; report all damage and the versions it
    breaks. Exit 0: no damage; 1: damage found; 2: the store cannot be used."""
    from assay.store import commands  # lazy: start-up time (the store: 60 ms)

    return commands.verify(ctx.obj, repair, full)


@store.command(name="why")
@click.argument("what", metavar="OBJECT|NAME@V")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@_where_options
@click.pass_context
def store_why(
    ctx: click.Context,
    what: str,
    as_json: bool,
    config: str | None,
    system: str | None,
    prefix: str | None,
) -> int:
    """Which recorded sessions (and cases) used a version (NAME@N, NAME#tag, NAME: its
    newest), or the versions holding an object (its hash, or a unique start of it)."""
    from assay.results import provenance

    return provenance.run(ctx.obj, what, as_json, config, system, prefix)


def _transfer_options(func: F) -> F:
    options = [
        click.argument("target"),
        click.argument("ref"),
        click.option(
            "--remote-store",
            "remote_root",
            metavar="DIR",
            help="The store's directory on the remote host [default: the path of an ssh:// "
            "TARGET, else ~/.local/share/assay/store there].",
        ),
        click.option(
            "--ssh-config",
            metavar="FILE",
            help="An ssh_config file to use instead of ~/.ssh/config.",
        ),
        click.option(
            "-c",
            "--config",
            metavar="FILE",
            help="Config file whose partitions TARGET may name [default: ./assay.toml].",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Draw no progress bar."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@store.command(name="push")
@_transfer_options
@click.pass_context
def store_push(
    ctx: click.Context,
    target: str,
    ref: str,
    remote_root: str | None,
    ssh_config: str | None,
    config: str | None,
    quiet: bool,
) -> int:
    """Send a version (NAME, NAME@N, NAME#tag) to the store on another host: only what it
    lacks travels, an interrupted push resumes. TARGET: ssh://[USER@]HOST[:PORT][/PATH], an
    ssh_config alias (or [USER@]HOST), a partition whose transport is SSH, or
    s3://BUCKET/PREFIX (credentials and endpoint as for every AWS tool)."""
    return _transfer(ctx, "push", target, ref, remote_root, ssh_config, config, quiet)


@store.command(name="pull")
@_transfer_options
@click.pass_context
def store_pull(
    ctx: click.Context,
    target: str,
    ref: str,
    remote_root: str | None,
    ssh_config: str | None,
    config: str | None,
    quiet: bool,
) -> int:
    """Bring a version (NAME, NAME@N, NAME#tag) of the store on another host into this
    store: only what this one lacks travels. TARGET as for push."""
    return _transfer(ctx, "pull", target, ref, remote_root, ssh_config, config, quiet)


def _transfer(
    ctx: click.Context,
    verb: str,
    target_text: str,
    ref: str,
    remote_root: str | None,
    ssh_config: str | None,
    config: str | None,
    quiet: bool,
) -> int:
    import asyncio  # lazy: start-up time (only transfers run an event loop here)
    import dataclasses

    from assay.config import load_config
    from assay.store import transfer_commands
    from assay.store.remote.targets import resolve_target
    from assay.transferbar import TransferBar

    if target_text.startswith("s3://"):  # object storage: credentials as every AWS tool
        s3_run = transfer_commands.push_s3 if verb == "push" else transfer_commands.pull_s3
        with TransferBar(f"{verb} {ref}") as bar:
            return asyncio.run(s3_run(ctx.obj, target_text, ref, None if quiet else bar.update))
    loaded = None if target_text.startswith("ssh://") else load_config(config)
    target = resolve_target(target_text, loaded, remote_root)
    if ssh_config is not None:
        target = dataclasses.replace(target, config=ssh_config)
    run = transfer_commands.push if verb == "push" else transfer_commands.pull
    with TransferBar(f"{verb} {ref}") as bar:
        progress = None if quiet else bar.update
        return asyncio.run(run(ctx.obj, target, ref, progress))


@cli.command(name="config")
@click.option(
    "-c",
    "--config",
    metavar="FILE",
    help="Config file (default: ./assay.toml, else the embedded default).",
)
@click.option(
    "--system", metavar="NAME", help="Show this system instead of the one matching this host."
)
def show_config(config: str | None, system: str | None) -> int:
    """Check the configuration and show the system this host would use."""
    from assay.config import describe, load_config  # lazy: start-up time (config: 15 ms)

    loaded = load_config(config)
    name, _ = loaded.system(system)
    data = describe(loaded)
    data["selected_system"] = name
    click.echo(json.dumps(data, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assay`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="assay", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        return 130
    except AssayError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"assay: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Interrupted as exc:  # a signal while a test file was imported
        return 128 + exc.signum
    except Exception:
        traceback.print_exc()
        click.echo(
            "assay: internal error: this is a bug in assay; please report it with the traceback "
            "above",
            err=True,
        )
        return EXIT_INTERNAL
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
