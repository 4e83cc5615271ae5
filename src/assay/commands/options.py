"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def where_options(func: F) -> F:
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
