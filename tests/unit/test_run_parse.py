"""The light reading of ``assay run`` and ``assay list`` (assay.commands.params): the same
declarations make the click commands (their help unchanged) and the light parser, which
either reads a command line exactly as click does or leaves it to click."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay.cli
from assay.commands.params import LIST, RUN, Param, parse

HELP = Path(__file__).parent / "help"
COMMANDS = {"run": RUN, "list": LIST}


def _click(name: str, args: list[str]) -> dict[str, Any] | None:
    """What click hands the command for ``args`` (None: click refuses them or answers
    them itself, as with --help)."""
    command = assay.cli.cli.commands[name]
    try:
        with open(os.devnull, "w") as sink, _stdout_to(sink):
            # (under the group's context, as the command line makes it: -h is help there)
            group = assay.cli.cli.make_context("assay", [name])
            ctx = command.make_context(name, list(args), parent=group)
    except (click.exceptions.Exit, click.ClickException):
        return None
    return dict(ctx.params)


class _stdout_to:
    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def __enter__(self) -> None:
        import sys

        self.real, sys.stdout = sys.stdout, self.sink

    def __exit__(self, *exc: object) -> None:
        import sys

        sys.stdout = self.real


TAKEN = [
    ["test.py"],
    ["tests/", "--plain"],
    ["--plain", "a.py", "b.py"],
    ["-n", "Foo", "--serial", "x.py"],
    ["x.py", "--max-jobs", "8"],
    ["x.py", "--max-jobs=8", "--grace", "0.5"],
    ["--repeat", "3", "-S", "n=1", "-S", "T.m=2", "x"],
    ["--report", "r.json", "--junit=j.xml", "x"],
    ["-c", "a.toml", "--system", "s", "--prefix", "p", "--store", "st", "x"],
    ["--case", "abc", "-P", "i=1", "-p", "local:*", "-e", "gnu", "-t", "a", "-T", "b", "-x", "x"],
    ["--resume"],
    ["--failed", "--exit-first", "--cancel-running", "--keep-stage", "--no-pack", "--full", "x"],
    ["--fail-on-regression", "--max-retries", "2", "--max-cases", "4", "--max-local", "2", "x"],
    ["--html", "h.html", "--grace", "3", "x"],
]

LEFT_TO_CLICK = [
    ["--max-jobs", "0", "x"],
    ["--max-jobs", "many", "x"],
    ["--max-jobs"],
    ["--bogus", "x"],
    ["--help"],
    ["x", "-h"],
    ["x", "--plain=yes"],
    ["-nFoo", "x"],
    ["--", "-x"],
    ["--grace", "-1", "x"],
    ["--grace", "nan", "x"],
    ["--serial", "--serial", "x"],
    ["--prefix", "a", "--prefix", "b", "x"],
    ["", "x"],
    ["-", "x"],
    ["--version"],
]


@pytest.mark.parametrize("args", TAKEN)
def test_common_run_command_lines_are_read_lightly_exactly_as_click_reads_them(args):
    light = parse(args, RUN)
    assert light is not None, args
    assert light == _click("run", args)


@pytest.mark.parametrize("args", LEFT_TO_CLICK)
def test_what_the_light_parser_is_not_sure_of_is_left_to_click(args):
    assert parse(args, RUN) is None


def test_list_is_read_lightly_as_click_reads_it():
    for args in (["x"], ["-v", "x"], ["--json", "-n", "a", "x"], ["x", "--verbose"]):
        light = parse(args, LIST)
        assert light is not None and light == _click("list", args), args


VOCABULARY = [
    *{d for p in RUN + LIST for d in p.decls},
    "x.py",
    "tests/",
    "3",
    "0",
    "-1",
    "1.5",
    "a=b",
    "",
    "-",
    "--",
    "--max-jobs=2",
    "--grace=0.25",
    "--plain=1",
    "-nfoo",
    "--help",
    "--bogus",
]


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(COMMANDS)), args=st.lists(st.sampled_from(VOCABULARY), max_size=8)
)
def test_any_command_line_is_read_as_click_reads_it_or_left_to_click(name, args):
    light = parse(args, COMMANDS[name])
    if light is not None:
        assert light == _click(name, args), args


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_of_run_and_list_is_what_it_was(name, capsys, monkeypatch):
    # (help/*.txt: the help before the declarations moved, at 100 columns)
    monkeypatch.setenv("COLUMNS", "100")
    assert assay.cli.main([name, "--help"]) == 0
    assert capsys.readouterr().out == (HELP / f"{name}.txt").read_text()


def test_every_declaration_is_a_param_of_its_click_command():
    for name, params in COMMANDS.items():
        command = assay.cli.cli.commands[name]
        assert [p.name for p in command.params] == [p.name for p in params], name
        assert all(isinstance(p, Param) for p in params)
