"""A suite reads only files inside its own directory (the suite file's), links resolved.

A suite file holds no code, so one from a third party is run as data: it must not be able
to make assay read, stage or show a file of the user's that lies elsewhere (``cases =
"../../.ssh/*"``, a case's ``expected/out.txt -> /etc/shadow``, whose first line a failing
comparison would print). What a suite names (its case directories, pairs' inputs and
expected files, a sweep's ``inputs`` and templates) is checked when it is loaded; the
links inside a case's directory (its ``expected/`` too) and a sweep point's expected
directory when the case is set up, since walking every case's tree at load would make
``assay list`` and a run of one case read them all. A link that stays inside the suite's
directory is followed as before (a golden file shared by several cases). Documented in
docs/suites.md ("What a suite may read").
"""

from __future__ import annotations

import collections
import functools
import os
from pathlib import Path

FIX = (
    "a suite reads only files inside its own directory; copy the file into the suite, or "
    "put the suite file in a directory that holds its cases"
)


@functools.lru_cache(maxsize=64)
def real_root(suite_dir: Path) -> str:
    """The suite's directory with every link resolved (one per suite, not one per case)."""
    return os.path.realpath(suite_dir)


def inside(real: str, root: str) -> bool:
    """Whether the resolved path ``real`` is the resolved directory ``root`` or below it."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def leads_out(path: Path, suite_dir: Path, parents: dict[str, str] | None = None) -> str | None:
    """Where ``path`` leads (links resolved, ``..`` too) when that is outside the suite's
    directory; None when it stays inside (or the name cannot even be resolved).
    ``parents``: the resolved directories of earlier paths of one look, by their names (a
    glob's matches share a few: one lstat each then, not one per part of the path)."""
    try:
        name = path.name
        if parents is not None and name not in ("", ".", "..") and not os.path.islink(path):
            folder = str(path.parent)
            real_folder = parents.get(folder)
            if real_folder is None:
                real_folder = parents[folder] = os.path.realpath(folder)
            real = os.path.join(real_folder, name)
        else:
            real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    return None if inside(real, real_root(suite_dir)) else real


def outside_message(what: str, path: Path | str, real: str, suite_dir: Path, more: str = "") -> str:
    """One message: the file, where it leads, the suite's directory and the fix."""
    shown = f"{path}" if str(path) == real else f"{path}, which leads to {real},"
    root = real_root(suite_dir)
    return f"{what} {shown} is outside the suite's directory {root}{more}: {FIX}"


def links_out(folder: Path, suite_dir: Path, follow: str | None = None) -> list[tuple[str, str]]:
    """The symbolic links below ``folder`` that lead out of the suite's directory, each as
    (its path relative to ``folder``, where it leads), in name order. Below ``follow`` (a
    path relative to ``folder``, "" for all of it: the expected outputs, which assay reads)
    a link to a directory inside is walked too (once: links may make cycles), since what
    is read through it (``expected/shared/x``) may be a link out; elsewhere links are
    staged as links, never read through by assay, and a large directory they lead to is
    not walked for each case. Only links cost more than the directory reads."""
    root = real_root(suite_dir)
    found: list[tuple[str, str]] = []  # (usually none: sorted only when there are)
    # Breadth first: a directory reached through several links is named by the shortest.
    queue = collections.deque([(str(folder), "")])
    walked: set[str] = set()  # the directories reached through links, resolved
    while queue:
        here, prefix = queue.popleft()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError:  # not a directory, gone, unreadable: staging says what is wrong
            continue
        for entry in entries:
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                rel = prefix + entry.name
                if not inside(real, root):
                    found.append((rel, real))
                elif _below(rel, follow) and real not in walked and os.path.isdir(real):
                    walked.add(real)
                    queue.append((real, rel + "/"))
            elif entry.is_dir(follow_symlinks=False):
                queue.append((entry.path, f"{prefix}{entry.name}/"))
    return sorted(found) if len(found) > 1 else found


def _below(rel: str, top: str | None) -> bool:
    """Whether ``rel`` is ``top`` or below it ("": everything; None: nothing)."""
    return top is not None and (top in ("", rel) or rel.startswith(top + "/"))


def refuse_links_out(
    folder: Path, suite_dir: Path, what: str, follow: str | None = None
) -> str | None:
    """The setup failure of a case whose ``folder`` (``what``: "case directory"...) holds a
    link out of the suite's directory, naming the first; None when it holds none.
    ``follow``: as for :func:`links_out`."""
    out = links_out(folder, suite_dir, follow)
    if not out:
        return None
    rel, real = out[0]
    more = f" (and {len(out) - 1} more such links)" if len(out) > 1 else ""
    link = folder / rel
    return (
        f"{what} {folder}: the symbolic link {link} leads to {real}, outside the suite's "
        f"directory {real_root(suite_dir)}{more}: not staged nor read; {FIX} (a link may "
        "lead anywhere inside the suite)"
    )


def tools_problem(tools: str, suite_dir: Path) -> str | None:
    """What is wrong with ``[suite.compare] tools`` (a directory of the suite that a
    comparison command names as ``{tools}``, staged to a remote host as it is): not a
    directory, outside the suite's directory, or holding a link out of it. None if
    nothing."""
    path = suite_dir / tools
    fix = 'give a directory of the suite, relative to the suite file: tools = "tools"'
    if os.path.isabs(tools):
        return f"{tools!r} is absolute; {fix}"
    real = leads_out(path, suite_dir)
    if real is not None:
        return outside_message("tools", path, real, suite_dir)
    if not path.is_dir():
        return f"{tools!r} is not a directory in {suite_dir}; {fix}"
    return refuse_links_out(path, suite_dir, "tools", follow="")
