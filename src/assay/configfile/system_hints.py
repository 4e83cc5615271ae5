"""The hints of "no system named ..." and "no system's hostnames match this host" where a
ReFrame habit is the likely cause: ``--system SYSTEM:PARTITION`` (ReFrame's form), and
hostnames written as ReFrame's regular expressions (``'.*'``, ``'login\\d+'``), which
assay reads as globs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping


def named(name: str, systems: Mapping[str, object]) -> str | None:
    """``a partition is chosen with -p: --system cluster -p cpu`` for ``cluster:cpu``."""
    head, colon, part = name.partition(":")
    if colon and head in systems:
        return f"a partition is chosen with -p: --system {head} -p {part}"
    return None


def unmatched(host: str, patterns: Iterable[str]) -> str:
    """What to do when no system's hostnames match ``host``: name a pattern that matches it
    only as ReFrame reads hostnames (a regular expression matched at the start)."""
    for pattern in patterns:
        try:
            regex = re.match(pattern, host) is not None
        except (re.error, OverflowError, RecursionError):
            regex = False
        if regex:
            return (
                "hostnames are glob patterns, not regular expressions as in ReFrame: "
                f"{pattern!r} matches this host only as a regular expression; write a glob "
                '("*" matches any host, "login*" the hosts whose names start so)'
            )
    return (
        'add a pattern to a system\'s hostnames ("*" matches any host) or choose one with --system'
    )
