"""Where the ``assay`` command starts (the console script and ``python -m assay``).

``assay --version`` is answered here, from the standard library, before the command
line's machinery (click, the command groups, the config) is imported: that costs more
than the rest of the answer. Every other command line goes to :func:`assay.cli.main`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from assay._version import __version__

# The options of the group that take no value and do nothing of their own: click would
# process --version eagerly past them.
_QUIET_GROUP_OPTIONS = frozenset({"--debug"})


def answers_version(args: Sequence[str]) -> bool:
    """Whether click would answer ``args`` with the version and nothing else: ``--version``
    among the group's options before the command, with nothing there click answers first
    (``--help``) or refuses (an unknown option)."""
    for arg in args:
        if arg == "--version":
            return True
        if arg not in _QUIET_GROUP_OPTIONS:
            return False
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assay`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if answers_version(args):
        # click.version_option's message, word for word.
        sys.stdout.write(f"assay, version {__version__}\n")
        sys.stdout.flush()
        return 0
    from assay.cli import main as full  # the command line's machinery

    return full(args)
