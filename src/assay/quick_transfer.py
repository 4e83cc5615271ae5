"""The light path of ``assay store push|pull`` to an SSH store (taken by :mod:`assay.entry`).

A push to (or pull from) another host spends most of a small update waiting for ssh to
connect and for the agent to start there. The light path reads its own arguments (the same
options as :mod:`assay.commands.store`; anything else, ``--help`` included, goes to the full
command line), starts ssh and writes the agent's code and its hello into the pipe, and only
then imports the store, the transfer and the progress bar, and opens the local store: the
connection is made while this side loads. Errors are reported as the full command line
reports them (:func:`assay.commands.outcome.report_error`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.store.remote.opening import StartedSsh
    from assay.store.remote.targets import SshTarget

_VALUE_OPTIONS = {
    "--remote-store": "remote_root",
    "--ssh-config": "ssh_config",
    "-c": "config",
    "--config": "config",
}


@dataclass
class QuickTransfer:
    """``assay [--debug] store [--store DIR] push|pull TARGET REF [OPTIONS]``, read."""

    verb: str
    target: str
    ref: str
    store: str | None = None
    remote_root: str | None = None
    ssh_config: str | None = None
    config: str | None = None
    quiet: bool = False


def _value(args: list[str], i: int) -> tuple[str, int] | None:
    """The value of the option at ``args[i]`` (``--opt VALUE`` or ``--opt=VALUE``)."""
    arg = args[i]
    if "=" in arg and arg.startswith("--"):
        return arg.split("=", 1)[1], i + 1
    if i + 1 < len(args):
        return args[i + 1], i + 2
    return None


def parse_quick(args: Sequence[str]) -> QuickTransfer | None:
    """The transfer ``args`` ask for, if the light path can take it (else None: the full
    command line reads them, and says what is wrong with them)."""
    rest = list(args)
    while rest[:1] == ["--debug"]:  # the group's one option (before the command)
        rest = rest[1:]
    if rest[:1] != ["store"]:
        return None
    i, store = 1, None
    if i < len(rest) and (rest[i] == "--store" or rest[i].startswith("--store=")):
        found = _value(rest, i)
        if found is None:
            return None
        store, i = found
    if i >= len(rest) or rest[i] not in ("push", "pull"):
        return None
    verb, i = rest[i], i + 1
    options: dict[str, str] = {}
    quiet = False
    positional: list[str] = []
    while i < len(rest):
        arg = rest[i]
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if name in _VALUE_OPTIONS:
            found = _value(rest, i)
            if found is None:
                return None
            options[_VALUE_OPTIONS[name]], i = found
        elif arg in ("-q", "--quiet"):
            quiet, i = True, i + 1
        elif arg.startswith("-"):  # --help, an unknown option, "--": the full parser
            return None
        else:
            positional.append(arg)
            i += 1
    if len(positional) != 2 or positional[0].startswith("s3://"):
        return None  # object storage (boto3), or wrong usage: the full command line
    return QuickTransfer(verb, positional[0], positional[1], store, quiet=quiet, **options)


def run_quick(quick: QuickTransfer) -> int:
    """Run the transfer (the light path: see the module's docstring)."""
    import asyncio

    return asyncio.run(_transfer(quick))


async def _transfer(quick: QuickTransfer) -> int:
    import dataclasses

    from assay.store.remote.targets import parse_url

    started: StartedSsh | None = None
    target: SshTarget | None = None
    if quick.target.startswith("ssh://"):  # no config to read: start ssh first
        target = parse_url(quick.target)
        if quick.remote_root is not None:
            target = dataclasses.replace(target, root=quick.remote_root)
        if quick.ssh_config is not None:
            target = dataclasses.replace(target, config=quick.ssh_config)
        from assay.store.remote.opening import start_ssh

        started = await start_ssh(target, create=quick.verb == "push")
    try:
        return await _rest(quick, target, started)
    except BaseException:
        if started is not None:
            await started.stop()
        raise


async def _rest(quick: QuickTransfer, target: SshTarget | None, started: StartedSsh | None) -> int:
    from pathlib import Path

    from assay.store import Store, default_root, transfer_commands
    from assay.store.remote.targets import resolve_target
    from assay.transferbar import TransferBar

    if target is None:  # a host, an alias or a partition: as `assay store`
        import dataclasses

        from assay.config import load_config

        target = resolve_target(quick.target, load_config(quick.config), quick.remote_root)
        if quick.ssh_config is not None:
            target = dataclasses.replace(target, config=quick.ssh_config)
    store = Store(Path(quick.store) if quick.store else default_root())
    try:
        run = transfer_commands.push if quick.verb == "push" else transfer_commands.pull
        with TransferBar(f"{quick.verb} {quick.ref}") as bar:
            progress = None if quick.quiet else bar.update
            return await run(store, target, quick.ref, progress, started)
    finally:
        store.close()


def run(args: Sequence[str]) -> int | None:
    """Run ``args`` by the light path if it takes them (the exit code), else None."""
    quick = parse_quick(args)
    if quick is None:
        return None
    try:
        return run_quick(quick)
    except BaseException as exc:
        from assay.commands.outcome import report_error

        return report_error(exc, "--debug" in args)
