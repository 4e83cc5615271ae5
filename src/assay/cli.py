"""Command-line parsing only: every command calls into the modules that do the work. The
commands are in :mod:`assay.commands` (runs, results, the store); here are the group, the
``config`` command and the entry point.

Exit codes: see :mod:`assay.commands.outcome` (0 everything passed, 1 some case failed, 2 a
usage or configuration error, 3 a bug in assay, 128+N interrupted by signal N).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from assay._version import __version__
from assay.commands import results, runs, store
from assay.commands.outcome import EXIT_INTERNAL, report_error

__all__ = ["EXIT_INTERNAL", "cli", "main", "report_error"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="assay")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (for reporting bugs).")
def cli(debug: bool) -> None:
    """Run regression and performance tests where they must run, and report what broke."""


for _command in (
    runs.run,
    runs.list_cases,
    runs.bless,
    results.report_cmd,
    results.history,
    results.compare_sessions,
    results.fetch,
    store.store,
):
    cli.add_command(_command)


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
    import json

    from assay.config import describe, load_config  # lazy: start-up time (config: 15 ms)

    loaded = load_config(config)
    name, _ = loaded.system(system)
    data = describe(loaded)
    data["selected_system"] = name
    click.echo(json.dumps(data, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assay`` command (after :func:`assay.entry.main`)."""
    from assay.entry import debug_first

    args = debug_first(list(sys.argv[1:] if argv is None else argv))
    try:
        code = cli.main(args=args, prog_name="assay", standalone_mode=False)
    except BaseException as exc:
        return report_error(exc, "--debug" in args)
    return int(code or 0)


if __name__ == "__main__":
    from assay.entry import main as entry

    sys.exit(entry())
