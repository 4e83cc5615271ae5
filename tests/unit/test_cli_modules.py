"""The command line in modules of one job each (runs, results, the store), ``assay.cli``
only the group and the entry point: the same commands, options and help as before."""

from __future__ import annotations

from pathlib import Path

import click

import assay.cli

COMMANDS = {
    "run",
    "report",
    "list",
    "bless",
    "history",
    "compare",
    "fetch",
    "store",
    "config",
}
STORE = {"put", "ls", "show", "get", "tag", "gc", "verify", "push", "pull"}


def test_every_command_is_still_there_with_its_options() -> None:
    group = assay.cli.cli
    assert set(group.commands) >= COMMANDS
    store = group.commands["store"]
    assert isinstance(store, click.Group) and set(store.commands) >= STORE
    run_options = {o for p in group.commands["run"].params for o in getattr(p, "opts", [])}
    assert {"-n", "--case", "-S", "--repeat", "--plain", "--junit"} <= run_options
    list_options = {o for p in group.commands["list"].params for o in getattr(p, "opts", [])}
    assert {"-n", "--case", "-v", "--json"} <= list_options
    push = {o for p in store.commands["push"].params for o in getattr(p, "opts", [])}
    assert "--quiet" in push or "-q" in push


def test_the_cli_module_is_small_and_each_command_module_too() -> None:
    src = Path(assay.cli.__file__).parent
    files = [src / "cli.py", *sorted((src / "commands").glob("*.py"))]
    sizes = {f.name: len(f.read_text().splitlines()) for f in files}
    assert len(sizes) >= 4 and max(sizes.values()) <= 350, sizes
