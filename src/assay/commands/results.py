"""``assay report``, ``history``, ``compare`` and ``fetch``: the commands that read the
results of sessions already run."""

from __future__ import annotations

from pathlib import Path

import click

from assay import terminal
from assay.commands.options import where_options as _where_options


@click.command(name="report")
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


@click.command()
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


@click.command(name="compare")
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


@click.command()
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

    target, notes = fetching.fetch(Path(prefix), case_id, config)
    terminal.echo(f"fetched into {target}")
    for note in notes:
        terminal.echo(f"  note: {note}")
    return 0
