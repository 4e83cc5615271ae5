"""``assay store ...``: the store's command group (the bodies are :mod:`assay.store.commands`
and :mod:`assay.store.transfer_commands`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from assay.commands.options import where_options

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
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

    where = Path(root) if root else default_root()
    if where.exists() and not where.is_dir():  # (else an empty store, or a put's odd error)
        from assay.errors import UsageError

        raise UsageError(
            f"the store at {where} is not a directory",
            hint="give --store (or $ASSAY_STORE) a directory: a store's, or a new one",
        )
    ctx.obj = Store(where)
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
@where_options
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
    from assay.results import provenance  # lazy: start-up time (the results database)

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
