"""The reference pages and the program agree: every option that ``--help`` shows (of
``assay`` and of each command and subcommand, asked of a real process) is documented, in
docs/cli.md or the page cli.md sends that command to, and every option docs/cli.md names
exists; every key of the configuration file is in docs/config.md (a Slurm or SSH key in
the page config.md sends it to)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec.inspect as mi

from assay.config import _File
from tests.conftest import ROOT, run_assay

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")

# The page cli.md sends each command to, besides itself.
PAGES = {
    "store": "store.md",
    "history": "history.md",
    "compare": "history.md",
    "report": "report.md",
    "bless": "suites.md",
}


def _page(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def _commands(help_text: str) -> list[str]:
    """The command names a group's ``--help`` lists."""
    _, _, listed = help_text.partition("\nCommands:\n")
    return [line.split()[0] for line in listed.splitlines() if re.match(r"  \S", line)]


def _options(help_text: str) -> set[str]:
    """The long options a ``--help`` lists (the first column of its option lines)."""
    found = set()
    for line in help_text.splitlines():
        if line.lstrip().startswith("-"):
            found.update(OPTION.findall(line.strip().split("  ")[0]))
    return found


def _help_options(tmp_path: Path) -> dict[tuple[str, ...], set[str]]:
    """Each command path's options, asked of ``assay ... --help``."""
    found: dict[tuple[str, ...], set[str]] = {}
    todo: list[tuple[str, ...]] = [()]
    while todo:
        words = todo.pop()
        shown = run_assay(*words, "--help", cwd=tmp_path)
        assert shown.code == 0, shown
        found[words] = _options(shown.stdout)
        todo += [(*words, name) for name in _commands(shown.stdout)]
    return found


def test_every_option_of_every_command_is_documented_and_every_documented_one_exists(
    tmp_path: Path,
) -> None:
    found = _help_options(tmp_path)
    assert {("run",), ("list",), ("store", "put")} <= set(found)  # the walk reached them
    cli = _page("cli.md")
    undocumented = {}
    for words, options in found.items():
        pages = cli + (_page(PAGES[words[0]]) if words and words[0] in PAGES else "")
        missing = sorted(o for o in options if not re.search(re.escape(o) + r"(?![\w-])", pages))
        if missing:
            undocumented[" ".join(words) or "assay"] = missing
    assert not undocumented, f"options missing from docs/cli.md and its pages: {undocumented}"
    every = set().union(*found.values())
    assert not set(OPTION.findall(cli)) - every, "docs/cli.md names options assay does not have"


def _config_keys() -> dict[str, list[str]]:
    """Every key of the configuration file: its name -> the dotted paths it has."""
    keys: dict[str, list[str]] = {}
    walked: set[type] = set()

    def walk(info: mi.Type, path: str) -> None:
        if isinstance(info, mi.StructType):
            if info.cls in walked:
                return
            walked.add(info.cls)
            for f in info.fields:
                keys.setdefault(f.encode_name, []).append(path + f.encode_name)
                walk(f.type, f"{path}{f.encode_name}.")
        elif isinstance(info, mi.DictType):
            walk(info.value_type, path + "*.")
        elif isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            walk(info.item_type, path)
        elif isinstance(info, mi.UnionType):
            for member in info.types:
                walk(member, path)

    walk(mi.type_info(_File), "")
    return keys


def test_every_configuration_key_is_documented() -> None:
    keys = _config_keys()
    assert {"systems", "partitions", "max_jobs", "slurm", "poll_min", "ssh"} <= set(keys)
    pages = {name: _page(name) for name in ("config.md", "slurm.md", "remote.md")}
    missing = []
    for name, paths in keys.items():
        for path in paths:
            table = path.split(".")[-2] if "." in path else ""
            page = {"slurm": "slurm.md", "ssh": "remote.md"}.get(table, "config.md")
            if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", pages[page]):
                missing.append(f"{path} (docs/{page})")
    assert not missing, f"configuration keys not documented: {missing}"
