"""Actual outputs are read only inside the actual directory, never through a link out of it.

A job writes its outputs and may leave a symbolic link among them (``out.txt ->
/root/secret``). The engine runs in the job for remote cases, but for a local case in the
runner's own process (for a root run whose job dropped its capabilities: with privileges
the job lacked): following such a link, it would compare and show in the diff a file the
job could not read. A link that stays inside the directory is followed as before.
"""

from __future__ import annotations

import os
import stat


def inside(real: str, real_root: str) -> bool:
    """Whether the resolved path ``real`` is ``real_root`` or below it."""
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def leads_out(root: str, path: str) -> str | None:
    """Where ``path`` (below ``root``) really is when a symbolic link on its way leads
    out of ``root`` (chains of links followed), else None."""
    if _plain_below(root, path):
        return None
    real = os.path.realpath(path)
    return None if inside(real, os.path.realpath(root)) else real


def _plain_below(root: str, path: str) -> bool:
    """Whether ``path`` is ``root`` joined with names that are neither ``.``, ``..`` nor a
    symbolic link (each looked at with one ``lstat``): then it lies in ``root`` wherever
    ``root`` itself leads, without resolving both whole (two ``realpath`` walks, an
    ``lstat`` per directory from ``/``: a third of a small file's comparison). A name that
    is missing or a link, or anything else, leaves the answer to ``realpath``."""
    top = root.rstrip(os.sep)
    if not top or not path.startswith(top + os.sep):
        return False
    rest = path[len(top) + 1 :]
    names = rest.split(os.sep)
    if not rest or any(name in ("", ".", "..") for name in names):
        return False
    here = top
    for name in names:
        here = f"{here}{os.sep}{name}"
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return False
        except (OSError, ValueError):
            return False
    return True


def refused(side: str, path: str, real: str, root: str) -> str:
    """The failure of an output read through a link out of its directory."""
    return (
        f"{side} {path} leads through a symbolic link to {real}, outside {root}: not read "
        "(an output must be a file in that directory, or a link to one there)"
    )


def links_out(root: str) -> list[tuple[str, str]]:
    """The symbolic links under the directory ``root`` that lead out of it (each
    ``(path relative to root, where it leads)``), in walk order; links to directories are
    not entered."""
    real_root = os.path.realpath(root)
    found = []
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if not inside(real, real_root):
                    found.append((os.path.relpath(path, root).replace(os.sep, "/"), real))
    return found
